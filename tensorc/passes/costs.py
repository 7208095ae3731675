"""The prices the passes compare, in one place: when a stored operand read by a Gemm beats an
expression computed inside the reader's loops (`inline_temps` keeps such a temp,
`extract_operands` makes one).

A sum of a product becomes a Gemm only if each of its factors is a stored tensor. Storing a factor
costs one pass over its elements; computing it in place costs a strided dot product per output
instead of a blocked Gemm (a 2-layer MLP with `h` inlined: 70x numpy). Below GEMM_MIN_K summed
terms or GEMM_MIN_N columns the Gemm does not pay for the store (W1's D = 3, E = 1: the fused loop
nest, which never stores the kernel matrix, is as fast). Unknown sizes count as PLAN_SIZE.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy

from tensorc.ir.tensor_ir import Access, Expr, Index, Range, Reduce
from tensorc.ir.tir_utils import product_factors, walk
from tensorc.passes.merge_networks import is_network

GEMM_MIN_K = 16  # terms summed per output of the reader's Gemm
GEMM_MIN_N = 16  # columns of the reader's Gemm (the other operands' free indices)
PLAN_SIZE = 64
# A reduction temp read inside another reduction, across loops over the reader's own indices it
# does not use, is inlined only if those loops hold at most HOIST_MAX points: the lowering hoists
# it and keeps accumulator arrays over them (W4's e: 64). Beyond that (the attention gradient's
# lse(i) read in dv(j, e) = sum(i: ...): M x E accumulators per thread, or a recomputation per
# (j, e)) the temp is stored: one small buffer, computed once.
HOIST_MAX = 4096
# A Gemm operand temp more than STORE_RATIO times bigger than the def's largest input is an
# interaction matrix (the attention gradient's dS(i, j): N x M against q's N x D): it is inlined
# and its readers compute it tile by tile (tensorc.schedule.tiles) instead of storing it.
STORE_RATIO = 8


def volume(ranges: Iterable[Range], sizes: dict[str, int] | None) -> int:
    """The number of points of `ranges` at `sizes`."""
    return shape_volume([g.hi - g.lo for g in ranges], sizes)


def shape_volume(shape, sizes: dict[str, int] | None) -> int:
    """The number of elements of a tensor of `shape` (sympy extents) at `sizes`."""
    out = 1
    for ext in shape:
        ext = sympy.sympify(ext)
        ext = ext.subs({s: (sizes or {}).get(str(s), PLAN_SIZE) for s in ext.free_symbols})
        out *= max(int(ext), 0) if ext.is_number else PLAN_SIZE
    return out


def gemm_pays(
    operand: set[str],
    summed: dict[str, Range],
    others: list[Access],
    scope: dict[str, Range],
    sizes: dict[str, int] | None,
) -> bool:
    """Whether a sum over `summed` of an operand over the indices `operand` times the tensors
    `others` is a Gemm big enough that storing the operand pays (see the module docstring).
    `scope` gives the ranges of the other indices."""
    k = [g for i, g in summed.items() if i in operand]
    cols = {i.name for o in others for i in o.indices if isinstance(i, Index)}
    n = [scope[i] for i in cols - operand - set(summed) if i in scope]
    if not others or not k:
        return False
    return volume(k, sizes) >= GEMM_MIN_K and volume(n, sizes) >= GEMM_MIN_N


def only_gemms(e: Expr, sizes: dict[str, int] | None) -> bool:
    """Whether every reduction in `e` is a big Gemm (a network of >= 2 tensors summing at least
    GEMM_MIN_K terms): such an expression is worth storing for a Gemm that reads it; W1's
    exp(-|x - y|^2), a sum of a nonlinear term, stays fused in its reader."""
    for r in (x for x in walk(e) if isinstance(x, Reduce)):
        tensors = [f for f in product_factors(r.body) if isinstance(f, Access) and f.indices]
        if not is_network(r) or len(tensors) < 2 or volume(r.ranges, sizes) < GEMM_MIN_K:
            return False
    return True
