"""Store a pointwise product of input tensors that several sums read.

Input: canonical TensorIR. Output: the same meaning (up to rounding), where a product of two or
more input reads over the same indices (`dK(i,j) * K(i,j)`), found among the factors of at least
two sums, anywhere in the def and under any index names (`dK(i1,i) * K(i1,i)` is the same
product), is a temp `p(a,b) = dK(a,b) * K(a,b)` computed once before its first reader:

    d_x(i,d) = sum(j: dK(i,j) K(i,j) x(j,d)) + sum(i1: dK(i1,i) K(i1,i) x(i1,d)) + ...
    ->  p(a,b) = dK(a,b) K(a,b);  d_x(i,d) = sum(j: p(i,j) x(j,d)) + sum(i1: p(i1,i) x(i1,d)) + ...

Why: the planner materialises such a Hadamard step for each network it is an operand of (the RBF
Gram gradient's two Gemms, its row and column sums and d_gamma each read dK and K); stored once,
it is no bigger than one of its inputs and every reader streams one array instead of two. Runs
after `inline_temps`, which would substitute the product back (it has no reduction).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import sympy

from tensorc.ir.tensor_ir import Access, Def, Expr, Index, Range, Reduce, Statement, TensorDecl
from tensorc.ir.tir_utils import free_indices, map_children, product, product_factors, walk
from tensorc.ir.types import is_float


def _candidate(f: Expr, inputs: dict[str, TensorDecl]) -> bool:
    return (
        isinstance(f, Access)
        and f.tensor in inputs
        and len(f.indices) >= 2
        and all(isinstance(i, Index) for i in f.indices)
        and len({i.name for i in f.indices}) == len(f.indices)
        and is_float(f.dtype)
    )


def _products(body: Expr, inputs: dict[str, TensorDecl]):
    """(key, factor positions, canonical index order) of the shareable product among `body`'s
    factors: the reads over one index set with the most factors (two at least)."""
    factors = product_factors(body)
    groups: dict[frozenset, list[int]] = {}
    for n, f in enumerate(factors):
        if _candidate(f, inputs):
            groups.setdefault(frozenset(i.name for i in f.indices), []).append(n)
    best = max((g for g in groups.values() if len(g) >= 2), key=len, default=None)
    if best is None:
        return None
    reads = sorted((factors[n] for n in best), key=lambda a: a.tensor)
    if len({a.dtype for a in reads}) != 1:
        return None
    order: list[str] = []  # the index names in order of first appearance: the temp's axes
    for a in reads:
        order += [i.name for i in a.indices if i.name not in order]
    axis = {name: k for k, name in enumerate(order)}
    key = tuple((a.tensor, tuple(axis[i.name] for i in a.indices)) for a in reads)
    return key, best, order


def _shapes_agree(key, inputs: dict[str, TensorDecl]) -> tuple | None:
    """The temp's shape: each axis's extent, the same in every factor's declaration."""
    shape: dict[int, object] = {}
    for tensor, axes in key:
        for ax, dim in zip(axes, inputs[tensor].shape):
            if shape.setdefault(ax, dim) != dim:
                return None
    return tuple(shape[k] for k in range(len(shape)))


def share_products(def_: Def) -> Def:
    inputs = {t.name: t for t in def_.inputs}
    count: Counter = Counter()
    operand: set = set()  # products some sum multiplies by another tensor (a network operand)
    for st in def_.body:
        for x in walk(st.rhs):
            if isinstance(x, Reduce) and x.op == "sum":
                found = _products(x.body, inputs)
                if found is not None:
                    count[found[0]] += 1
                    fs = product_factors(x.body)
                    if any(n not in found[1] and free_indices(f) for n, f in enumerate(fs)):
                        operand.add(found[0])
    shared = {}
    used = {t.name for t in (*def_.inputs, *def_.outputs, *def_.temps)}
    for key, n in count.items():
        shape = _shapes_agree(key, inputs)
        # a product that is a whole sum's body everywhere (attention's sum(e: dO o)) is a dot
        # product per row: sharing would store N x E to save nothing
        if n >= 2 and key in operand and shape is not None:
            name = "_".join(t for t, _ in key) + "_prod"
            while name in used:
                name += "_"
            used.add(name)
            shared[key] = (name, shape)
    if not shared:
        return def_

    def rewrite(e: Expr) -> Expr:
        e = map_children(e, rewrite)
        if not (isinstance(e, Reduce) and e.op == "sum"):
            return e
        found = _products(e.body, inputs)
        if found is None or found[0] not in shared:
            return e
        key, positions, order = found
        factors = product_factors(e.body)
        read = Access(shared[key][0], tuple(Index(i) for i in order), factors[positions[0]].dtype)
        rest = [f for n, f in enumerate(factors) if n not in positions]
        return replace(e, body=product([read, *rest], e.body.dtype))

    body: list[Statement] = []
    temps = list(def_.temps)
    pending = dict(shared)
    for st in def_.body:
        new = replace(st, rhs=rewrite(st.rhs))
        for key, (name, shape) in list(pending.items()):
            if any(isinstance(x, Access) and x.tensor == name for x in walk(new.rhs)):
                body.append(_statement(name, key, shape, inputs))
                temps.append(TensorDecl(name, body[-1].rhs.dtype, shape, "temp"))
                del pending[key]
        body.append(new)
    return replace(def_, body=tuple(body), temps=tuple(temps))


def _statement(name: str, key, shape: tuple, inputs: dict[str, TensorDecl]) -> Statement:
    idx = tuple(f"a{k}" for k in range(len(shape)))
    reads = [
        Access(t, tuple(Index(idx[ax]) for ax in axes), inputs[t].dtype) for t, axes in key
    ]
    dtype = reads[0].dtype
    domain = tuple(Range(i, sympy.Integer(0), sympy.sympify(d)) for i, d in zip(idx, shape))
    return Statement(name, idx, domain, product(reads, dtype))
