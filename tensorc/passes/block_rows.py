"""Row blocking of streaming reductions (LoopIR -> LoopIR, CPU schedules; `Schedule.row_block`).

A kernel of the shape the streaming lowering produces (W1 kernel sums, W2 argmin/argkmin, W3
logsumexp, ...):

    parallel for i in [lo, hi) { locals; reduce for j in [a, b) { body(i, j) }; epilogue(i) }

becomes, for a block of W rows:

    parallel for ib in [lo, hi) step W {
      locals[W]                                  # one accumulator per row of the block
      reduce for j in [a, b) {
        vector for l in [0, W) { let i = min(ib + l, hi - 1); body(i, j) }
      }
      vector for l in [0, W) { if ib + l < hi { let i = ib + l; epilogue(i) } }
    }

The W rows share every load of the j-th point (y[j, :], b[j, :] are read once per block instead of
once per row) and the innermost loop is the lane loop, so the backend vectorises across rows: the
accumulators (sum, running max, best value/index, k smallest) are independent per lane and need no
reassociation, which also vectorises reductions whose j-recurrence does not (argmin with index
ties, online logsumexp). Rows past `hi` in the last block compute on a clamped copy of row hi - 1
and store nothing, so the block needs no scalar tail.

Applies only when the reduction's bounds do not depend on i, its body stores nothing, and every loop
inside it has constant bounds (so the lane loop is innermost once those are unrolled); anything
else is left as it was.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir import loop_ir as L

WIDE_ROWS = 64  # rows per block when they are adjacent elements of the streamed loads
MAX_INNER = 64  # constant inner loops (d in 0:D, e in 0:E, the k slots of argkmin) up to this trip


# --- traversal helpers ----------------------------------------------------------------------------
def _expr_children(e: L.LExpr):
    if isinstance(e, (L.Load, L.LocalRead)):
        return e.index
    if isinstance(e, L.Call):
        return e.args
    return ()


def _expr_vars(e: L.LExpr, out: set[str]) -> set[str]:
    if isinstance(e, (L.Var, L.LocalRead)):
        out.add(e.name)
    for c in _expr_children(e):
        _expr_vars(c, out)
    return out


def _stmt_exprs(s: L.Stmt):
    if isinstance(s, L.Loop):
        return (s.start, s.stop)
    if isinstance(s, L.Let):
        return (s.value,)
    if isinstance(s, L.Local):
        return (*s.shape, s.init)
    if isinstance(s, (L.Assign, L.Store)):
        return (*s.index, s.value)
    if isinstance(s, L.If):
        return (s.cond,)
    return ()


def _stmt_children(s: L.Stmt):
    if isinstance(s, L.Loop):
        return s.body
    if isinstance(s, L.If):
        return (*s.then, *s.orelse)
    return ()


def _walk(stmts):
    for s in stmts:
        yield s
        yield from _walk(_stmt_children(s))


def _names(stmts) -> set[str]:
    out: set[str] = set()
    for s in _walk(stmts):
        if isinstance(s, L.Loop):
            out.add(s.var)
        elif isinstance(s, (L.Let, L.Local, L.Assign)):
            out.add(s.name)
        for e in _stmt_exprs(s):
            _expr_vars(e, out)
    return out


def _fresh(used: set[str], base: str) -> str:
    name, n = base, 1
    while name in used:
        name, n = f"{base}{n}", n + 1
    used.add(name)
    return name


# --- the rewrite into lanes -------------------------------------------------------------------------
class _Lanes:
    """Rewrites references to per-row names: locals get a trailing lane index (adjacent lanes are
    adjacent elements, so a vectorised lane loop loads and stores them whole: `acc[d][lane]`,
    not the stride-D `acc[lane][d]` of W1's d/dx), Lets become locals."""

    def __init__(self, lane: L.Var, arrays: set[str], lets: dict[str, str]):
        self.lane, self.arrays, self.lets = lane, arrays, lets  # lets: name -> dtype

    def expr(self, e: L.LExpr) -> L.LExpr:
        if isinstance(e, L.Var):
            if e.name in self.lets:
                return L.LocalRead(e.name, (self.lane,), e.dtype)
            return e
        if isinstance(e, L.LocalRead):
            idx = tuple(self.expr(i) for i in e.index)
            if e.name in self.arrays:
                idx = (*idx, self.lane)
            return L.LocalRead(e.name, idx, e.dtype)
        if isinstance(e, L.Load):
            return replace(e, index=tuple(self.expr(i) for i in e.index))
        if isinstance(e, L.Call):
            return replace(e, args=tuple(self.expr(a) for a in e.args))
        return e

    def stmt(self, s: L.Stmt) -> L.Stmt:
        x = self.expr
        if isinstance(s, L.Loop):
            return replace(s, start=x(s.start), stop=x(s.stop), body=self.block(s.body))
        if isinstance(s, L.Let):
            return replace(s, value=x(s.value))
        if isinstance(s, L.Local):
            return replace(s, shape=tuple(x(d) for d in s.shape), init=x(s.init))
        if isinstance(s, L.Assign):
            idx = tuple(x(i) for i in s.index)
            if s.name in self.arrays or s.name in self.lets:
                idx = (*idx, self.lane)
            return replace(s, index=idx, value=x(s.value))
        if isinstance(s, L.Store):
            return replace(s, index=tuple(x(i) for i in s.index), value=x(s.value))
        if isinstance(s, L.If):
            return replace(s, cond=x(s.cond), then=self.block(s.then), orelse=self.block(s.orelse))
        raise AssertionError(f"row blocking cannot rewrite {s!r}")

    def block(self, stmts) -> tuple:
        return tuple(self.stmt(s) for s in stmts)


def _contiguous_rows(s: L.Stmt, i: str) -> bool:
    """Whether the loop `s` loads a buffer whose innermost index is the row `i` itself (a column
    sum `sum(i: p(i, j))` blocked over j): W rows are then W adjacent elements."""
    for t in _walk((s,)):
        for e in _stmt_exprs(t):
            for x in _loads(e):
                if x.index and x.index[-1] == L.Var(i):
                    return True
    return False


def _loads(e: L.LExpr):
    if isinstance(e, L.Load):
        yield e
    for c in _expr_children(e):
        yield from _loads(c)


def _zero(dtype: str) -> L.Const:
    if dtype == "bool":
        return L.Const(False, dtype)
    if dtype.startswith(("float", "bfloat")):
        return L.Const(0.0, dtype)
    return L.Const(0, dtype)


def _streamable(s: L.Stmt, row_names: set[str]) -> bool:
    """A reduce loop whose bounds are row-independent, that stores nothing and whose inner loops
    all have small constant bounds."""
    if not (isinstance(s, L.Loop) and s.kind == "reduce" and s.step == 1):
        return False
    if (_expr_vars(s.start, set()) | _expr_vars(s.stop, set())) & row_names:
        return False
    for t in _walk(s.body):
        if isinstance(t, (L.Store, L.Gemm)):
            return False
        if isinstance(t, L.Loop):
            if not (isinstance(t.start, L.Const) and isinstance(t.stop, L.Const)):
                return False
            if t.stop.value - t.start.value > MAX_INNER:
                return False
    return True


def block_rows(body: tuple[L.Stmt, ...], width: int) -> tuple[tuple[L.Stmt, ...], bool]:
    """Row-block the kernel `body` by `width` rows (see the module docstring); (body, changed)."""
    if width <= 1:
        return body, False
    loops = [k for k, s in enumerate(body) if isinstance(s, L.Loop)]
    if len(loops) != 1 or any(not isinstance(s, (L.Let, L.Local, L.Loop)) for s in body):
        return body, False
    par: L.Loop = body[loops[0]]
    if par.kind != "parallel" or par.step != 1 or any(isinstance(t, L.Gemm) for t in _walk(par.body)):
        return body, False
    i = par.var
    # names bound per row at the top of the row body: they become lane arrays
    arrays = {s.name for s in par.body if isinstance(s, L.Local)}
    lets = {s.name: s.value.dtype for s in par.body if isinstance(s, L.Let)}
    row_names = {i} | arrays | set(lets)
    for s in par.body:
        if isinstance(s, L.Local) and any(_expr_vars(e, set()) & row_names for e in (*s.shape, s.init)):
            return body, False
    if not any(_streamable(s, row_names) for s in par.body):
        return body, False

    wide = any(_contiguous_rows(t, i) for t in par.body if _streamable(t, row_names))
    width = max(width, WIDE_ROWS) if wide else width
    used = _names(body)
    ib, lane = _fresh(used, f"{i}_blk"), _fresh(used, "lane")
    lv, bv = L.Var(lane), L.Var(ib)
    W = L.Const(width, "int64")
    row = L.Call("add", (bv, lv), "int64")
    last = L.Call("sub", (par.stop, L.Const(1, "int64")), "int64")
    clamped = L.Let(i, L.Call("min", (row, last), "int64"))
    rw = _Lanes(lv, arrays, lets)

    def lanes(stmts, guard: bool) -> L.Loop:
        inner = rw.block(stmts)
        if guard:
            inner = (L.If(L.Call("lt", (row, par.stop), "bool"), (L.Let(i, row), *inner)),)
        else:
            inner = (clamped, *inner)
        return L.Loop(lane, L.Const(0, "int64"), W, inner, kind="vector")

    out: list[L.Stmt] = []
    for s in par.body:
        if isinstance(s, L.Local):
            out.append(replace(s, shape=(*s.shape, W)))
        elif isinstance(s, L.Let):
            out.append(L.Local(s.name, s.value.dtype, (W,), _zero(s.value.dtype)))
            out.append(lanes((L.Assign(s.name, (), s.value),), guard=False))
        elif _streamable(s, row_names) and wide:  # full blocks load W contiguous rows
            full = L.Call("le", (L.Call("add", (bv, W), "int64"), par.stop), "bool")
            fast = replace(s, body=(L.Loop(lane, L.Const(0, "int64"), W,
                                           (L.Let(i, row), *rw.block(s.body)), kind="vector"),))
            out.append(L.If(full, (fast,), (replace(s, body=(lanes(s.body, guard=False),)),)))
        elif _streamable(s, row_names):
            out.append(replace(s, body=(lanes(s.body, guard=False),)))
        else:
            has_store = any(isinstance(t, L.Store) for t in _walk((s,)))
            out.append(lanes((s,), guard=has_store))
    blocked = L.Loop(ib, par.start, par.stop, tuple(out), kind="parallel", step=width)
    return body[: loops[0]] + (blocked,) + body[loops[0] + 1:], True
