"""Helpers that shape the backward's statements: clipped ranges, masks as ternaries, merged
contributions, full domains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import sympy

from tensorc.grad.build import add, const, index, select, substitute, unique_binders
from tensorc.grad.transpose import Transposed
from tensorc.ir.tensor_ir import Access, Call, Expr, Range, Reduce, Statement, is_zero


def clip_ranges(st: Statement, dims: dict) -> Statement:
    """Ranges up to an output dimension expression `e` that the backward reads as the new size
    `S` run to `min(e, S)`: both equal at call time, and the bounds of every read are provable."""
    if not dims:
        return st

    def hi(r: Range) -> Range:
        for e, s in dims.items():
            if is_zero(sympy.sympify(r.hi) - e):
                return replace(r, hi=sympy.Min(e, s))
        return r

    def expr(e: Expr) -> Expr:
        if isinstance(e, Reduce):
            mask = None if e.mask is None else expr(e.mask)
            return replace(e, ranges=tuple(map(hi, e.ranges)), body=expr(e.body), mask=mask)
        if isinstance(e, Access):
            return replace(e, indices=tuple(map(expr, e.indices)))
        if isinstance(e, Call):
            return replace(e, args=tuple(map(expr, e.args)))
        return e

    mask = None if st.mask is None else expr(st.mask)
    return replace(st, domain=tuple(map(hi, st.domain)), rhs=expr(st.rhs), mask=mask)


def unmasked(rhs: Expr, mask: Expr | None) -> Expr:
    """`mask ? rhs : 0`: a gradient tensor is written everywhere (a temporary written under a
    statement mask would be defined only there, LANGUAGE.md section 2)."""
    return rhs if mask is None else select(mask, rhs, const(0, rhs.dtype))


def merge(a: Transposed, b: Transposed, fresh: Callable[[str], str]) -> Transposed | None:
    """`a + b` as one statement when `b`, its LHS indices renamed to `a`'s, has `a`'s domain
    and mask; else None."""
    if len(a.indices) != len(b.indices):
        return None
    # b's reductions may bind a's LHS names (gram: dx(i, d) sums j, dx(j, d) sums i)
    b = replace(b, rhs=unique_binders(b.rhs, set(a.indices) | set(b.indices), fresh))
    names = dict(zip(b.indices, a.indices))
    subst = {old: index(new) for old, new in names.items() if old != new}
    dom = tuple(replace(r, index=names[r.index]) for r in b.domain)
    mask = None if b.mask is None else substitute(b.mask, subst)
    if dom != a.domain or mask != a.mask:
        return None
    return replace(a, rhs=add(a.rhs, substitute(b.rhs, subst)))


def add_to(groups: dict, key: tuple, g: Expr) -> None:
    groups[key] = add(groups[key], g) if key in groups else g


def full_domain(idx: tuple[str, ...], shape: tuple) -> tuple[Range, ...]:
    return tuple(Range(i, sympy.Integer(0), sympy.sympify(s)) for i, s in zip(idx, shape))


def covers(domain: tuple[Range, ...], shape: tuple) -> bool:
    return all(is_zero(r.lo) and is_zero(r.hi - s) for r, s in zip(domain, shape))
