"""Reductions inside a `?:` branch run only where the branch is taken.

Input: canonical TensorIR. Output: the same values, with every reduction that sits in a branch of a
`select(c, a, b)` masked by `c` (in `a`) or `!c` (in `b`), conjoined with its own mask.

Why: lowering computes a reduction's accumulator where its loops are (often hoisted before the
select), so `t - k >= 0 ? sum(c: x(c, t - k) * w(c, k)) : 0` used to read `x` at `t - k < 0` (out
of bounds on cpu, an IndexError on loops) and throw the value away. Masked, the reduction skips
those iterations: it reads nothing, and the select still picks the other branch. The condition
cannot use the reduction's own indices (they are bound inside it), so the mask is well scoped.
"""

from __future__ import annotations

import dataclasses

from tensorc.ir.tensor_ir import Call, Def, Expr, Reduce
from tensorc.ir.tir_utils import conjoin, conjuncts, map_children
from tensorc.ir.verifier import size_value_of


def guard_reductions(def_: Def) -> Def:
    body = tuple(dataclasses.replace(st, rhs=_guard(st.rhs, None)) for st in def_.body)
    return dataclasses.replace(def_, body=body)


def _guard(e: Expr, cond: Expr | None) -> Expr:
    """`e` with `cond` (the branch condition that holds wherever `e` is evaluated) on its
    reductions."""
    if isinstance(e, Call) and e.fn == "select":
        c, a, b = e.args
        not_c = Call("not", (c,), "bool")
        return dataclasses.replace(
            e, args=(_guard(c, cond), _guard(a, _with(cond, c)), _guard(b, _with(cond, not_c)))
        )
    if isinstance(e, Reduce) and cond is not None and size_value_of(e) is None:
        e = dataclasses.replace(e, mask=conjoin([*conjuncts(cond), *conjuncts(e.mask)]))
        return dataclasses.replace(e, body=_guard(e.body, None))
    return map_children(e, lambda x: _guard(x, cond))


def _with(cond: Expr | None, c: Expr) -> Expr:
    return conjoin([*conjuncts(cond), c])
