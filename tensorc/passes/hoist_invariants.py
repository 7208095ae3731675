"""Factor reduction-invariant terms out of sums.

Input: canonical TensorIR. Output: the same meaning (up to rounding), where a `sum` whose body is a
product/quotient keeps inside only the factors that depend on its indices:
`sum(j: a(i,j) * b(j) / c(i))` becomes `sum(j: a(i,j) * b(j)) / c(i)`.

Why: the implicit-sum rule wraps the whole right-hand side, so `o = pq * pk * v / den` sums the
division too; with the invariant `den` outside, the sum is a plain product of tensors that the
contraction planner and the Gemm lowering recognise (W6), and the division runs once per output
instead of once per term.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Call, Def, Expr, Reduce
from tensorc.ir.tir_utils import free_indices, map_children
from tensorc.ir.types import promote


def _split(e: Expr, reduced: set[str]) -> tuple[list[Expr], list[Expr], list[Expr]]:
    """(variant factors, invariant numerator factors, invariant denominators) of a mul/div tree."""
    if isinstance(e, Call) and e.fn == "mul":
        a, b = (_split(x, reduced) for x in e.args)
        return a[0] + b[0], a[1] + b[1], a[2] + b[2]
    if isinstance(e, Call) and e.fn == "div" and not free_indices(e.args[1]) & reduced:
        v, n, d = _split(e.args[0], reduced)
        return v, n, d + [e.args[1]]
    if free_indices(e) & reduced:
        return [e], [], []
    return [], [e], []


def _product(factors: list[Expr]) -> Expr:
    out = factors[0]
    for f in factors[1:]:
        out = Call("mul", (out, f), promote(out.dtype, f.dtype))
    return out


def _hoist(e: Expr) -> Expr:
    e = map_children(e, _hoist)
    if not (isinstance(e, Reduce) and e.op == "sum"):
        return e
    reduced = {r.index for r in e.ranges}
    variant, num, den = _split(e.body, reduced)
    if not variant or not (num or den):
        return e
    # Keep the body's dtype: hoisting must not change what the sum accumulates in.
    if any(f.dtype != e.body.dtype for f in (*num, *den)) or _product(variant).dtype != e.dtype:
        return e
    out: Expr = replace(e, body=_product(variant))
    if num:
        out = Call("mul", (_product(num), out), e.dtype)
    for d in den:
        out = Call("div", (out, d), e.dtype)
    return out


def hoist_invariants(def_: Def) -> Def:
    body = tuple(replace(st, rhs=_hoist(st.rhs)) for st in def_.body)
    return replace(def_, body=body)
