"""Pre-reduce summed indices that occur in one factor only.

Input: canonical TensorIR after inlining. Output: the same meaning (up to rounding), where in a
`sum` whose body is a product, every summed index that only one factor depends on is summed inside
that factor first, into a new temp computed by its own statement just before the reader:
`den(i) = sum(j, d: pq(i,d) * pk(j,d))` becomes `t(d) = sum(j: pk(j,d))` then
`den(i) = sum(d: pq(i,d) * t(d))`.

Why: the implicit-sum rule puts every summed index around the whole product, so W6's normaliser
loops over (i, j, d) — O(N M D) — although `sum_j pk(j,d)` does not depend on i. Summed once it
costs O(M D), and the rest O(N D). Such a sum always costs fewer or as many terms as before.
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
    is_zero,
)
from tensorc.ir.tir_utils import free_indices, product, product_factors, reads, walk
from tensorc.passes.sum_rewriter import SumRewriter, rewrite_sums


class _Presum(SumRewriter):
    """Pre-sums the factors of one statement's sums (see the module docstring)."""

    def rewrite(self, r: Reduce, ranges: dict[str, Range]) -> Expr:
        factors = product_factors(r.body)
        if len(factors) < 2 or any(f.dtype != r.dtype for f in factors):
            return r  # a lone factor has nothing to pre-reduce; keep what the sum accumulates in
        deps = [free_indices(f) for f in factors]
        kept_ranges = list(r.ranges)
        for n, f in enumerate(factors):
            own = [
                g for g in r.ranges
                if g.index in deps[n] and not any(g.index in d for m, d in enumerate(deps) if m != n)
            ]  # fmt: skip
            if not own or not self._movable(f, own, deps[n], ranges):
                continue
            seen = [x.name for x in walk(f) if isinstance(x, Index)] + sorted(deps[n])
            keep = [
                i for i in dict.fromkeys(seen) if i in deps[n] and i not in {g.index for g in own}
            ]
            temp = self._temp(f, own, keep, ranges)
            factors[n] = Access(temp, tuple(Index(i) for i in keep), f.dtype)
            kept_ranges = [g for g in kept_ranges if g not in own]
        if len(kept_ranges) == len(r.ranges):
            return r
        body = product(factors, r.dtype)
        return replace(r, ranges=tuple(kept_ranges), body=body) if kept_ranges else body

    def _movable(self, f: Expr, own: list[Range], deps, ranges: dict[str, Range]) -> bool:
        """The factor can be summed on its own: it does not read the statement's own tensor, and
        every index it keeps, and every summed range, has known bounds starting at 0."""
        if any(a.tensor == self.st.tensor for a, _ in reads(f)):
            return False
        for i in deps:
            g = ranges.get(i)
            if g is None or not is_zero(g.lo) and g not in own:
                return False
            bound = sympy.sympify(g.hi).free_symbols | sympy.sympify(g.lo).free_symbols
            if {str(s) for s in bound} & set(ranges):
                return False  # a bound that depends on another index
        return True

    def _temp(self, f: Expr, own: list[Range], keep: list[str], ranges: dict[str, Range]) -> str:
        what = f.tensor if isinstance(f, Access) else self.st.tensor
        rhs = Reduce("sum", tuple(own), f, None, f.dtype)
        return self.new_temp(f"{what}_sum_{''.join(g.index for g in own)}", rhs, keep, ranges)


def presum_factors(def_: Def) -> Def:
    return rewrite_sums(def_, _Presum)
