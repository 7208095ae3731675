"""Merge nested contractions into one tensor network.

Input: canonical TensorIR. Output: the same meaning (up to rounding), where a `sum` whose body is a
product of plain tensor reads and scalars, one of which is itself such a `sum`, is one `sum` over
both sets of indices with one flat product (tensor factors first, in order, then the scalars):
`sum(j: sum(d: q(i,d) * k(j,d)) * v(j,e))` becomes `sum(j, d: q(i,d) * k(j,d) * v(j,e))`.

Why: a network written in steps (nested sums, or temporaries that `inline_temps` substitutes:
stepwise Tucker, pairwise MPS environments, linear attention through `A(i,j)`) then reaches the
contraction planner whole, which picks the cheapest pairwise order (`q (k^T v)`: O(N D E) instead
of O(N M (D + E))). Only pure networks are merged: with a nonlinear factor the nested form lets the
lowering hoist the inner sum, and the flat one would not.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Access, Const, Def, Expr, Index, Reduce
from tensorc.ir.tir_utils import free_indices, map_children, product, product_factors, substitute


def _scalar(e: Expr) -> bool:
    return isinstance(e, Const) or isinstance(e, Access) and not e.indices


def _tensor(e: Expr) -> bool:
    return (
        isinstance(e, Access) and bool(e.indices) and all(isinstance(i, Index) for i in e.indices)
    )


def is_network(r: Expr) -> bool:
    """A plain sum (no mask) of a product of tensor reads with plain indices and scalars."""
    if not (isinstance(r, Reduce) and r.op == "sum" and r.mask is None):
        return False
    return all(_tensor(f) or _scalar(f) for f in product_factors(r.body))


def _merge(r: Reduce) -> Expr:
    """`r` with every factor that is a network (itself merged first) spliced into it."""
    factors = product_factors(r.body)
    if not any(isinstance(f, Reduce) for f in factors):
        return r
    if any(f.dtype != r.dtype for f in factors):
        return r  # the sum would accumulate in another dtype
    inner = [_merge(f) if isinstance(f, Reduce) else f for f in factors]
    if not all(is_network(f) or _tensor(f) or _scalar(f) for f in inner):
        return r
    ranges = list(r.ranges)
    flat: list[Expr] = []
    taken = {g.index for g in ranges} | set(free_indices(r))
    for f in inner:
        if not isinstance(f, Reduce):
            flat.append(f)
            continue
        rename = {}
        used = taken | set(free_indices(f.body))
        for g in f.ranges:  # the inner indices get names no other factor uses
            name, n = g.index, 1
            while name in taken or name != g.index and name in used:
                name, n = f"{g.index}_{n}", n + 1
            taken.add(name)
            rename[g.index] = name
            ranges.append(replace(g, index=name))
        body = substitute(f.body, {k: Index(v) for k, v in rename.items() if k != v})
        flat += product_factors(body)
    ordered = [f for f in flat if not _scalar(f)] + [f for f in flat if _scalar(f)]
    return replace(r, ranges=tuple(ranges), body=product(ordered, r.dtype))


def merged(e: Expr) -> Expr:
    """`e` with every nested network merged (bottom-up)."""
    e = map_children(e, merged)
    return _merge(e) if isinstance(e, Reduce) and e.op == "sum" and e.mask is None else e


def merge_networks(def_: Def) -> Def:
    body = tuple(replace(st, rhs=merged(st.rhs)) for st in def_.body)
    return replace(def_, body=body)
