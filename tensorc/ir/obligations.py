"""The bounds obligations of a def: what must hold for no kernel to read or write outside an array.

`analyse(def_)` (once per def) turns every write, every read and every range of a def into
`Obligation`s on sympy bounds (`tensorc.ir.index_bounds`), drops those proved for all sizes, and
compiles the rest into functions of the sizes (and of the index tensors' minima and maxima, for
gathers), which `tensorc.runtime.bounds` evaluates on each call signature and each call.

The rules mirror the reference interpreter (`tensorc.ir.interpreter`), so every backend fails where
it fails: a nonempty write range must lie in the target's dimension, every read is in range, a kmin
rank stays below K. Where the interpreter is lenient (in a statement with a mask or a select it
clips reads), a read is left alone only when a mask or select condition mentions one of its index's
indices or tensors (so it may keep the read from happening); any other read there happens for some
point and is checked. On top: range bounds beyond +-2**62 (index arithmetic would wrap) and a K
beyond `MAX_K` are errors. Index values come from input index tensors (per call), from tensors an
unmasked argmin/argmax/argkmin writes, and from tensors one statement writes with an integer index
expression (a float input cast to an index: its values truncated); any other computed index is
not checked (the kernel alone knows it).

Example:
    >>> an = analyse(def_)          # `B(i) = A(i) where i in S:N`: S may be negative
    >>> [ob.kind for ob in an.fixed]
    ['range', 'write', 'read']
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy

from tensorc.errors import ShapeError, Span
from tensorc.ir.index_bounds import (
    Unbounded, compile_exprs, interval, lowest, proved_nonnegative, to_sympy,
)
from tensorc.ir.printer import print_expr
from tensorc.ir.tensor_ir import (
    Access, Call, Def, Expr, Index, Reduce, Statement, children, size_symbol, walk,
)
from tensorc.ir.types import is_int

__all__ = ["ABSURD", "MAX_K", "Analysis", "Gather", "Obligation", "analyse"]


MAX_K = 1 << 16  # kmin/argkmin keep K values per row in a kernel-local buffer (its stack)
ABSURD = 1 << 62  # a range bound beyond this wraps index arithmetic (int64 offsets)


@dataclass(frozen=True, slots=True)
class Gather:
    """An indirect read's index value: the index tensor, the part of it read (per axis a sympy
    half-open range, None: the whole axis) and the symbols standing for its minimum and maximum."""

    tensor: str
    parts: tuple[tuple[sympy.Expr, sympy.Expr] | None, ...]
    lo: sympy.Symbol
    hi: sympy.Symbol


@dataclass(frozen=True, slots=True)
class Obligation:
    """`lo..hi` (inclusive values of an index) must lie in `0:extent` when `guard > 0`.

    kind: "read" / "write" of `tensor` along `axis`; "rank" (a kmin rank index, extent K);
    "range" (a range bound, which must lie within +-ABSURD). `extent` None: the input's actual
    dimension."""

    kind: str
    tensor: str
    axis: int
    text: str
    lo: sympy.Expr
    hi: sympy.Expr
    extent: sympy.Expr | None
    guard: sympy.Expr
    gathers: tuple[Gather, ...]
    span: Span | None
    hint: str | None = None  # what to say beyond the bounds


@dataclass(frozen=True, slots=True)
class Analysis:
    """A def's unproved obligations: `fixed` depend on sizes only, `gathered` on index tensors
    too. `fixed_values(*sizes)` gives (guard, lo, hi, extent) of each fixed obligation in turn,
    `gathered_values(*sizes, lo0, hi0, lo1, ...)` those of the gathered ones, `part_values(*sizes)`
    the bounds of each gather's parts, `output_dims(*sizes)` every output's shape; `sizes` are
    the values of `size_names`, in order."""

    fixed: tuple[Obligation, ...]
    gathered: tuple[Obligation, ...]
    gathers: tuple[Gather, ...]
    size_names: tuple[str, ...]
    fixed_values: Callable[..., list]
    gathered_values: Callable[..., list]
    part_values: Callable[..., list]
    output_dims: Callable[..., list]


@functools.lru_cache(maxsize=256)
def analyse(def_: Def) -> Analysis:
    """The obligations of `def_` that sympy cannot prove for every size."""
    walker = _Walker(def_)
    for st in def_.body:
        walker.statement(st)
    todo = [ob for ob in walker.obligations if not _proved(ob, walker.trusted)]
    fixed = tuple(ob for ob in todo if not ob.gathers)
    gathered = tuple(ob for ob in todo if ob.gathers)
    gathers = tuple(dict.fromkeys(g for ob in gathered for g in ob.gathers))
    part_exprs = [e for g in gathers for p in g.parts if p for e in p]
    dims = [walker.sym(d) for o in def_.outputs for d in o.shape]
    data = [s for g in gathers for s in (g.lo, g.hi)]
    used = {s for ob in todo for e in _exprs(ob) for s in e.free_symbols}
    used |= {s for e in (*part_exprs, *dims) for s in e.free_symbols}
    sizes = tuple(sorted(used - set(data), key=str))

    def compiled(exprs: list, extra: list = ()) -> Callable[..., list]:
        try:
            return compile_exprs((*sizes, *extra), exprs)
        except Unbounded:  # a node the small printer does not know: sympy's (slower) one
            return sympy.lambdify((*sizes, *extra), exprs, "math", dummify=True)

    return Analysis(
        fixed, gathered, gathers, tuple(map(str, sizes)),
        compiled([e for ob in fixed for e in _exprs(ob)]),
        compiled([e for ob in gathered for e in _exprs(ob)], data),
        compiled(part_exprs), compiled(dims),
    )


def _exprs(ob: Obligation) -> tuple[sympy.Expr, ...]:
    extent = -1 if ob.extent is None else ob.extent
    return ob.guard, ob.lo, ob.hi, sympy.sympify(extent)


def _proved(ob: Obligation, trusted: dict[tuple[str, int], sympy.Expr]) -> bool:
    if ob.kind == "range":
        return all(_small(e) for e in (ob.lo, ob.hi))
    extent = trusted.get((ob.tensor, ob.axis)) if ob.extent is None else ob.extent
    if extent is None or ob.gathers:
        return False
    try:
        return proved_nonnegative(ob.lo) and proved_nonnegative(extent - 1 - ob.hi)
    except TypeError:  # sympy cannot order Min/Max of unrelated symbols
        return False


_DIM = 1 << 48  # no array dimension reaches 2**48 elements


def _small(bound: sympy.Expr) -> bool:
    """A range bound stays within +-ABSURD for every size: it uses only sizes (nonnegative
    dimensions below _DIM; a signed scalar parameter may be anything) and stays small over them."""
    syms = bound.free_symbols
    if any(not s.is_nonnegative for s in syms):
        return False
    try:
        lo, hi = interval(bound, {s: (sympy.Integer(0), sympy.Integer(_DIM)) for s in syms})
    except (Unbounded, TypeError):
        return False
    return lo.is_number and hi.is_number and abs(lo) < ABSURD and abs(hi) < ABSURD


class _Walker:
    """Collects the obligations of a def's statements (see `Obligation`)."""

    def __init__(self, def_: Def):
        self.def_ = def_
        self.inputs = {d.name: d for d in def_.inputs}
        self.scalars = frozenset(n for n, d in self.inputs.items()
                                 if not d.shape and is_int(d.dtype))
        # integer scalar parameters may be negative: the front end's size symbols say otherwise
        self.signed = {size_symbol(n): sympy.Symbol(n, integer=True) for n in self.scalars}
        # input dimensions the runtime binds and checks (a size symbol or a literal) can be trusted
        # in proofs; others (`2*N`) are compared with the argument's actual shape
        self.trusted = {(d.name, ax): self.sym(dim) for d in def_.inputs
                        for ax, dim in enumerate(d.shape)
                        if sympy.sympify(dim).is_Symbol or sympy.sympify(dim).is_Integer}
        self.obligations: list[Obligation] = []
        self.gathers: dict[tuple, Gather] = {}
        self.guards: set[str] = set()  # what the statement's masks and select conditions mention
        self.writers: dict[str, int] = {}
        for st in def_.body:
            self.writers[st.tensor] = self.writers.get(st.tensor, 0) + 1
        self.values = self.arg_values(def_)  # tensor -> (lo, hi, gathers) of its values

    def arg_values(self, def_: Def) -> dict[str, tuple]:
        """Value bounds (lo, hi, gathers, note) of the tensors that an argmin/argmax/argkmin
        alone writes: a gather through them (`y(nn(i), d)`) is checked per size like an affine
        read. -1 (an empty domain, or K beyond it) is a value too: under a mask any row may get
        it, so an unguarded read through a masked one is an error whatever the data."""
        writes: dict[str, list[Statement]] = {}
        for st in def_.body:
            writes.setdefault(st.tensor, []).append(st)
        values = {}
        for name, sts in writes.items():
            rhs = sts[0].rhs
            while isinstance(rhs, Call) and rhs.fn == "cast":
                rhs = rhs.args[0]
            if len(sts) > 1 or name in self.inputs or not isinstance(rhs, Reduce):
                continue
            try:
                lo, hi, note = self.arg_interval(rhs, f"{name}(...)")
            except Unbounded:
                continue
            # rows a statement mask skips hold 0
            values[name] = (lo, hi if sts[0].mask is None else sympy.Max(hi, 0, evaluate=False),
                            (), note)
        return values

    def arg_interval(self, red: Reduce, text: str) -> tuple[sympy.Expr, sympy.Expr, str | None]:
        """(lo, hi, note): the values of an argmin/argmax/argkmin; -1 for an empty domain (any
        row under a mask) or K beyond it. Raises Unbounded for other reductions."""
        if red.op not in ("argmin", "argmax", "argkmin"):
            raise Unbounded(red.op)
        count = sympy.Mul(*(sympy.Max(0, self.sym(r.hi - r.lo)) for r in red.ranges))
        lo = sympy.Min(0, sympy.Max(-1, count - max(1, red.k), evaluate=False), evaluate=False)
        if red.mask is None:
            return lo, count - 1, None
        return sympy.Integer(-1), count - 1, (
            f"{text} is -1 where the mask of its {red.op} leaves no candidate: guard the read, "
            f"e.g. `{text} >= 0 ? ... : 0`")

    def sym(self, e: Any) -> sympy.Expr:
        """A bound as sympy, with integer scalar parameters signed."""
        return sympy.sympify(e).xreplace(self.signed)

    def extent(self, tensor: str, axis: int) -> sympy.Expr | None:
        if tensor in self.inputs:
            return None
        return self.sym(self.def_.tensor(tensor).shape[axis])  # allocated as max(0, .)

    def statement(self, st: Statement) -> None:
        scope: dict[str, sympy.Symbol] = {}
        box: dict[sympy.Symbol, tuple[sympy.Expr, sympy.Expr]] = {}
        lhs_extents = []
        for ax, r in enumerate(st.domain):
            self.range_bounds(r, st.span)
            var = scope[r.index] = sympy.Dummy(r.index, integer=True)
            box[var] = (self.sym(r.lo), self.sym(r.hi - 1))
            lhs_extents.append(self.sym(r.hi - r.lo))
            if st.tensor in self.inputs:
                continue
            self.add("write", st.tensor, ax, r.index, r.lo, r.hi - 1, self.extent(st.tensor, ax),
                     (), st.span, guard=r.hi - r.lo)
        nonempty = lowest(*lhs_extents)
        nodes = list(walk(st.rhs)) + (list(walk(st.mask)) if st.mask is not None else [])
        for red in nodes:
            if isinstance(red, Reduce):
                for r in red.ranges:
                    self.range_bounds(r, st.span)
                if red.rank is not None:
                    self.rank(st, red, nonempty)
        conditions = [st.mask] if st.mask is not None else []
        conditions += [n.mask for n in nodes if isinstance(n, Reduce) and n.mask is not None]
        conditions += [n.args[0] for n in nodes if isinstance(n, Call) and n.fn == "select"]
        self.guards = _names(*conditions)
        self.reads(st.rhs, scope, box, lhs_extents, st.span)
        self.record_value(st, scope, box)

    def rank(self, st: Statement, red: Reduce, nonempty: sympy.Expr) -> None:
        if red.k > MAX_K:
            raise ShapeError(
                f"{red.op} keeps K = {red.k} values per row, more than the {MAX_K} it supports",
                st.span,
                hint="K larger than the reduced extent only pads with -1 (argkmin) or inf (kmin); "
                "use a K no larger than the extent",
            )
        if red.rank in st.indices:
            r = st.domain[st.indices.index(red.rank)]
            self.add("rank", red.op, 0, red.rank, r.lo, r.hi - 1, sympy.Integer(red.k),
                     (), st.span, guard=nonempty)

    def range_bounds(self, r, span: Span | None) -> None:
        self.add("range", r.index, 0, r.index, sympy.sympify(r.lo), sympy.sympify(r.hi),
                 sympy.Integer(ABSURD), (), span, guard=sympy.Integer(1))

    def reads(self, e: Expr, scope: dict, box: dict, extents: list, span: Span | None) -> None:
        if isinstance(e, Reduce):
            scope, box, extents = dict(scope), dict(box), list(extents)
            for r in e.ranges:
                var = scope[r.index] = sympy.Dummy(r.index, integer=True)
                box[var] = (self.sym(r.lo), self.sym(r.hi - 1))
                extents.append((var, self.sym(r.hi - r.lo)))
        for c in children(e):
            self.reads(c, scope, box, extents, span)
        if isinstance(e, Access) and e.indices:
            for ax, ie in enumerate(e.indices):
                self.read(e, ax, ie, scope, box, extents, span)

    def read(self, e: Access, ax: int, ie: Expr, scope: dict, box: dict, extents: list,
             span: Span | None) -> None:
        if _names(ie) & self.guards:
            return  # a mask or select may keep it from happening: the interpreter clips it
        try:
            lo, hi, gathers, note = self.value(ie, scope, box)
        except Unbounded:
            return  # a computed index the kernel alone knows: nothing to check it against
        used = {scope[n.name] for n in walk(ie) if isinstance(n, Index) and n.name in scope}
        # the statement's own extents, and those of the reduction variables the index uses: the
        # interpreter evaluates (and checks) an index whenever those are nonempty
        guard = [x for x in extents if not isinstance(x, tuple)]
        guard += [x[1] for x in extents if isinstance(x, tuple) and x[0] in used]
        self.add("read", e.tensor, ax, print_expr(ie), lo, hi, self.extent(e.tensor, ax),
                 gathers, span, guard=lowest(*guard), hint=note)

    def value(self, e: Expr, scope: dict, box: dict) -> tuple:
        """(lo, hi, gathers, note): bounds of an integer expression over the box, through index
        tensors (their minimum and maximum, `gathers`) and tensors with known values (`note`: what
        to say of them in an error). Raises Unbounded."""
        gathers: list[Gather] = []
        notes: list[str] = []
        env = dict(box)

        def gather(a: Access | Reduce) -> sympy.Symbol:
            if isinstance(a, Reduce):
                var = sympy.Dummy(a.op, integer=True)
                lo, hi, note = self.arg_interval(a, a.op)
                notes.extend([note] if note else [])
                env[var] = (lo, hi)
                return var
            var = sympy.Dummy(a.tensor, integer=True)
            if a.tensor in self.values:
                lo, hi, via, note = self.values[a.tensor]
                gathers.extend(via)
                notes.extend([note] if note else [])
            else:
                g = self.gather(a, scope, box)
                gathers.append(g)
                lo, hi = g.lo, g.hi
            env[var] = (lo, hi)
            return var

        lo, hi = interval(self.sym(to_sympy(e, scope, gather, self.scalars)), env)
        return lo, hi, tuple(dict.fromkeys(gathers)), "; ".join(notes) or None

    def record_value(self, st: Statement, scope: dict, box: dict) -> None:
        """Value bounds of a tensor that one unmasked statement writes with an integer index
        expression (`j(l) = idx(l) + 1`), so a gather through it is checked too; points it leaves
        unwritten hold 0."""
        if (self.writers.get(st.tensor) != 1 or st.tensor in self.values or st.mask is not None
                or not is_int(self.def_.tensor(st.tensor).dtype)):
            return
        try:
            lo, hi, gathers, note = self.value(st.rhs, scope, box)
        except Unbounded:
            return
        zero = sympy.Integer(0)
        self.values[st.tensor] = (sympy.Min(lo, zero, evaluate=False),
                                  sympy.Max(hi, zero, evaluate=False), gathers, note)

    def gather(self, a: Access, scope: dict, box: dict) -> Gather:
        if a.tensor not in self.inputs or a.dtype in ("bool", "bfloat16"):
            raise Unbounded(f"index tensor {a.tensor} is computed by the kernel")
        parts = tuple(_part(ie, scope, box) for ie in a.indices)
        g = self.gathers.get((a, parts))
        if g is None:
            n = len(self.gathers)
            g = self.gathers[a, parts] = Gather(a.tensor, parts,
                                                sympy.Symbol(f"_g{n}_lo", integer=True),
                                                sympy.Symbol(f"_g{n}_hi", integer=True))
        return g

    def add(self, kind: str, tensor: str, axis: int, text: str, lo, hi, extent, gathers,
            span: Span | None, guard=None, hint: str | None = None) -> None:
        guard = self.sym(extent if guard is None else guard)
        extent = None if extent is None else self.sym(extent)
        self.obligations.append(Obligation(kind, tensor, axis, text, self.sym(lo), self.sym(hi),
                                           extent, guard, gathers, span, hint))


def _names(*exprs: Expr) -> set[str]:
    """The indices and tensors that `exprs` mention."""
    return {n.name if isinstance(n, Index) else n.tensor for e in exprs for n in walk(e)
            if isinstance(n, (Index, Access))}


def _part(ie: Expr, scope: dict, box: dict) -> tuple[sympy.Expr, sympy.Expr] | None:
    """The half-open range an index tensor's plain index takes (None: not a plain index)."""
    if not isinstance(ie, Index) or ie.name not in scope:
        return None
    lo, last = box[scope[ie.name]]
    return sympy.sympify(lo), sympy.sympify(last + 1)
