"""Gram-shaped statements: `out(i, j) = f(sum_d ...)` with the sum computed by Gemm tiles.

Two sums over one feature index `d` inside a statement writing the whole (i, j) output:
- `sum_d (x(i,d) - y(j,d))^2` (schedule.gram_rewrite) = |x_i|^2 + |y_j|^2 - 2 x_i.y_j: the row
  norms come from a small kernel first, the cross term from a Gemm with alpha = -2;
- `alpha * sum_d x(i,d) * x(j,d)`, symmetric in (i, j) (schedule.gemm and .symmetry): numpy's syrk.

Target "cpu": one kernel of tiles, the rest of the statement (the epilogue, e.g. `exp(-g * .)`)
applied to each tile in place right after its Gemm wrote it, while it is in L2, then the tile
copied out (`Copy`, streaming stores: the output is not read again here). When the statement is
symmetric in (i, j) only the tiles right of the diagonal are computed and mirrored:

    parallel for t in [0, ceil(nb / 2)):        # row blocks t and nb-1-t: equal work per t
      local S[BI][BJ + 16]                       # scratch tile; its row stride is no power of 2
      for ib in (t, nb-1-t):                     # (once when they coincide)
        serial for j0 in [i0, N) step BJ:        # i0 = ib * BI; from 0 when not symmetric
          gemm S = alpha * x[i0 : i0+BI, :] @ y[j0 : j0+BJ, :]^T
          S[r, c] = epilogue(S[r, c])            # sqdist: S + |x_i|^2 + |y_j|^2, clamped at 0
          copy out[i0 + r, j0 + c] = S[r, c]
          copy out[j0 + c, i0 + r] = S[r, c]     # only columns j below the row block
The mirror is a Copy to a transposed view: the cpu backend transposes 4x4 blocks of S in
registers and writes each output row a cache line at a time (backends/llvm/transpose.py).
Other targets: norms, one Gemm over the whole output, one epilogue pass (sqdist only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import walk
from tensorc.ir.types import compute_dtype
from tensorc.ir.verifier import size_value_of
from tensorc.schedule.contraction import emit_pair, gemm_like
from tensorc.schedule.lexpr import I64, bind, const, iadd, imax, imin, imul, isub, sym_to_lexpr
from tensorc.schedule.loop_nest import lower_nest
from tensorc.schedule.operands import (
    SqDist,
    View,
    find_sqdist,
    replace_node,
    same_extent,
    scalar_alpha,
    strides,
    with_temps,
)
from tensorc.schedule.symmetry import symmetric_pair

# Rows x columns of one tile: rows a multiple of the CPU micro-kernel's 6, a float32 tile
# (192 KB) plus the packed y panel (D x BJ) stay in the 512 KB L2 for the epilogue.
GRAM_BLOCK = (96, 512)


@dataclass
class Gram:
    """A recognised statement: out(i, j) = rest of the RHS with `reduce` -> its value at (i, j)."""

    reduce: T.Reduce
    x: T.Access  # x(i, d) (either index order)
    y: T.Access  # y(j, d)
    d: str
    sqdist: bool
    alpha: list[T.Expr]  # scalar factors of a plain product
    symmetric: bool


def _product(def_: T.Def, st: T.Statement) -> tuple[SqDist, list[T.Expr]] | None:
    """`sum_d x(i,d) * y(j,d)` (times scalars) as an `SqDist`-shaped hit, with the scalars."""
    lhs = set(st.indices)
    for r in walk(st.rhs):
        if not (isinstance(r, T.Reduce) and len(r.ranges) == 1):
            continue
        g = gemm_like(def_, r, lhs)
        if g is None or len(g.operands) != 2 or any(len(o.indices) != 2 for o in g.operands):
            continue
        d = r.ranges[0].index
        a, b = g.operands
        if T.Index(st.indices[0]) not in a.indices:
            a, b = b, a
        return SqDist(r, a, b, d, sympy.sympify(r.ranges[0].hi)), g.scalars
    return None


def _same_rows(x: T.Access, y: T.Access, d: str) -> bool:
    """y reads the same tensor as x with d in the same position (y(j, d) vs x(i, d))."""
    pos = [i.name for i in x.indices].index(d)
    return x.tensor == y.tensor and [i.name for i in y.indices].index(d) == pos


def match(pb, st: T.Statement) -> Gram | None:
    """The Gram roles of `st` under `pb.schedule`, or None."""
    def_, sched = pb.def_, pb.schedule
    if st.mask is not None or len(st.indices) != 2 or st.indices[0] == st.indices[1]:
        return None
    if any(not T.is_zero(rg.lo) for rg in st.domain):
        return None
    if any(isinstance(x, T.Access) and x.tensor == st.tensor for x in walk(st.rhs)):
        return None
    decl = def_.tensor(st.tensor)
    if not all(same_extent(rg.hi, d) for rg, d in zip(st.domain, decl.shape)):
        return None
    hit, alpha, sq = (find_sqdist(def_, st) if sched.gram_rewrite else None), [], True
    if hit is None and sched.gemm and sched.symmetry and sched.target == "cpu":
        got = _product(def_, st)
        if got is not None and _same_rows(got[0].x, got[0].y, got[0].d):
            (hit, alpha), sq = got, False
    if hit is None or not T.is_zero(hit.reduce.ranges[0].lo):
        return None
    if decl.dtype != hit.reduce.dtype:
        return None
    (xi,) = [i.name for i in hit.x.indices if i.name != hit.d]
    (yj,) = [i.name for i in hit.y.indices if i.name != hit.d]
    if [xi, yj] != list(st.indices):
        return None
    sym = (
        sched.symmetry and _same_rows(hit.x, hit.y, hit.d) and symmetric_pair(def_, st) is not None
    )
    if not sq and not sym:
        return None  # a plain non-symmetric product is an ordinary contraction
    return Gram(hit.reduce, hit.x, hit.y, hit.d, sq, alpha, sym)


def lower_gram(pb, k: int, st: T.Statement) -> bool:
    """Lower `st` as a Gram statement (see the module docstring); False if it is not one."""
    g = match(pb, st)
    if g is None:
        return False
    label = f"statement {k + 1} ({st.tensor})"
    norms = None
    if g.sqdist:
        nx = _norms(pb, g.x, g.d, label)
        ny = nx if _same_rows(g.x, g.y, g.d) else _norms(pb, g.y, g.d, label)
        norms = (nx, ny)
    if pb.schedule.target != "cpu" or g.reduce.dtype != compute_dtype(g.reduce.dtype):
        return _untiled(pb, st, g, norms, label)
    body = _Tiles(pb, st, g, norms).kernel()
    if body is None:
        return _untiled(pb, st, g, norms, label)
    bi, bj = GRAM_BLOCK
    what = "-2 x.y" if g.sqdist else "the product"
    notes = [f"{label}: {what} as Gemm tiles ({bi} x {bj}) with the epilogue applied per tile"]
    if g.sqdist:
        notes.append(f"{label}: |x|^2 + |y|^2 - 2 x.y rewrite (D large)")
    if g.symmetric:
        notes.append(f"{label}: symmetric in ({st.indices[0]}, {st.indices[1]}): only tiles right "
                     "of the diagonal are computed, then mirrored")  # fmt: skip
    pb.kernel(body, notes)
    return True


def _norms(pb, acc: T.Access, d: str, label: str) -> str:
    """A kernel writing |acc(r, :)|^2 into a new temp; returns its name."""
    def_ = pb.def_
    (r,) = [i.name for i in acc.indices if i.name != d]
    shape = def_.tensor(acc.tensor).shape
    pos = [i.name for i in acc.indices]
    rows, feats = shape[pos.index(r)], shape[pos.index(d)]
    dt = acc.dtype
    name = pb.add_temp(f"{acc.tensor}_sqnorm", dt, [rows])
    rhs = T.Reduce("sum", (T.Range(d, sympy.Integer(0), feats),), T.Call("mul", (acc, acc), dt),
                   None, dt)  # fmt: skip
    s = T.Statement(name, (r,), (T.Range(r, sympy.Integer(0), rows),), rhs)
    b, _ = lower_nest(with_temps(def_, pb), s, pb.schedule, pb.names(), pb.spec, [])
    pb.kernel(b, [f"{label}: row norms |{acc.tensor}|^2 for the Gram rewrite"])
    return name


def _distance(g: Gram, norms, at_i, at_j, cross: T.Expr) -> T.Expr:
    """|x_i|^2 + |y_j|^2 + cross, clamped at 0 (rounding can make it slightly negative)."""
    dt = g.reduce.dtype
    nx, ny = (T.Access(n, (a,), dt) for n, a in zip(norms, (at_i, at_j)))
    d2 = T.Call("add", (T.Call("add", (nx, ny), dt), cross), dt)
    zero = T.Const(0.0, dt)  # a select, not max: no NaN / signed-zero fix-ups in the vector loop
    return T.Call("select", (T.Call("lt", (d2, zero), "bool"), zero, d2), dt)


def _untiled(pb, st: T.Statement, g: Gram, norms, label: str) -> bool:
    """Norms, one Gemm of -2 x.y into the output, one epilogue pass (sqdist, any target)."""
    if not g.sqdist:
        return False
    def_ = pb.def_
    dt = g.reduce.dtype
    xi, yj = st.indices
    ext = {rg.index: sympy.sympify(rg.hi) for rg in st.domain}
    ext[g.d] = sympy.sympify(g.reduce.ranges[0].hi)
    xv, yv = (View(a.tensor, [i.name for i in a.indices], list(def_.tensor(a.tensor).shape))
              for a in (g.x, g.y))  # fmt: skip
    out = View(st.tensor, list(st.indices), list(def_.tensor(st.tensor).shape))
    t = compute_dtype(dt)
    body = emit_pair(pb, xv, yv, out, ext, L.Const(-2.0, t), False, t, pb.names())
    if body is None:
        return False
    pb.kernel(tuple(body), [f"{label}: cross term -2 x.y as a Gemm written into {st.tensor}"])
    own = T.Access(st.tensor, (T.Index(xi), T.Index(yj)), dt)
    d2 = _distance(g, norms, T.Index(xi), T.Index(yj), own)
    ep = replace(st, rhs=replace_node(st.rhs, g.reduce, d2))
    notes = [(f"{label}: |x|^2 + |y|^2 - 2 x.y rewrite (D large): epilogue fused into one pass "
              f"over {st.tensor}")]  # fmt: skip
    b, _ = lower_nest(with_temps(def_, pb), ep, replace(pb.schedule, symmetry=False), pb.names(),
                      pb.spec, notes)  # fmt: skip
    pb.kernel(b, notes)
    return True


class _Tiles:
    """Builds the tiled kernel body of one Gram statement (None where the epilogue has a form
    this lowering does not emit, e.g. a second reduction)."""

    def __init__(self, pb, st: T.Statement, g: Gram, norms):
        self.pb, self.st, self.g, self.norms = pb, st, g, norms
        self.fresh = pb.names()
        self.t = compute_dtype(g.reduce.dtype)
        self.ld = GRAM_BLOCK[1] + 16  # scratch row stride: not a power of two (cache sets)

    def size(self, e) -> L.LExpr:
        return sym_to_lexpr(e, self.pb.spec)

    def let(self, out: list, base: str, value: L.LExpr) -> L.LExpr:
        return bind(out, self.fresh, base, value)

    def operand(self, acc: T.Access, row: str, col: str, at: dict[str, L.LExpr]) -> L.Operand:
        """`acc` as a (row, col) matrix starting at index values `at` (others at 0)."""
        idx = [x.name for x in acc.indices]
        steps = dict(zip(idx, strides(self.pb.def_.tensor(acc.tensor).shape)))
        st = {n: self.size(s) for n, s in steps.items()}
        off = const(0)
        for n, v in at.items():
            off = iadd(off, imul(v, st[n]))
        return L.Operand(acc.tensor, off, (const(0), st[row], st[col]))

    def kernel(self) -> tuple[L.Stmt, ...] | None:
        g, t = self.g, self.t
        bi = GRAM_BLOCK[0]
        n_i, n_j = (self.size(rg.hi) for rg in self.st.domain)
        n_blocks = L.Call("floordiv", (iadd(n_i, const(bi - 1)), const(bi)), I64)
        tv = self.fresh("t")
        T_ = L.Var(tv)
        self.tile = self.fresh("S")
        body: list[L.Stmt] = [L.Local(self.tile, t, (const(bi), const(self.ld)), L.Const(0.0, t))]
        if g.symmetric:  # row blocks t and nb-1-t (the middle one once)
            hv = self.fresh("h")
            first = L.Call("eq", (L.Var(hv), const(0)), "bool")
            other = isub(isub(n_blocks, const(1)), T_)
            inner: list[L.Stmt] = []
            ib = self.let(inner, "ib", L.Call("select", (first, T_, other), I64))
            blk = self.row_block(ib, n_i, n_j)
            if blk is None:
                return None
            todo = L.Call("or", (first, L.Call("gt", (ib, T_), "bool")), "bool")
            inner.append(L.If(todo, tuple(blk)))
            body.append(L.Loop(hv, const(0), const(2), tuple(inner), kind="serial"))
            trips = L.Call("floordiv", (iadd(n_blocks, const(1)), const(2)), I64)
        else:
            blk = self.row_block(T_, n_i, n_j)
            if blk is None:
                return None
            body += blk
            trips = n_blocks
        return (L.Loop(tv, const(0), trips, tuple(body), kind="parallel"),)

    def row_block(self, ib: L.LExpr, n_i: L.LExpr, n_j: L.LExpr) -> list[L.Stmt] | None:
        """Statements for rows [ib*BI, ib*BI + BI): the tiles of the row block."""
        g, t = self.g, self.t
        bi, bj = GRAM_BLOCK
        xi, yj = self.st.indices
        out: list[L.Stmt] = []
        i0 = self.let(out, "i0", imul(ib, const(bi)))
        rows = self.let(out, "rows", isub(imin(iadd(i0, const(bi)), n_i), i0))
        j0v = self.fresh("j0")
        j0 = L.Var(j0v)
        tile: list[L.Stmt] = []
        cols = self.let(tile, "cols", isub(imin(iadd(j0, const(bj)), n_j), j0))
        tile.append(L.Gemm(
            c=self.scratch(const(0)),
            a=self.operand(g.x, xi, g.d, {xi: i0}), b=self.operand(g.y, g.d, yj, {yj: j0}),
            batch=const(1), m=rows, n=cols, k=self.size(g.reduce.ranges[0].hi),
            alpha=scalar_alpha(g.alpha, t) if not g.sqdist else L.Const(-2.0, t),
            accumulate=False, dtype=t,
        ))  # fmt: skip
        epi = self.epilogue(i0, j0, rows, cols)
        if epi is None:
            return None
        tile += epi
        out_ij = T.Access(self.st.tensor, (T.Index(xi), T.Index(yj)), t)
        dst = self.operand(out_ij, xi, yj, {xi: i0, yj: j0})
        tile.append(L.Copy(dst, self.scratch(const(0)), rows, cols, stream=True))
        if g.symmetric:  # out[j, i] = S[r, c] for the columns j below the row block
            lo = self.let(tile, "lo", imin(imax(isub(iadd(i0, rows), j0), const(0)), cols))
            dst = self.operand(out_ij, yj, xi, {xi: iadd(j0, lo), yj: i0})
            tile.append(L.Copy(dst, self.scratch(lo), rows, isub(cols, lo), stream=True))
        start = i0 if g.symmetric else const(0)
        out.append(L.Loop(j0v, start, n_j, tuple(tile), kind="serial", step=bj))
        return out

    def scratch(self, col: L.LExpr) -> L.Operand:
        """The tile S from column `col` on, as a Gemm / Copy operand."""
        return L.Operand(self.tile, col, (const(0), const(self.ld), const(1)), local=True)

    def epilogue(self, i0, j0, rows, cols) -> list[L.Stmt] | None:
        """S[r, c] = rest of the RHS at (i, j) with the Gemm's value S[r, c], in place (no
        statement when that is S[r, c] itself)."""
        g, st, t = self.g, self.st, self.t
        r, c = self.fresh("r"), self.fresh("c")
        R, C = L.Var(r), L.Var(c)
        row: list[L.Stmt] = []
        i = self.let(row, st.indices[0], iadd(i0, R))
        col: list[L.Stmt] = []
        j = self.let(col, st.indices[1], iadd(j0, C))
        hole = T.Access(self.tile, (), t)  # stands for S[r, c] in the TensorIR epilogue
        value = hole
        if g.sqdist:
            value = _distance(g, self.norms, T.Index(st.indices[0]), T.Index(st.indices[1]), hole)
        env = {st.indices[0]: i, st.indices[1]: j}
        own = L.LocalRead(self.tile, (R, C), t)
        v = _lexpr(replace_node(st.rhs, g.reduce, value), env, {hole: own}, self.pb.spec,
                   self.pb.def_)  # fmt: skip
        if v is None or v == own:
            return None if v is None else []
        col.append(L.Assign(self.tile, (R, C), v))
        row.append(L.Loop(c, const(0), cols, tuple(col), kind="vector"))
        return [L.Loop(r, const(0), rows, tuple(row), kind="serial")]


def _lexpr(e: T.Expr, env: dict[str, L.LExpr], holes: dict, spec, def_: T.Def) -> L.LExpr | None:
    """A reduction-free TensorIR expression as LoopIR with indices bound by `env` and the
    subexpressions `holes` replaced (None if it has another form)."""
    if e in holes:
        return holes[e]
    if isinstance(e, T.Reduce) and size_value_of(e) is not None:  # a size used as a value
        return sym_to_lexpr(T.size_symbol(size_value_of(e)), spec)
    if isinstance(e, T.Const):
        return L.Const(e.value, e.dtype)
    if isinstance(e, T.Index):
        return env.get(e.name)
    if isinstance(e, (T.Access, T.Call)):
        args = [_lexpr(a, env, holes, spec, def_) for a in (e.indices if isinstance(e, T.Access) else e.args)]
        if any(a is None for a in args):
            return None
        if isinstance(e, T.Call):
            return L.Call(e.fn, tuple(args), e.dtype)
        if not e.indices and def_.tensor(e.tensor).role == "input":
            return L.Var(e.tensor, e.dtype)
        return L.Load(e.tensor, tuple(args), e.dtype)
    return None
