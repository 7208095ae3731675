"""The transposed index structure of one read: turn "`g` flows into `A(e1, ..., en)` at every
point of a context" into one statement `dA(u1, ..., un) = sum(rest: g ...)`.

Per index position (in order):
- a plain context index not used yet becomes an LHS index with its own range (`x(i, d)`),
- an affine expression solvable for a context index with coefficient +-1 gets a new LHS index `u`
  and that index is substituted away, with its range as a mask (`I(2*h + kh)`: `kh = u - 2*h`,
  `0 <= u - 2*h < KH`): the adjoint of a gather is again a gather,
- anything else (an index tensor `T(idx(l))`, a repeated index, `i // 2`) gets a new LHS index and
  an equality mask `e == u`: a scatter-add written as a gather over the context (quadratic, exact).
The remaining context indices are summed; masks on LHS indices only become the statement's mask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import sympy

from tensorc.grad.affine import from_sympy, index_symbol, solve_unit, to_sympy
from tensorc.grad.build import call, const, index, select, sum_over
from tensorc.ir.tensor_ir import Expr, Index, Range, is_zero
from tensorc.ir.tir_utils import conjoin as conj
from tensorc.ir.tir_utils import conjuncts, free_indices, substitute


@dataclass(frozen=True, slots=True)
class Context:
    """The points a cotangent lives on: the statement's domain, then each opened reduction's
    ranges, and every mask that restricts them."""

    ranges: tuple[Range, ...]
    masks: tuple[Expr, ...] = ()

    def enter(self, ranges: tuple[Range, ...], mask: Expr | None) -> Context:
        return Context(self.ranges + ranges, self.masks + tuple(conjuncts(mask)))

    def names(self) -> list[str]:
        return [r.index for r in self.ranges]


@dataclass(frozen=True, slots=True)
class Transposed:
    """`T(indices) = rhs where mask` over `domain`, for the gradient tensor T."""

    indices: tuple[str, ...]
    domain: tuple[Range, ...]
    rhs: Expr
    mask: Expr | None


def _bound_expr(b) -> Expr:
    return from_sympy(sympy.sympify(b), set())


def transpose(
    indices: tuple[Expr, ...],
    g: Expr,
    ctx: Context,
    shape: tuple,
    fresh: Callable[[str], str],
    invert: bool = True,
) -> Transposed:
    """The gradient statement for a read `A(indices)` that receives `g` over `ctx`
    (`invert=False`: equality masks only, never a solved index)."""
    rng = {r.index: r for r in ctx.ranges}
    names = ctx.names()
    subst: dict[str, Expr] = {}
    lhs: list[Range] = []
    taken: set[str] = set()  # context indices that are LHS indices or substituted away
    extra: list[Expr] = []
    guards: list[Expr] = []  # ranges of solved indices: also guard the reads (`c ? ... : 0`)
    for pos, e in enumerate(indices):
        e = substitute(e, subst)
        if isinstance(e, Index) and e.name in rng and e.name not in taken:
            # a read beyond the tensor is guarded in the forward (`j < N ? A(i, j) : ...`), so
            # the points past its extent contribute nothing
            r = rng[e.name]
            if not is_zero(sympy.sympify(r.hi) - shape[pos]):
                r = replace(r, hi=sympy.Min(r.hi, shape[pos]))
            lhs.append(r)
            taken.add(e.name)
            continue
        u = fresh("u")
        lhs.append(Range(u, sympy.Integer(0), sympy.sympify(shape[pos])))
        lin = to_sympy(e)
        free = [n for n in names if n not in taken]
        solved = solve_unit(lin, index_symbol(u), free) if lin is not None and invert else None
        if solved is None:
            extra.append(call("eq", e, index(u)))
            continue
        var, solution = solved
        value = from_sympy(solution, set(names) | {u})
        subst = {k: substitute(v, {var: value}) for k, v in subst.items()}
        subst[var] = value
        taken.add(var)
        r = rng[var]
        within = [call("ge", value, _bound_expr(r.lo)), call("lt", value, _bound_expr(r.hi))]
        extra += within
        guards += within
    lhs_names = {r.index for r in lhs}
    body = substitute(g, subst)
    if guards:  # the front end proves a read in bounds under a ternary, not under a mask
        body = select(conj(guards), body, const(0, body.dtype))
    masks = [substitute(m, subst) for m in ctx.masks] + extra
    summed = tuple(r for r in ctx.ranges if r.index not in taken)
    on_lhs = [m for m in masks if free_indices(m) <= lhs_names]
    inner = [m for m in masks if not free_indices(m) <= lhs_names]
    if summed:
        body = sum_over(summed, body, conj(inner))
    else:
        assert not inner, f"transpose: masks on unknown indices {inner}"
    return Transposed(tuple(r.index for r in lhs), tuple(lhs), body, conj(on_lhs))
