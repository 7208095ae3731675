"""`explain(def_)`: the kernel plan of a def, in words a user can read.

Kernels and their loop nests (loop headers only), what was fused and why, every buffer with its
symbolic shape, FLOP and byte estimates (symbolic; numeric when sizes are given), the contraction
path of n-ary products, what was *not* fused (said plainly), and for masked attention-like
statements the number of (i, j) tiles visited against the total.
"""

from __future__ import annotations

import numpy as np
import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.loop_printer import format_buffer, format_expr, format_stmt
from tensorc.ir.tir_utils import conjuncts, free_indices, walk
from tensorc.ir.types import DTYPES

_ARITH = {"add", "sub", "mul", "div", "max", "min", "neg", "fma", "exp", "log", "sqrt", "exp2",
          "fmax", "fmin", "tanh", "pow", "rsqrt", "sigmoid", "erf", "abs"}  # fmt: skip
REPORT_TILE = 64  # tile edge used to count visited (i, j) tiles when the schedule has none


def _sym(e: L.LExpr):
    """A LoopIR integer expression as sympy (Min/Max kept)."""
    if isinstance(e, L.Var):
        return sympy.Symbol(e.name, integer=True, nonnegative=True)
    if isinstance(e, L.Const):
        return sympy.Integer(int(e.value)) if e.dtype.startswith("int") else sympy.Float(e.value)
    if isinstance(e, L.Call):
        a = [_sym(x) for x in e.args]
        f = {"add": lambda: a[0] + a[1], "sub": lambda: a[0] - a[1], "mul": lambda: a[0] * a[1],
             "max": lambda: sympy.Max(*a), "min": lambda: sympy.Min(*a),
             "floordiv": lambda: sympy.floor(a[0] / a[1]), "neg": lambda: -a[0],
             "mod": lambda: sympy.Mod(a[0], a[1]),
             "select": lambda: _Either(a[1], a[2])}.get(e.fn)  # fmt: skip
        if f is not None:
            return f()
    return sympy.Symbol("?")


def _ops(e: L.LExpr) -> int:
    if isinstance(e, L.Call):
        return (1 if e.fn in _ARITH else 0) + sum(_ops(a) for a in e.args)
    if isinstance(e, (L.Load, L.LocalRead)):
        return 0
    return 0


class _Either(sympy.Function):
    """`select(c, a, b)` for estimates: one of a and b (bounded by both)."""


def _extent(loop: L.Loop, bound: dict) -> sympy.Expr:
    """Trip count of `loop`, with block sizes and outer loop variables replaced by the ends of
    their ranges that give the larger count (a triangle `j <= i` counts at full range, a tile
    `[t, min(t + 64, N))` or a block `bm = min(i0 + 96, N) - i0` counts 64 or 96)."""
    ext = (_sym(loop.stop) - _sym(loop.start)) / loop.step
    outer = [s for s in ext.free_symbols if s.name in bound]
    if outer:
        top = _limit(_push_in(_clamps(ext, bound)), bound, upper=True)
        if top is not None:
            ext = top
        else:
            ends = [_at_end(ext, bound, k) for k in (0, 1)]
            probe = {s: 1000 for e in ends for s in e.free_symbols}
            ext = max(ends, key=lambda e: _probe(e, probe))
    ext = ext.replace(lambda x: isinstance(x, (sympy.Min, sympy.Max)), lambda x: x)
    if loop.step > 1:
        ext = sympy.ceiling(ext)
    return ext


def _clamps(e: sympy.Expr, bound: dict) -> sympy.Expr:
    """`e` with the let variables whose values involve a min or max (block ends and sizes,
    clamped bounds) replaced by those values, so `bm = i1 - i0` with `i1 = min(i0 + 96, N)` can
    cancel i0; other lets (block positions) stay variables."""
    sub = {}
    for x in e.free_symbols:
        value = bound.get(x.name)
        if isinstance(value, sympy.Basic):
            key = ("clamps", x.name)
            if key not in bound[None]:
                bound[None][key] = _clamps(value, bound)
            if bound[None][key].has(sympy.Min, sympy.Max):
                sub[x] = bound[None][key]
    return e.xreplace(sub) if sub else e


def _push_in(e: sympy.Expr) -> sympy.Expr:
    """`min(a, b) + c` -> `min(a + c, b + c)` (and for max, and positive factors), so a block
    size `min(i0 + 96, N) - i0` reads `min(96, N - i0)`."""
    if not e.args:
        return e
    if isinstance(e, (sympy.Min, sympy.Max)):
        return e.func(*(_push_in(a) for a in e.args), evaluate=False)
    e = e.func(*(_push_in(a) for a in e.args))
    if isinstance(e, (sympy.Add, sympy.Mul)):
        for a in e.args:
            if isinstance(a, (sympy.Min, sympy.Max)):
                rest = e.func(*(b for b in e.args if b is not a))
                if isinstance(e, sympy.Mul) and not (rest.is_number and rest > 0):
                    continue
                return a.func(*(_push_in(e.func(x, rest)) for x in a.args), evaluate=False)
    return e


def _limit(e: sympy.Expr, bound: dict, upper: bool) -> sympy.Expr | None:
    """An upper (or lower) bound of `e` over the enclosing loops and lets (`bound`: loop variable
    -> (first, last), let variable -> value) in sizes only, or None. A min is bounded above by
    any of its arguments, a max below."""
    if not any(x.name in bound for x in e.free_symbols):
        return e
    if e.is_Symbol:
        key = ("limit", e.name, upper)
        if key not in bound[None]:
            at = bound[e.name]
            at = at if isinstance(at, sympy.Basic) else at[1 if upper else 0]
            bound[None][key] = _limit(at, bound, upper)
        return bound[None][key]
    if isinstance(e, sympy.Add):
        parts = [_limit(a, bound, upper) for a in e.args]
        return None if None in parts else sympy.Add(*parts)
    if isinstance(e, sympy.Mul):
        c, rest = e.as_coeff_Mul()
        if c.is_number and c != 1 and not rest.is_number:
            part = _limit(rest, bound, upper if c > 0 else not upper)
            return None if part is None else c * part
        return None
    if isinstance(e, (sympy.Min, sympy.Max, _Either)):
        parts = [_limit(a, bound, upper) for a in e.args]
        if isinstance(e, sympy.Min if upper else sympy.Max):  # any argument bounds it: the
            parts = [x for x in parts if x is not None]  # tightest at a probe (sizes = 1000)
            probe = {x: 1000 for p in parts for x in p.free_symbols}
            pick = min if upper else max
            return pick(parts, key=lambda p: _probe(p, probe)) if parts else None
        if None in parts:
            return None
        if all(x.is_number for x in parts):
            return (max if upper else min)(parts)
        return (sympy.Max if upper else sympy.Min)(*parts, evaluate=False)
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        part = _limit(e.args[0], bound, upper)
        return None if part is None else e.func(part)
    if isinstance(e, sympy.Mod):
        return e.args[1] - 1 if upper else sympy.Integer(0)
    return None


def _at_end(ext: sympy.Expr, bound: dict, k: int) -> sympy.Expr:
    """`ext` with every outer loop variable at the start (k=0) or last value (k=1) of its range
    (a let variable at its value)."""
    for _ in range(8):  # outer bounds may mention loop or let variables further out
        free = [s for s in ext.free_symbols if str(s) in bound]
        if not free:
            break
        # E*(c+1)//C - E*c//C (a split-j chunk) reads E/C: an estimate needs no floors
        at = {s: bound[str(s)] for s in free}
        ext = ext.subs({s: v if isinstance(v, sympy.Basic) else v[k] for s, v in at.items()}).replace(
            lambda x: isinstance(x, sympy.floor), lambda x: x.args[0])
    return ext


def _probe(e: sympy.Expr, values: dict) -> float:
    try:
        return float(e.subs(values))
    except (TypeError, ValueError):
        return 0.0


def _flops(stmts, bound: dict, mult) -> sympy.Expr:
    """FLOPs of `stmts` run `mult` times; `bound`: enclosing loop variable -> (first, last) and
    integer let variable -> value (block sizes count at their largest)."""
    total = sympy.Integer(0)
    bound = {None: {}} | bound  # None: memo of `_clamps` / `_limit` (variable names are unique)
    for s in stmts:
        if isinstance(s, L.Loop):
            ext = _extent(s, bound)
            inner = dict(bound)
            inner[s.var] = (_sym(s.start), _sym(s.stop) - 1)
            total += _flops(s.body, inner, mult * ext)
        elif isinstance(s, (L.Let, L.Assign, L.Store)):
            total += mult * _ops(s.value)
            if isinstance(s, L.Let) and s.value.dtype.startswith("int"):
                bound[s.name] = _sym(s.value)
        elif isinstance(s, L.If):
            total += _flops(s.then, bound, mult) + _flops(s.orelse, bound, mult)
        elif isinstance(s, L.Gemm):
            dims = [_sym(d) for d in (s.batch, s.m, s.n, s.k)]
            dims = [_limit(_push_in(_clamps(d, bound)), bound, upper=True) or d for d in dims]
            total += mult * 2 * sympy.Mul(*dims)
    return total


def _clean(e: sympy.Expr) -> sympy.Expr:
    """Replace Min/Max by their first size-only argument (a readable upper bound)."""

    def pick(x):
        for a in x.args:
            if not any(str(s).endswith(("_t",)) for s in a.free_symbols):
                return a
        return x.args[0]

    e = e.replace(lambda x: isinstance(x, sympy.Min), pick)
    e = e.replace(lambda x: isinstance(x, sympy.Max), pick)
    return sympy.simplify(e)


def _outline(stmts, depth: int = 0, out=None, limit: int = 40) -> list[str]:
    out = [] if out is None else out
    pad = "    " + "  " * depth
    for s in stmts:
        if len(out) >= limit:
            out.append(pad + "...")
            return out
        if isinstance(s, L.Loop):
            step = f" step {s.step}" if s.step != 1 else ""
            out.append(f"{pad}{s.kind} for {s.var} in [{format_expr(s.start)}, {format_expr(s.stop)}){step}")
            _outline(s.body, depth + 1, out, limit)
        elif isinstance(s, (L.Gemm, L.Copy)):
            out.append(pad + format_stmt(s)[0].strip())
        elif isinstance(s, L.Local) and s.shape:
            shape = "".join(f"[{format_expr(d)}]" for d in s.shape)
            out.append(f"{pad}local {s.name}{shape}")
        elif isinstance(s, L.If):
            out.append(f"{pad}if {format_expr(s.cond)}")
            _outline(s.then, depth + 1, out, limit)
        elif isinstance(s, L.Store):
            out.append(f"{pad}store {s.buffer}")
    return out


def _numeric(e: sympy.Expr, sizes: dict | None):
    if not sizes:
        return None
    v = e.subs({s: sizes[str(s)] for s in e.free_symbols if str(s) in sizes})
    try:
        return int(v) if v.is_number else None
    except (TypeError, ValueError):
        return None


def _fmt_num(n: int) -> str:
    for unit, scale in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def _tiles_visited(def_: T.Def, sizes: dict, tiles: dict) -> list[str]:
    """For statements with an index-only mask between an LHS index and a reduction index."""
    out = []
    for st in def_.body:
        for r in (x for x in walk(st.rhs) if isinstance(x, T.Reduce)):
            if r.mask is None or len(r.ranges) != 1:
                continue
            j = r.ranges[0].index
            lhs = [i for i in st.indices if i in free_indices(r.mask)]
            if len(lhs) != 1 or any(isinstance(x, T.Access) and x.indices for x in walk(r.mask)):
                continue
            i = lhs[0]
            irng = next(g for g in st.domain if g.index == i)
            try:
                ni = int(sympy.sympify(irng.hi - irng.lo).subs(_subs(sizes)))
                nj = int(sympy.sympify(r.ranges[0].hi - r.ranges[0].lo).subs(_subs(sizes)))
            except (TypeError, ValueError):
                continue
            if ni * nj > 50_000_000:
                continue
            env = {i: np.arange(ni)[:, None], j: np.arange(nj)[None, :]}
            try:
                ok = np.ones((ni, nj), bool)
                for c in conjuncts(r.mask):
                    ok &= np.broadcast_to(_eval_mask(c, env, sizes), (ni, nj))
            except KeyError:
                continue
            ti, tj = tiles.get(i) or REPORT_TILE, tiles.get(j) or REPORT_TILE
            bi, bj = -(-ni // ti), -(-nj // tj)
            pad = np.zeros((bi * ti, bj * tj), bool)
            pad[:ni, :nj] = ok
            visited = int(pad.reshape(bi, ti, bj, tj).any(axis=(1, 3)).sum())
            out.append(
                f"  {st.tensor}: mask on ({i}, {j}) -> {visited} of {bi * bj} tiles of {ti}x{tj} visited "
                f"({100.0 * visited / (bi * bj):.1f}%); masked tiles are skipped by loop bounds"
            )
            break
    return out


def _subs(sizes):
    from tensorc.ir.tensor_ir import size_symbol

    return {size_symbol(k): v for k, v in sizes.items()}


def _eval_mask(e: T.Expr, env: dict, sizes: dict):
    from tensorc.ir.ops import OPS

    if isinstance(e, T.Index):
        return env[e.name]
    if isinstance(e, T.Const):
        return e.value
    if isinstance(e, T.Access) and not e.indices:
        return sizes[e.tensor]
    if isinstance(e, T.Call):
        return OPS[e.fn].numpy(*(_eval_mask(a, env, sizes) for a in e.args))
    raise KeyError(type(e).__name__)


def _triton_paths(prog) -> dict[str, str]:
    """Which Triton code path renders each kernel ("path: flash attention ..."), from the
    generated source's first line; rendering is pure Python (no GPU needed)."""
    from tensorc.errors import TensorcError

    try:
        from tensorc.backends.triton.render import render_kernel
        from tensorc.backends.triton.values import DEFAULT_CONFIG
    except ImportError:
        return {}
    out = {}
    for n, k in enumerate(prog.kernels):
        try:
            out[k.name] = render_kernel(prog, k, n, DEFAULT_CONFIG).path.removeprefix("# ")
        except TensorcError as err:
            out[k.name] = f"cannot render: {err.message}"
    return out


def _rewrites(trace: list[tuple[str, str, set]]) -> list[str]:
    """The `rewrites:` section: each pass that changed the def (normal form, inlining, ...),
    what it touched and, from its module's first docstring line, what it does."""
    import sys

    from tensorc.passes import PIPELINE

    doc = {p.__name__: (sys.modules[p.__module__].__doc__ or "").strip().splitlines()[0]
           for p in PIPELINE}  # fmt: skip
    out = ["rewrites:"]
    for name, what, _ in trace:
        out.append(f"  {name}: {what} ({doc.get(name, '').rstrip('.')})")
    return out if trace else out + ["  (none: the def is already in normal form)"]


def explain(def_: T.Def, target: str = "cpu", sizes: dict[str, int] | None = None) -> str:
    """The kernel plan of `def_` on `target` as text (sizes, if given, make the numbers concrete).

    Example:
        print(explain(parse_program(src).get("attention"), "cpu", {"N": 4096, "M": 4096}))
    """
    from tensorc.passes import run_pipeline
    from tensorc.passes.inline_temps import not_inlined
    from tensorc.schedule import default_schedule, lower

    trace: list[tuple[str, str, set]] = []
    after = run_pipeline(def_, sizes, trace)
    sched = default_schedule(after, target, sizes)
    prog = lower(after, sched)
    lines = [f"def {def_.name}: {len(prog.kernels)} kernel(s) for {target}"]
    if prog.static_sizes:
        lines.append("specialised sizes: " + ", ".join(f"{n}={v}" for n, v in prog.static_sizes))
    lines += _rewrites(trace)

    lines.append("fusion:")
    gone = [t.name for t in def_.temps if t.name not in {x.name for x in after.temps}]
    inlined = set().union(*(g for name, _, g in trace if name == "inline_temps"))
    for t in gone:
        how = "inlined into its readers" if t in inlined else "not read after the rewrites"
        lines.append(f"  temp {t} {how}: never stored")
    lines += ["  " + n.replace("; stored as", "; so it is stored as")
              for n in not_inlined(after, sizes, choice=True)]  # fmt: skip
    if len(after.body) < len(def_.body) - len(gone):
        lines.append(f"  {len(def_.body) - len(gone) - len(after.body)} pointwise update statement(s) fused into the statement before")
    notes = [n for n in prog.notes if "not" not in n]
    for n in dict.fromkeys(notes):
        if "path planned" in n or n.startswith("split-j:"):
            continue
        lines.append("  " + n)
    if len(lines) and lines[-1] == "fusion:":
        lines.append("  (nothing to fuse)")

    lines.append("buffers:")
    for b in (*prog.inputs, *prog.outputs, *prog.temps):
        text = "  " + format_buffer(b)
        if b.shape and sizes:
            n = _numeric(sympy.Mul(*b.shape), sizes)
            if n is not None:
                text += f"  ({_fmt_num(n * DTYPES[b.dtype].bits // 8)}B)"
        lines.append(text)

    lines.append("kernels:")
    total_flops = sympy.Integer(0)
    paths = _triton_paths(prog) if target == "gpu" else {}
    for k in prog.kernels:
        fl = _clean(_flops(k.body, {}, sympy.Integer(1)))
        total_flops += fl
        lines.append(f"  {k.name}: ~{fl} flops" + (f"  [triton {paths[k.name]}]" if k.name in paths else ""))
        lines += _outline(k.body)
    byts = sum(
        (sympy.Mul(*b.shape) * (DTYPES[b.dtype].bits // 8) for b in (*prog.inputs, *prog.outputs, *prog.temps) if b.role != "scalar"),
        sympy.Integer(0),
    )  # fmt: skip
    lines.append("cost:")
    fl_n, by_n = _numeric(total_flops, sizes), _numeric(sympy.sympify(byts), sizes)
    lines.append(f"  flops ~ {total_flops}" + (f" = {_fmt_num(fl_n)}" if fl_n is not None else "") + " (masked loops counted at full range)")
    lines.append(f"  bytes ~ {byts}" + (f" = {_fmt_num(by_n)}" if by_n is not None else "") + " (each buffer touched once)")

    split = [n.removeprefix("split-j: ") for n in prog.notes if n.startswith("split-j:")]
    if split:
        lines.append("split-j:")
        lines += ["  " + n for n in dict.fromkeys(split)]

    paths = [n for n in prog.notes if "path planned" in n]
    if paths:
        lines.append("contraction path:")
        for p in paths:
            lines += ["  " + x for x in p.split("\n")[1:]]

    if sizes:
        tiles = dict(sched.tiles)
        tl = _tiles_visited(after, sizes, tiles)
        if tl:
            lines.append("masked tiles:")
            lines += tl

    lines.append("not fused:")
    plain = not_inlined(after, sizes, choice=False) + [n for n in prog.notes if "not" in n]
    lines += ["  " + n for n in plain] or ["  (everything fused as planned)"]
    return "\n".join(lines) + "\n"
