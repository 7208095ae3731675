"""Lowering of one statement to a loop nest: the generic path and the streaming fast paths.

A statement `T(O..., I...) = rhs` becomes loops over its outer LHS indices O (outermost "parallel"),
then, at the innermost level, the RHS; `I` are *inner dims*: LHS indices that expensive parts of the
RHS do not depend on. Reductions that depend on inner dims accumulate into local arrays over them, so
W1's `exp(-|x_i - y_j|^2 / 2s^2)` is computed once per (i, j) and then folded into `acc[e]`.

Each `Reduce` is placed at the outermost loop level where all its free indices are bound (so an
invariant `logsumexp` is hoisted out of the loops that do not need it), gets accumulator locals from
`reduction_rules`, and a loop over its range whose bounds absorb the linear index-only parts of its
mask (`j <= i`, `abs(i - j) <= W` give `j in [max(0, i - W), min(M, i + W + 1))`); only what is left
becomes an `If`. `sum_j exp(a_j - logsumexp_j'(a_j')) * v_j` is lowered as one online-softmax pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tensor_ir import is_zero, size_symbol
from tensorc.ir.tir_utils import (
    alpha_key,
    conjoin,
    conjuncts,
    free_indices,
    index_sym,
    index_to_sympy,
    product_factors,
    substitute,
    walk,
)
from tensorc.ir.verifier import size_value_of
from tensorc.schedule import reduction_rules as rules
from tensorc.schedule.lexpr import I64, as_dtype, const, iadd, imax, imin, isub, lvars, sym_to_lexpr

EXPENSIVE = {
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "cbrt", "pow", "sin",
    "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "erf", "sigmoid",
    "softplus",
}  # fmt: skip


SMALL_INNER = 16  # reduction ranges of at most this constant extent are opened innermost


@dataclass(eq=False)
class Level:
    """One loop level under construction: statements appended in order, closed into a `Loop`."""

    parent: Level | None
    loop: tuple | None = None  # (var, start, stop, kind, step)
    stmts: list = field(default_factory=list)
    guards: list = field(default_factory=list)  # (position, cond): wrap stmts[position:] in If

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def is_ancestor_of(self, other: Level) -> bool:
        while other is not None:
            if other is self:
                return True
            other = other.parent
        return False

    def finish(self) -> tuple:
        stmts = list(self.stmts)
        for pos, cond in reversed(self.guards):
            stmts = stmts[:pos] + [L.If(cond, tuple(stmts[pos:]))]
        return tuple(stmts)


@dataclass
class Inner:
    var: str
    lo: L.LExpr
    hi: L.LExpr


class KernelNames:
    """Fresh names for one kernel, never colliding with buffers, sizes or each other."""

    def __init__(self, reserved: set[str]):
        self.used = set(reserved)

    def __call__(self, base: str) -> str:
        base = base.replace("'", "_")
        name, n = base, 1
        while name in self.used:
            name, n = f"{base}{n}", n + 1
        self.used.add(name)
        return name


def close(level: Level, upto: Level) -> None:
    """Close levels from `level` up to (not including) `upto`, appending each Loop to its parent."""
    while level is not upto:
        var, start, stop, kind, step = level.loop
        level.parent.stmts.append(L.Loop(var, start, stop, level.finish(), kind=kind, step=step))
        level = level.parent


def _same_ranges(a: T.Range, b: T.Range) -> bool:
    return is_zero(a.lo - b.lo) and is_zero(a.hi - b.hi)


class Nest:
    """Builds the loop nest of one statement (see the module docstring)."""

    def __init__(self, def_: T.Def, schedule, names: KernelNames, spec: dict[str, int], notes: list):
        self.def_ = def_
        self.schedule = schedule
        self.fresh = names
        self.spec = spec
        self.notes = notes
        self.env: dict[str, tuple[L.LExpr, Level | None]] = {}
        self.inner: dict[str, Inner] = {}
        self.memo: dict = {}
        self.tiles = dict(schedule.tiles)
        self.stats = {"online_softmax": 0, "mask_bounds": 0, "mask_if": 0, "hoisted": 0}
        self.split = None  # a `split.SplitJ` when the caller lets reductions split (lower.py)
        self.lhs_levels: dict[Level, T.Range | None] = {}  # statement loops (None: tile loops)
        self.floor: Level | None = None  # no reduction is placed above this level

    # --- sizes and bounds ----------------------------------------------------------------------
    def size(self, e) -> L.LExpr:
        return sym_to_lexpr(e, self.spec)

    def open_loop(self, parent: Level, index: str, lo, hi, kinds: tuple[str, str]) -> tuple[Level, str]:
        var = self.fresh(index)
        tile = int(self.tiles.get(index, 0))
        extent = isub(hi, lo)
        small = isinstance(extent, L.Const) and extent.value <= tile
        if tile > 1 and not small:
            tv = self.fresh(f"{index}_t")
            outer = Level(parent, (tv, lo, hi, kinds[0], tile))
            stop = imin(iadd(L.Var(tv), const(tile)), hi)
            return Level(outer, (var, L.Var(tv), stop, kinds[1], 1)), var
        return Level(parent, (var, lo, hi, kinds[0], 1)), var

    def linear_bounds(self, index: str, parts: list[T.Expr], allowed: set[str]):
        """Split mask conjuncts into (lower bounds, upper bounds (exclusive), rest) for `index`.

        A conjunct qualifies when it is an index-only (in)equality, linear in `index` with
        coefficient +-1, whose other indices are all in `allowed` (bound outside the loop).
        """
        los, his, rest = [], [], []
        j = index_sym(index)
        for c in parts:
            got = self._bound(c, j, allowed) if self.schedule.mask_bounds else None
            if got is None:
                rest.append(c)
                continue
            lo, hi = got
            los += lo
            his += hi
        return los, his, rest

    def _bound(self, c: T.Expr, j, allowed: set[str]):
        if not (isinstance(c, T.Call) and c.fn in ("le", "lt", "ge", "gt", "eq")):
            return None
        a, b = (index_to_sympy(x) for x in c.args)
        if a is None or b is None:
            return None
        if c.fn in ("ge", "gt"):
            a, b = b, a
        f = sympy.expand(a - b)  # f <= 0 (le), f < 0 (lt), f == 0 (eq)
        if j not in f.free_symbols:
            return None
        if c.fn in ("lt", "gt"):
            f = f + 1
        forms = [f] if c.fn != "eq" else [f, -f]
        out_lo, out_hi = [], []
        for g in forms:
            abs_terms = [t for t in sympy.Add.make_args(g) if isinstance(t, sympy.Abs)]
            if abs_terms:
                if len(abs_terms) != 1:
                    return None
                rest = g - abs_terms[0]
                u = abs_terms[0].args[0]
                cands = [sympy.expand(u + rest), sympy.expand(-u + rest)]
            else:
                cands = [g]
            for h in cands:
                if h.has(sympy.Abs, sympy.floor, sympy.Mod, sympy.Min, sympy.Max):
                    return None
                coeff = h.coeff(j)
                rem = sympy.expand(h - coeff * j)
                if j in rem.free_symbols or coeff not in (1, -1):
                    return None
                others = {str(s) for s in rem.free_symbols}
                if not others <= allowed | self._globals(others):
                    return None
                names = {x: self.env[x][0] for x in others if x in self.env}
                if coeff == 1:  # j + rem <= 0  ->  j < -rem + 1
                    out_hi.append(sym_to_lexpr(-rem + 1, self.spec, names))
                else:  # -j + rem <= 0  ->  j >= rem
                    out_lo.append(sym_to_lexpr(rem, self.spec, names))
        return out_lo, out_hi

    def _globals(self, names: set[str]) -> set[str]:
        """Names that are sizes / scalar parameters, not indices."""
        out = set()
        for n in names:
            if n in self.env:
                continue
            try:
                self.def_.tensor(n)
                out.add(n)
            except KeyError:
                if n in self.def_.sizes:
                    out.add(n)
        return out

    # --- expressions ---------------------------------------------------------------------------
    def level_of(self, idx: set[str], base: Level) -> Level:
        """The deepest level binding one of `idx` (the kernel root if none)."""
        best = base
        while best.parent is not None:
            best = best.parent
        for x in idx:
            lv = self.env[x][1]
            if lv is not None and lv.depth > best.depth:
                best = lv
        if self.floor is not None and self.floor.depth > best.depth:
            best = self.floor
        return best

    def emit(self, e: T.Expr, cur: Level, idims: tuple[str, ...]) -> L.LExpr:
        """`e` as an expression valid inside loops over `idims` at level `cur`."""
        if isinstance(e, T.Const):
            return L.Const(e.value, e.dtype)
        if isinstance(e, T.Index):
            return self.env[e.name][0]
        if isinstance(e, T.Access):
            decl = self.def_.tensor(e.tensor)
            if not e.indices and decl.role == "input":
                return L.Var(e.tensor, e.dtype)
            return L.Load(e.tensor, tuple(self.emit(i, cur, idims) for i in e.indices), e.dtype)
        if isinstance(e, T.Reduce):
            return self.emit_reduce(e, cur, idims)
        if isinstance(e, T.Call):
            v = L.Call(e.fn, tuple(self.emit(a, cur, idims) for a in e.args), e.dtype)
            if idims and e.fn in EXPENSIVE and not lvars(v) & {self.inner[x].var for x in idims}:
                name = self.fresh("t")
                cur.stmts.append(L.Let(name, v))
                self.stats["hoisted"] += 1
                return L.Var(name, e.dtype)
            return v
        raise AssertionError(f"not a TensorIR expression: {e!r}")

    def _at(self, dims: tuple[str, ...]) -> tuple[L.LExpr, ...]:
        return tuple(isub(L.Var(self.inner[d].var), self.inner[d].lo) for d in dims)

    def _shape(self, dims: tuple[str, ...]) -> tuple[L.LExpr, ...]:
        return tuple(isub(self.inner[d].hi, self.inner[d].lo) for d in dims)

    def _wrap_dims(self, dims: tuple[str, ...], body: list) -> list:
        for d in reversed(dims):
            inn = self.inner[d]
            body = [L.Loop(inn.var, inn.lo, inn.hi, tuple(body), kind="vector")]
        return body

    def emit_reduce(self, r: T.Reduce, cur: Level, idims: tuple[str, ...]) -> L.LExpr:
        size = size_value_of(r)
        if size is not None:  # a size used as a value (frontend writes it as a count): read it
            return sym_to_lexpr(size_symbol(size), self.spec)
        free = set(free_indices(r)) - ({r.rank} if r.rank else set())
        dims = tuple(d for d in idims if d in free)
        key = (alpha_key(r), tuple(sorted((x, self.env[x][0]) for x in free)), dims)
        if key in self.memo:
            return self.memo[key]
        place = self.level_of(free - set(dims), cur)
        online = self._online_softmax_parts(r) if self.schedule.online_softmax else None
        mask_idx = free_indices(r.mask) if r.mask is not None else frozenset()
        if online is not None and (free_indices(online[0]) | mask_idx) & set(dims):
            online = None  # the running max would differ per inner element: stream instead
        plan = self.split.plan(self, r, place, dims, online) if self.split is not None else None
        if plan is not None:
            acc = self.split.lower(self, r, place, dims, online, plan)
        else:
            acc, _ = self.accumulate(r, place, dims, online)
        rank = self.env[r.rank][0] if r.rank else None
        out = rules.result(acc, self._at(dims), rank, r.dtype)
        if not dims and rank is None:
            name = self.fresh("r")
            place.stmts.append(L.Let(name, out))
            out = L.Var(name, out.dtype)
        self.memo[key] = out
        return out

    def accumulate(self, r: T.Reduce, place: Level, dims: tuple[str, ...], online, first=None,
                   wide: bool | None = None):
        """Declare `r`'s accumulator at `place` and fold every term into it; (Acc, its Locals).

        `online`: (a, rest) of an online-softmax sum (see `_online_softmax_parts`), else None.
        `first(lo, hi) -> (lo, hi)` narrows the loop over the first range (split-j's chunk).
        `wide`: accumulate a float32 sum in float64 (default: when it has several ranges that are
        not small constants, i.e. N*M terms; W1's d/dx `sum(e, j: ...)` with E = 1 has M).
        """
        shape = self._shape(dims)
        if online is not None:
            acc, decls = rules.init_online(r.dtype, shape, self.fresh)
        elif r.op in rules.ARG_OPS:
            acc, decls = rules.init_arg(r.op, r.body.dtype, shape, r.k, self.fresh)
        else:
            big = [rg for rg in r.ranges if not self._small_range(rg)]
            wide = len(big) >= 2 if wide is None else wide
            acc, decls = rules.init(r.op, r.dtype, shape, r.k, self.fresh, wide=wide)
        place.stmts.extend(decls)
        level, outer, inner = self._open_ranges(r, place, dims, first)
        if outer is not None:
            cond = self.emit(outer, level, ())
            level.guards.append((len(level.stmts), cond))
        if online is not None:
            self._online_update(acc, level, dims, *online)
        else:
            v = self.emit(r.body, level, dims)
            j = self._flat_index(r)
            upd = rules.update(acc, self._at(dims), v, j, self.fresh)
            if inner is not None:
                upd = [L.If(self.emit(inner, level, dims), tuple(upd))]
            level.stmts.extend(self._wrap_dims(dims, upd))
        close(level, place)
        self._restore()
        return acc, decls

    def _open_ranges(self, r: T.Reduce, place: Level, dims: tuple[str, ...], first=None):
        """Open the loops over `r`'s ranges at `place`; returns (innermost level, outer-mask, inner-mask)."""
        parts = conjuncts(r.mask)
        allowed = {x for x, (_, lv) in self.env.items() if lv is not None and lv.is_ancestor_of(place)}
        level = place
        self._saved = getattr(self, "_saved", [])
        self._saved.append({rg.index: self.env.get(rg.index) for rg in r.ranges})
        for rg in self._loop_order(r, first):
            los, his, parts = self.linear_bounds(rg.index, parts, allowed)
            lo, hi = self.size(rg.lo), self.size(rg.hi)
            for b in los:
                lo = imax(lo, b)
            for b in his:
                hi = imin(hi, b)
            if los or his:
                self.stats["mask_bounds"] += 1
            if first is not None and rg is r.ranges[0]:
                lo, hi = first(lo, hi)
            level, var = self.open_loop(level, rg.index, lo, hi, ("reduce", "reduce"))
            self.env[rg.index] = (L.Var(var), level)
            allowed.add(rg.index)
        dimset = set(dims)
        outer = [c for c in parts if not free_indices(c) & dimset]
        inner = [c for c in parts if free_indices(c) & dimset]
        if parts:
            self.stats["mask_if"] += 1
        return level, conjoin(outer), conjoin(inner)

    def _loop_order(self, r: T.Reduce, first) -> tuple[T.Range, ...]:
        """`r`'s ranges, outermost first: those of a small constant extent (W1's E = 1 in
        `sum(e, j: ...)`) innermost, so the streamed index sits right under the row loop (row
        blocking); as written when split-j chunks the first one."""
        if first is not None:
            return r.ranges
        small = self._small_range
        return tuple(rg for rg in r.ranges if not small(rg)) + tuple(filter(small, r.ranges))

    def _small_range(self, rg: T.Range) -> bool:
        """A range of a constant extent of at most SMALL_INNER (after specialisation)."""
        ext = self.size(rg.hi - rg.lo)
        return isinstance(ext, L.Const) and ext.value <= SMALL_INNER

    def _restore(self) -> None:
        for k, v in self._saved.pop().items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = v

    def _flat_index(self, r: T.Reduce) -> L.LExpr:
        if len(r.ranges) == 1:
            return self.env[r.ranges[0].index][0]
        flat = None  # row-major over the ranges (offsets from each lower bound)
        for rg in r.ranges:
            off = isub(self.env[rg.index][0], self.size(rg.lo))
            ext = self.size(rg.hi - rg.lo)
            flat = off if flat is None else iadd(L.Call("mul", (flat, ext), I64), off)
        return flat

    # --- online softmax ------------------------------------------------------------------------
    def _online_softmax_parts(self, r: T.Reduce):
        """(a, rest) if `r` is sum_j exp(a_j - logsumexp_j'(a_j')) * rest_j, else None."""
        if r.op != "sum" or len(r.ranges) != 1:
            return None
        j = r.ranges[0].index
        factors = product_factors(r.body)
        for k, f in enumerate(factors):
            if not (isinstance(f, T.Call) and f.fn == "exp"):
                continue
            arg = f.args[0]
            if not (isinstance(arg, T.Call) and arg.fn == "sub" and isinstance(arg.args[1], T.Reduce)):
                continue
            a, lse = arg.args
            if lse.op != "logsumexp" or len(lse.ranges) != 1 or j in free_indices(lse):
                continue
            j2 = lse.ranges[0].index
            if not _same_ranges(lse.ranges[0], r.ranges[0]):
                continue
            if substitute(lse.body, {j2: T.Index(j)}) != a:
                continue
            m2 = None if lse.mask is None else substitute(lse.mask, {j2: T.Index(j)})
            if m2 != r.mask:
                continue
            if any(isinstance(x, T.Reduce) and x.op == "logsumexp" for x in walk(a)):
                continue
            rest = [g for n, g in enumerate(factors) if n != k]
            out = rest[0] if rest else T.Const(1, r.dtype)
            for g in rest[1:]:
                out = T.Call("mul", (out, g), r.dtype)
            return a, out
        return None

    def _online_update(self, acc: rules.Acc, level: Level, dims, a: T.Expr, rest: T.Expr) -> None:
        """Fold the term exp(a_j - max) * rest_j into the online state (m, l, acc[dims])."""
        t = acc.dtype
        m, s, acc_ = acc.names["m"], acc.names["l"], acc.names["acc"]
        av = as_dtype(self.emit(a, level, ()), t)
        names = {k: self.fresh(k) for k in ("a", "mn", "safe", "alpha", "p")}
        V = {k: L.Var(n, t) for k, n in names.items()}
        M, S = L.LocalRead(m, (), t), L.LocalRead(s, (), t)
        level.stmts += [
            L.Let(names["a"], av),
            L.Let(names["mn"], L.Call("max", (M, V["a"]), t)),
            L.Let(names["safe"], rules.safe_max(V["mn"], t)),
            L.Let(names["alpha"], L.Call("exp", (L.Call("sub", (M, V["safe"]), t),), t)),
            L.Let(names["p"], L.Call("exp", (L.Call("sub", (V["a"], V["safe"]), t),), t)),
            L.Assign(s, (), L.Call("add", (L.Call("mul", (S, V["alpha"]), t), V["p"]), t)),
        ]  # fmt: skip
        rv = as_dtype(self.emit(rest, level, dims), t)
        at = self._at(dims)
        A = L.LocalRead(acc_, at, t)
        upd = [L.Assign(acc_, at, L.Call("add", (L.Call("mul", (A, V["alpha"]), t), L.Call("mul", (V["p"], rv), t)), t))]
        level.stmts += self._wrap_dims(dims, upd)
        level.stmts.append(L.Assign(m, (), V["mn"]))
        self.stats["online_softmax"] += 1
