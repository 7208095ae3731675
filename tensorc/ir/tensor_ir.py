"""TensorIR: *what* a program computes, checked and typed, with no schedule.

Produced by the front end (`tensorc.frontend`), read by the reference interpreter and by the passes.

Canonical form (the front end guarantees it, the verifier checks it):
- every statement is a plain assignment `T(i, j, ...) = rhs`; TC's `+=!`, `+=`, `max=!`, ... and the
  implicit sum are rewritten into `Reduce` nodes (`C(m,n) += e` becomes `C(m,n) = C(m,n) + sum(k: e)`),
- every index used in a statement has a half-open range: LHS indices in `Statement.domain`, reduction
  indices in `Reduce.ranges`; bounds are sympy expressions over size symbols and integer scalar params,
- softmax is expanded: `softmax(j: e)` is `exp(e - logsumexp(j': e[j := j']))` with j free,
- a statement's `where` mask is attached to every `Reduce` over a masked index (`Reduce.mask`) and, for
  the part on LHS indices only, to `Statement.mask`,
- every expression node carries its result dtype.

All tensors of a def (outputs and temporaries) start zero-filled; a statement writes the points of its
domain where its mask holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import sympy

from tensorc.errors import Span

# --- expressions -------------------------------------------------------------------------------


class Expr:
    """Base of TensorIR expressions (no fields of its own)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Const(Expr):
    value: int | float | bool
    dtype: str


@dataclass(frozen=True, slots=True)
class Index(Expr):
    """An index variable; always int64."""

    name: str
    dtype: str = "int64"


@dataclass(frozen=True, slots=True)
class Access(Expr):
    """Read of a tensor element (or of a scalar parameter: `indices == ()`).

    Indices are expressions: affine (`2*h + kh`), floordiv/mod by constants, or indirect
    (an `Access` of an integer tensor, `T(idx(l), w)`).
    """

    tensor: str
    indices: tuple[Expr, ...]
    dtype: str


@dataclass(frozen=True, slots=True)
class Call(Expr):
    """Every operator and builtin, by name; `ops.py` holds the table of names.

    Arithmetic: add sub mul div floordiv mod neg pow; comparisons: lt le gt ge eq ne;
    logic: and or not; `select(c, a, b)` is the ternary; `cast(x)` converts to `dtype`;
    math: exp log sqrt rsqrt tanh erf relu sigmoid softplus abs sign clamp fmax fmin max min ...
    """

    fn: str
    args: tuple[Expr, ...]
    dtype: str


@dataclass(frozen=True, slots=True)
class Range:
    """Half-open range `lo <= index < hi` (sympy bounds)."""

    index: str
    lo: sympy.Expr
    hi: sympy.Expr


@dataclass(frozen=True, slots=True)
class Reduce(Expr):
    """A reduction over `ranges` of `body`, restricted to points where `mask` holds.

    op: sum prod max min logsumexp argmax argmin kmin argkmin.
    - argmax/argmin/argkmin give int64 indices (ties to the smallest index; -1 for an empty domain);
      over several indices they give the row-major flat index of the winner.
    - kmin/argkmin keep the `k` smallest; `rank` names the new output index (0 <= rank < k) that the
      enclosing statement's LHS uses.
    Empty domain: the identity (0 for sum, 1 for prod, -inf for max/logsumexp, +inf for min).
    """

    op: str
    ranges: tuple[Range, ...]
    body: Expr
    mask: Expr | None
    dtype: str
    k: int = 0
    rank: str | None = None


# --- traversal (the one copy every stage uses) -------------------------------------------------


def children(e: Expr) -> tuple[Expr, ...]:
    """Direct sub-expressions: an access's indices, a call's args, a reduction's body and mask."""
    if isinstance(e, Access):
        return e.indices
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Reduce):
        return (e.body,) if e.mask is None else (e.body, e.mask)
    return ()


def map_children(e: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """`e` with `fn` applied to each direct sub-expression."""
    if isinstance(e, Access):
        return replace(e, indices=tuple(fn(i) for i in e.indices))
    if isinstance(e, Call):
        return replace(e, args=tuple(fn(a) for a in e.args))
    if isinstance(e, Reduce):
        return replace(e, body=fn(e.body), mask=None if e.mask is None else fn(e.mask))
    return e


def walk(e: Expr) -> Iterator[Expr]:
    """Pre-order: a node, then its children (body before mask)."""
    yield e
    for c in children(e):
        yield from walk(c)


# --- statements, defs, programs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    tensor: str
    indices: tuple[str, ...]
    domain: tuple[Range, ...]  # one per LHS index, same order
    rhs: Expr
    mask: Expr | None = None  # condition on LHS indices only
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class TensorDecl:
    """A parameter, output or temporary. `shape == ()` is a scalar (0-d)."""

    name: str
    dtype: str
    shape: tuple[sympy.Expr, ...]
    role: str  # "input" | "output" | "temp"
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Def:
    name: str
    inputs: tuple[TensorDecl, ...]
    outputs: tuple[TensorDecl, ...]
    temps: tuple[TensorDecl, ...]
    body: tuple[Statement, ...]  # in dependency order
    span: Span | None = field(default=None, compare=False, hash=False)

    def tensor(self, name: str) -> TensorDecl:
        for decl in (*self.inputs, *self.outputs, *self.temps):
            if decl.name == name:
                return decl
        raise KeyError(name)

    @property
    def sizes(self) -> tuple[str, ...]:
        """Size symbols bound by input shapes, in order of first appearance."""
        seen: dict[str, None] = {}
        for decl in self.inputs:
            for dim in decl.shape:
                for sym in sorted(dim.free_symbols, key=str):
                    seen.setdefault(str(sym), None)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Program:
    defs: tuple[Def, ...]
    file: str = field(default="<string>", compare=False, hash=False)

    def get(self, name: str) -> Def:
        for d in self.defs:
            if d.name == name:
                return d
        raise KeyError(name)


def size_symbol(name: str) -> sympy.Symbol:
    """The sympy symbol for a size (or integer scalar parameter) name; one spelling everywhere."""
    return sympy.Symbol(name, integer=True, nonnegative=True)


def is_zero(e) -> bool:
    """Whether an index expression is identically 0. `sympy.expand` decides polynomials; only
    a remainder with floor/min/max goes to `sympy.simplify` (whose first call imports
    sympy.physics: ~0.5 s of every process's first compile)."""
    e = sympy.expand(sympy.sympify(e))
    if e == 0 or e.is_number or e.is_polynomial():  # an expanded polynomial is 0 only as 0
        return e == 0
    try:
        return sympy.simplify(e) == 0
    except Exception:  # noqa: BLE001 - sympy may give up; then it is not provably 0
        return False
