"""Re-extract the operands of a Gemm that a spelling computes inline.

Input: canonical TensorIR after inlining and the softmax normal form. Output: the same meaning,
where in a `sum` of a product, each factor that is not a stored tensor -- `relu(sum(k: x W1) +
b1)` in a one-statement MLP, `relu(q(i,d))` in linear attention -- is computed by its own
statement into a new temp just before the reader, when the product would then be a Gemm that pays
for the store (`costs.gemm_pays`, at the call's sizes: without sizes nothing is extracted) and the
temp is no larger than the largest input:

    y(b,o) = sum(j: relu(sum(k: x(b,k) * W1(k,j)) + b1(j)) * W2(j,o))
 -> y_op(b,j) = relu(sum(k: x(b,k) * W1(k,j)) + b1(j));  y(b,o) = sum(j: y_op(b,j) * W2(j,o))

Why: written inline, the factor is recomputed (or at best hoisted) inside the reader's loops and
neither the reader nor the factor's own contraction is a Gemm (58-107x numpy for the MLP). Softmax
normal forms (`exp(a - logsumexp(a))`) are left to the online-softmax lowering.
"""

from __future__ import annotations

from dataclasses import replace

import sympy

from tensorc.ir.tensor_ir import (
    Access,
    Def,
    Expr,
    Index,
    Range,
    Reduce,
    Statement,
    is_zero,
)
from tensorc.ir.tir_utils import free_indices, product, product_factors, reads, walk
from tensorc.passes.costs import gemm_pays, only_gemms, volume
from tensorc.passes.sum_rewriter import SumRewriter, rewrite_sums


def _plain(f: Expr) -> bool:
    return isinstance(f, Access) and (not f.indices or all(isinstance(i, Index) for i in f.indices))


class _Extractor(SumRewriter):
    """Extracts the loose Gemm operands of one statement's sums (see the module docstring)."""

    def __init__(self, def_: Def, st: Statement, taken: set[str], sizes, biggest: int):
        super().__init__(def_, st, taken)
        self.sizes = sizes
        self.biggest = biggest  # elements of the largest input: no new temp is bigger

    def rewrite(self, r: Reduce, scope: dict[str, Range]) -> Expr:
        factors = product_factors(r.body)
        loose = [n for n, f in enumerate(factors) if not _plain(f)]
        if not loose or any(not only_gemms(factors[n], self.sizes) for n in loose):
            return r  # softmax weights (logsumexp) and W1's exp(-|x - y|^2) stay fused
        summed = {g.index: g for g in r.ranges}
        stand_in = {n: self._stand_in(factors[n]) for n in loose}
        if any(not self._storable(factors[n], scope) for n in loose):
            return r
        for n in loose:
            mine = set(free_indices(factors[n]))
            others = [stand_in.get(m, f) for m, f in enumerate(factors) if m != n]
            tensors = [f for f in others if isinstance(f, Access) and f.indices]
            if not mine & set(summed) or not gemm_pays(mine, summed, tensors, scope, self.sizes):
                return r
        for n in loose:
            factors[n] = self._temp(factors[n], stand_in[n], scope)
        return replace(r, body=product(factors, r.body.dtype))

    @staticmethod
    def _stand_in(f: Expr) -> Access:
        """The access that will replace `f` (its free indices in order of first use)."""
        seen = [x.name for x in walk(f) if isinstance(x, Index)]
        keep = [i for i in dict.fromkeys(seen) if i in free_indices(f)]
        return Access("%operand", tuple(Index(i) for i in keep), f.dtype)

    def _storable(self, f: Expr, scope: dict[str, Range]) -> bool:
        """`f` can be its own statement: it reads neither the statement's own tensor nor through
        an indirect index, its indices have 0-based ranges over sizes, and it is not bigger than
        the largest input."""
        if any(a.tensor == self.st.tensor for a, _ in reads(f)):
            return False
        mine = free_indices(f)
        if not mine or any(i not in scope or not is_zero(scope[i].lo) for i in mine):
            return False
        for i in mine:
            bound = sympy.sympify(scope[i].hi).free_symbols
            if {str(s) for s in bound} & set(scope):
                return False  # a bound that depends on another index
        return volume([scope[i] for i in mine], self.sizes) <= self.biggest

    def _temp(self, f: Expr, stand_in: Access, scope: dict[str, Range]) -> Access:
        keep = [i.name for i in stand_in.indices]
        return replace(stand_in, tensor=self.new_temp(f"{self.st.tensor}_op", f, keep, scope))


def extract_operands(def_: Def, sizes: dict[str, int] | None = None) -> Def:
    if sizes is None:
        return def_  # a new buffer is priced at the call's sizes only
    biggest = max((volume([Range("_", sympy.Integer(0), d) for d in decl.shape], sizes)
                   for decl in def_.inputs), default=0)  # fmt: skip
    return rewrite_sums(def_, lambda d, st, taken: _Extractor(d, st, taken, sizes, biggest))
