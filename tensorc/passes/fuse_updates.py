"""Fuse pointwise in-place updates into the statement that defined the tensor.

Input: canonical TensorIR. Output: the same meaning, where a statement `T(idx) = f(T(idx), ...)`
that directly follows `T(idx) = g(...)` over the same domain (neither masked, `g` not reading `T`,
and `f` reading `T` only at its own LHS point) is one statement `T(idx) = f(g(...), ...)`.
TC's fcrelu chain `O = x W; O = O + b; O = relu(O)` becomes one statement, so the lowering computes
the sum and applies the epilogue while the value is still in a register.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Access, Def, Index, Statement
from tensorc.ir.tir_utils import reads, rename_statement_indices, substitute, walk


def _pointwise_reads(st: Statement, tensor: str) -> bool:
    for acc, _ in reads(st.rhs):
        if acc.tensor == tensor and acc.indices != tuple(Index(i) for i in st.indices):
            return False
    return True


def _same_domain(a: Statement, b: Statement) -> bool:
    return all(
        (ra.lo - rb.lo).equals(0) and (ra.hi - rb.hi).equals(0) for ra, rb in zip(a.domain, b.domain)
    )


def _fusable(first: Statement, second: Statement) -> bool:
    if first.tensor != second.tensor or first.mask is not None or second.mask is not None:
        return False
    if len(set(first.indices)) != len(first.indices) or len(set(second.indices)) != len(second.indices):
        return False
    if any(isinstance(x, Access) and x.tensor == first.tensor for x in walk(first.rhs)):
        return False
    return _same_domain(first, second) and _pointwise_reads(second, second.tensor)


def fuse_one(first: Statement, second: Statement) -> Statement:
    ren = rename_statement_indices(first, dict(zip(first.indices, second.indices)))
    target = tuple(Index(i) for i in second.indices)

    def sub(e):
        from tensorc.ir.tir_utils import map_children

        if isinstance(e, Access) and e.tensor == second.tensor and e.indices == target:
            return ren.rhs
        return map_children(e, sub)

    return replace(second, rhs=sub(second.rhs), span=second.span or first.span)


def fuse_updates(def_: Def) -> Def:
    out: list[Statement] = []
    for st in def_.body:
        if out and _fusable(out[-1], st):
            out[-1] = fuse_one(out[-1], st)
        else:
            out.append(st)
    return replace(def_, body=tuple(out))


__all__ = ["fuse_updates", "substitute"]
