"""Split a sum of a product over a difference into two sums when that makes both contractions.

Input: canonical TensorIR. Output: the same meaning (up to rounding), where

    sum(j: W(i,j) * (x(i,d) - y(j,d)))  ->  sum(j: W(i,j) * x(i,d)) - sum(j: W(i,j) * y(j,d))

when every factor is a tensor read or a scalar and one side of the difference does not depend on
the summed indices: `hoist_invariants` then takes `x(i,d)` out of its sum (a row sum of W times
x), and the other is a network the planner makes a Gemm. The RBF Gram gradient
`sum(j: dK(i,j) K(i,j) (x(i,d) - x(j,d)))` is this shape: as one sum it streams N^2 D terms with
strided reads; split, it is a Hadamard product, a Gemm and a row sum. A sum whose factors include
a nonlinear term (W1's `exp(...)`) stays whole: split, each half would recompute it.

`expand_squares` (run later) expands a squared distance weighted by plain factors,
`sum(i,j: W |x_i - y_j|^2)`, into row sums times |x_i|^2 and |y_j|^2 and the cross term
`sum(i,d: x(i,d) sum(j: W(i,j) y(j,d)))`: a Gemm and row sums instead of N M D streamed terms
(the RBF Gram gradient's d_gamma, whose Gemm `share_sums` finds in d_x too).
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
        cross = _cross(r, rest, sq, a, b)
        two = Call("mul", (Const(2, r.dtype), cross or terms[2]), r.dtype)
        return Call("sub", (Call("add", tuple(terms[:2]), r.dtype), two), r.dtype)
    return None


def _cross(r: Reduce, rest: list[Expr], sq: Reduce, a: Expr, b: Expr) -> Expr | None:
    """The cross term sum(i,j: W sum(d: a b)) nested as sum(i,d: a sum(j: W b)), the inner sum
    being the Gemm `W b` that the gradient's other statements also read (`share_sums` then
    computes it once); None when a mask or a's indices prevent it."""
    own = [g for g in r.ranges]
    a_own = free_indices(a) & {g.index for g in own}
    inner = tuple(g for g in own if g.index not in a_own)
    if r.mask is not None or not inner or len(inner) == len(own):
        return None
    body = Reduce("sum", inner, product([*rest, b], r.dtype), None, r.dtype)
    outer = tuple(g for g in own if g.index in a_own) + sq.ranges
    return Reduce("sum", outer, product([a, body], r.dtype), None, r.dtype)


def _rewrite(def_: Def, rule) -> Def:
    def expr(e: Expr) -> Expr:
        e = map_children(e, expr)
        if isinstance(e, Reduce) and e.op == "sum":
            return rule(e) or e
        return e

    body = tuple(replace(st, rhs=expr(st.rhs)) for st in def_.body)
    return def_ if body == def_.body else replace(def_, body=body)


def distribute_sums(def_: Def) -> Def:
    return _rewrite(def_, _split)


def expand_squares(def_: Def) -> Def:
    """sum(i,j: W |a_i - b_j|^2) -> row sums and a Gemm (`_expand_square`). Runs late, after the
    first `merge_networks`, so that its nested cross term reaches `share_sums` unmerged."""
    return _rewrite(def_, _expand_square)
