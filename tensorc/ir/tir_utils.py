"""TensorIR helpers that the passes, the lowering and `explain` share: traversal, substitution,
products, masks as conjunctions, index algebra (sympy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import sympy

from tensorc.ir.tensor_ir import (
    Access,
    Call,
    Const,
    Expr,
    Index,
    Range,
    Reduce,
    Statement,
    children,
    walk,
)
from tensorc.ir.tensor_ir import map_children as rebuild_children


def map_children(e: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """`e` with `fn` applied to each direct sub-expression (`tensor_ir.map_children`), but `e`
    itself when no child changes: a pass that rewrites nothing allocates nothing."""
    kids = children(e)
    new = [fn(c) for c in kids]
    if all(a is b for a, b in zip(new, kids)):
        return e
    it = iter(new)
    return rebuild_children(e, lambda _: next(it))


def product_factors(e: Expr) -> list[Expr]:
    """The factors of a (nested) `mul` tree, left to right."""
    if isinstance(e, Call) and e.fn == "mul":
        return product_factors(e.args[0]) + product_factors(e.args[1])
    return [e]


def product(factors: list[Expr], dtype: str) -> Expr:
    """Factors as one left-associated `mul` chain."""
    out = factors[0]
    for f in factors[1:]:
        out = Call("mul", (out, f), dtype)
    return out


def free_indices(e: Expr) -> frozenset[str]:
    """Index names `e` depends on (reduction indices bound inside are excluded; a kmin rank counts)."""
    if isinstance(e, Index):
        return frozenset((e.name,))
    if isinstance(e, Reduce):
        inner = free_indices(e.body) | (free_indices(e.mask) if e.mask is not None else frozenset())
        out = inner - {r.index for r in e.ranges}
        return out | ({e.rank} if e.rank else frozenset())
    out: frozenset[str] = frozenset()
    for c in children(e):
        out |= free_indices(c)
    return out


def reads(e: Expr) -> Iterator[tuple[Access, tuple[str, ...]]]:
    """Every tensor read in `e`, with the reduction indices enclosing it (outermost first)."""

    def go(x: Expr, bound: tuple[str, ...]):
        if isinstance(x, Access):
            yield x, bound
        if isinstance(x, Reduce):
            inner = bound + tuple(r.index for r in x.ranges)
            yield from go(x.body, inner)
            if x.mask is not None:
                yield from go(x.mask, inner)
            return
        for c in children(x):
            yield from go(c, bound)

    yield from go(e, ())


def bound_names(e: Expr) -> set[str]:
    return {r.index for x in walk(e) if isinstance(x, Reduce) for r in x.ranges}


def substitute(e: Expr, mapping: dict[str, Expr]) -> Expr:
    """Replace free indices by expressions, renaming reduction indices that would capture."""
    if not mapping:
        return e
    if isinstance(e, Index):
        return mapping.get(e.name, e)
    if isinstance(e, Reduce):
        incoming = set().union(*(free_indices(v) for v in mapping.values()))
        mapping = {k: v for k, v in mapping.items() if k not in {r.index for r in e.ranges}}
        ranges = []
        taken = incoming | set(mapping) | bound_names(e) | free_indices(e)
        for r in e.ranges:
            if r.index in incoming:
                n = 1
                while f"{r.index}_{n}" in taken:
                    n += 1
                new = f"{r.index}_{n}"
                taken.add(new)
                mapping[r.index] = Index(new)
                r = replace(r, index=new)
            ranges.append(r)
        if e.rank is not None and e.rank in mapping:
            v = mapping[e.rank]
            rank = v.name if isinstance(v, Index) else e.rank
        else:
            rank = e.rank
        return replace(
            e,
            ranges=tuple(ranges),
            body=substitute(e.body, mapping),
            mask=None if e.mask is None else substitute(e.mask, mapping),
            rank=rank,
        )
    return map_children(e, lambda c: substitute(c, mapping))


def rename_statement_indices(st: Statement, mapping: dict[str, str]) -> Statement:
    sub = {k: Index(v) for k, v in mapping.items()}
    return replace(
        st,
        indices=tuple(mapping.get(i, i) for i in st.indices),
        domain=tuple(replace(r, index=mapping.get(r.index, r.index)) for r in st.domain),
        rhs=substitute(st.rhs, sub),
        mask=None if st.mask is None else substitute(st.mask, sub),
    )


def alpha_key(e: Expr) -> Expr:
    """`e` with its bound indices renamed canonically (equal up to renaming -> equal keys)."""
    names: dict[str, str] = {}
    for x in walk(e):
        if isinstance(x, Reduce):
            for rg in x.ranges:
                names.setdefault(rg.index, f"%b{len(names)}")

    def ren(x: Expr) -> Expr:
        if isinstance(x, Index):
            return Index(names.get(x.name, x.name))
        if isinstance(x, Reduce):
            ranges = tuple(replace(g, index=names[g.index]) for g in x.ranges)
            x = replace(x, ranges=ranges)
        return map_children(x, ren)

    return ren(e)


def has_reduce(e: Expr) -> bool:
    return any(isinstance(x, Reduce) for x in walk(e))


def conjuncts(e: Expr | None) -> list[Expr]:
    if e is None:
        return []
    if isinstance(e, Call) and e.fn == "and":
        return conjuncts(e.args[0]) + conjuncts(e.args[1])
    return [e]


def conjoin(parts: list[Expr]) -> Expr | None:
    out = None
    for p in parts:
        out = p if out is None else Call("and", (out, p), "bool")
    return out


def index_sym(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, integer=True)


_SYM_BIN = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b}


def index_to_sympy(e: Expr) -> sympy.Expr | None:
    """An affine/int index expression as sympy (None if it reads tensors or is not integral)."""
    if isinstance(e, Index):
        return index_sym(e.name)
    if isinstance(e, Const):
        if isinstance(e.value, bool) or not float(e.value).is_integer():
            return None
        return sympy.Integer(int(e.value))
    if isinstance(e, Access) and not e.indices:
        return sympy.Symbol(e.tensor, integer=True)  # an integer scalar parameter
    if isinstance(e, Call) and e.fn == "cast" and e.dtype.startswith(("int", "uint")):
        return index_to_sympy(e.args[0])  # an index widened or narrowed: the same integer
    if isinstance(e, Call):
        args = [index_to_sympy(a) for a in e.args]
        if any(a is None for a in args):
            return None
        if e.fn in _SYM_BIN:
            return _SYM_BIN[e.fn](*args)
        if e.fn == "neg":
            return -args[0]
        if e.fn == "abs":
            return sympy.Abs(args[0])
        if e.fn == "floordiv":
            return sympy.floor(args[0] / args[1])
        if e.fn == "mod":
            return sympy.Mod(args[0], args[1])
        if e.fn in ("max", "fmax"):
            return sympy.Max(*args)
        if e.fn in ("min", "fmin"):
            return sympy.Min(*args)
    return None


def range_of(ranges: tuple[Range, ...], name: str) -> Range | None:
    for r in ranges:
        if r.index == name:
            return r
    return None


def expr_size(e: Expr) -> int:
    return sum(1 for _ in walk(e))


__all__ = [
    "alpha_key", "bound_names", "children", "conjoin", "conjuncts", "expr_size", "free_indices",
    "has_reduce", "index_sym", "index_to_sympy", "map_children", "product", "product_factors",
    "range_of", "reads", "rename_statement_indices", "substitute", "walk",
]  # fmt: skip
