"""Sums of products in the reference interpreter, contracted pairwise along an opt_einsum path.

`sum(b, c, ...: A(a, b) * B(b, c) * ...)` evaluated point by point builds the whole index space
(a 26-letter chain: GiBs). A sum of a product of plain tensor reads is an einsum, so the
interpreter hands it to opt_einsum, which contracts two operands at a time (np.einsum / tensordot
in the accumulation dtype): memory is that of the largest intermediate, and any number of indices
works (each pairwise step renames its own indices to letters).

Example:
    >>> contract([a, b], [("i", "k"), ("k", "j")], ("i", "j"), np.float64)  # == a @ b
"""

from __future__ import annotations

import math

import numpy as np
import opt_einsum

from tensorc.ir.tensor_ir import Access, Call, Expr, Index, Reduce

__all__ = ["contract", "product_factors", "unused_extent"]


def product_factors(e: Reduce) -> tuple[list[Access], set[str]] | None:
    """The factors of a contractible reduction, `sum(...: X(i, k) * Y(k, j) * ...)` with at least
    two tensor reads indexed by plain indices, no mask, and a numeric (not bool) result; with the
    dtypes of every factor and product (the caller checks they compute alike). None otherwise."""
    if e.op != "sum" or e.mask is not None or e.dtype == "bool":
        return None
    factors: list[Access] = []
    dtypes = {e.dtype}

    def walk(x: Expr) -> bool:
        dtypes.add(x.dtype)
        if isinstance(x, Call) and x.fn == "mul" and len(x.args) == 2:
            return walk(x.args[0]) and walk(x.args[1])
        if isinstance(x, Access) and x.indices and all(isinstance(i, Index) for i in x.indices):
            factors.append(x)
            return True
        return False

    if not walk(e.body) or len(factors) < 2:
        return None
    return factors, dtypes


def contract(
    operands: list[np.ndarray],
    labels: list[tuple[str, ...]],
    output: tuple[str, ...],
    dtype: np.dtype,
) -> np.ndarray:
    """`sum over the labels not in output of prod(operands)`, by index names (any number of them).

    Args:
        operands: arrays, each with one axis per entry of its labels (repeats take diagonals).
        labels: index names per operand.
        output: index names of the result, each in some operand.
        dtype: the accumulation dtype; operands are converted to it first.
    """
    names = list(dict.fromkeys([n for lab in labels for n in lab] + list(output)))
    symbol = {n: opt_einsum.get_symbol(k) for k, n in enumerate(names)}
    spec = ",".join("".join(symbol[n] for n in lab) for lab in labels)
    eq = f"{spec}->{''.join(symbol[n] for n in output)}"
    ops = [np.asarray(op, dtype=dtype) for op in operands]
    if any(0 in op.shape for op in ops):  # opt_einsum's path search has nothing to do here
        size = {n: s for op, lab in zip(ops, labels) for n, s in zip(lab, op.shape)}
        return np.zeros(tuple(size[n] for n in output), dtype)
    out = opt_einsum.contract(eq, *ops, optimize="greedy" if len(ops) > 8 else "auto")
    return np.asarray(out, dtype=dtype)


def unused_extent(ranges: list[tuple[str, int]], labels: list[tuple[str, ...]]) -> int:
    """Product of the extents of summed indices that no factor reads (each repeats the sum)."""
    used = {n for lab in labels for n in lab}
    return math.prod(extent for name, extent in ranges if name not in used)
