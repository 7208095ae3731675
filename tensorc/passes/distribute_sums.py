"""Split a sum of a product over a difference into two sums when that makes both contractions.

Input: canonical TensorIR. Output: the same meaning (up to rounding), where

    sum(j: W(i,j) * (x(i,d) - y(j,d)))  ->  sum(j: W(i,j) * x(i,d)) - sum(j: W(i,j) * y(j,d))

when every factor is a tensor read or a scalar and one side of the difference does not depend on
the summed indices: `hoist_invariants` then takes `x(i,d)` out of its sum (a row sum of W times
x), and the other is a network the planner makes a Gemm. The RBF Gram gradient
`sum(j: dK(i,j) K(i,j) (x(i,d) - x(j,d)))` is this shape: as one sum it streams N^2 D terms with
strided reads; split, it is a Hadamard product, a Gemm and a row sum. A sum whose factors include
a nonlinear term (W1's `exp(...)`) stays whole: split, each half would recompute it.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Access, Call, Const, Def, Expr, Reduce
from tensorc.ir.tir_utils import free_indices, map_children, product, product_factors


def _plain(e: Expr) -> bool:
    """A product of tensor reads and constants."""
    return all(isinstance(f, (Access, Const)) for f in product_factors(e))


def _split(r: Reduce) -> Expr | None:
    own = {g.index for g in r.ranges}
    factors = product_factors(r.body)
    for n, f in enumerate(factors):
        if not (isinstance(f, Call) and f.fn in ("add", "sub")):
            continue
        rest = factors[:n] + factors[n + 1 :]
        a, b = f.args
        if not rest or not all(_plain(x) for x in (*rest, a, b)):
            continue
        if free_indices(a) & own and free_indices(b) & own:
            continue  # neither side leaves the sum: two passes for nothing
        halves = [replace(r, body=product([*rest, x], r.dtype)) for x in (a, b)]
        return Call(f.fn, tuple(halves), r.dtype)
    return None


def _square_parts(f: Expr, own: set[str]) -> tuple[Reduce, Expr, Expr] | None:
    """(the sum, a, b) if `f` is `sum(d: (a - b) * (a - b))` of plain reads, a and b depending on
    different indices of `own` (the enclosing sum's): a squared distance between two points."""
    if not (isinstance(f, Reduce) and f.op == "sum" and f.mask is None):
        return None
    fs = product_factors(f.body)
    if len(fs) != 2 or fs[0] != fs[1] or not (isinstance(fs[0], Call) and fs[0].fn == "sub"):
        return None
    a, b = fs[0].args
    if not (_plain(a) and _plain(b)) or free_indices(a) & own == free_indices(b) & own:
        return None
    return f, a, b


def _expand_square(r: Reduce) -> Expr | None:
    """sum(i,j: W * sum(d: (a - b)^2)) -> sum(i,j: W sum(d: a a)) + sum(i,j: W sum(d: b b))
    - 2 sum(i,j: W sum(d: a b)) when W is a product of reads: each is then a network (row sums
    and one Gemm) instead of N M D streamed terms (the RBF Gram gradient's d_gamma)."""
    own = {g.index for g in r.ranges}
    factors = product_factors(r.body)
    for n, f in enumerate(factors):
        parts = _square_parts(f, own)
        rest = factors[:n] + factors[n + 1 :]
        if parts is None or not rest or not all(_plain(x) for x in rest):
            continue
        sq, a, b = parts
        terms = [replace(r, body=product([*rest, replace(sq, body=product([x, y], sq.dtype))],
                                         r.dtype)) for x, y in ((a, a), (b, b), (a, b))]  # fmt: skip
        two = Call("mul", (Const(2, r.dtype), terms[2]), r.dtype)
        return Call("sub", (Call("add", tuple(terms[:2]), r.dtype), two), r.dtype)
    return None


def _expr(e: Expr) -> Expr:
    e = map_children(e, _expr)
    if isinstance(e, Reduce) and e.op == "sum":
        split = _split(e)
        if split is None:
            split = _expand_square(e)
        if split is not None:
            return split
    return e


def distribute_sums(def_: Def) -> Def:
    body = tuple(replace(st, rhs=_expr(st.rhs)) for st in def_.body)
    return def_ if body == def_.body else replace(def_, body=body)
