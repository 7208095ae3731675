"""Reduction rules of reverse mode: how a cotangent flows into a reduction's body.

`reduce_rules[op](rev, e, g, ctx, groups)` sends the cotangent `g` of the reduction `e` (over the
context `ctx`) into its body through `rev.backprop`: sum broadcasts; logsumexp gives the softmax
weights `exp(body - value)`; max/min/kmin pass it to the element argmax/argmin/argkmin selects
(ties to the first, as the forward); prod multiplies by the product of the other terms (no
division, so zeros are exact). `rev` is the `reverse._Reverse` sweep: its `open`, `hoist` and
`reduce_cotangent` give fresh indices, recomputed values and the cotangent over free indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tensorc.grad.build import call, const, flat_index, index, mul, select, sub, substitute
from tensorc.grad.transpose import Context
from tensorc.ir.tensor_ir import Expr, Reduce
from tensorc.ir.tir_utils import conjoin as conj
from tensorc.ir.types import INDEX

reduce_rules: dict[str, Callable] = {}  # op -> rule; an op without one raises


def _rule(*ops: str):
    def register(fn):
        for op in ops:
            reduce_rules[op] = fn
        return fn

    return register


@_rule("sum")
def _sum(rev, e: Reduce, g: Expr, ctx: Context, groups: dict) -> None:
    _, body, inner = rev.open(e, ctx)
    if e is rev.stmt[3] and ctx is rev.stmt[1]:  # the statement's own top-level sum
        rev.top = (body, inner)
    rev.backprop(body, g, inner, groups)


@_rule("logsumexp")
def _logsumexp(rev, e: Reduce, g: Expr, ctx: Context, groups: dict) -> None:
    value = rev.hoist(e, ctx, "lse")
    g, ctx = rev.reduce_cotangent(e, g, ctx)
    _, body, inner = rev.open(e, ctx)
    rev.backprop(body, mul(g, call("exp", sub(body, value))), inner, groups)


@_rule("max", "min", "kmin")
def _selected(rev, e: Reduce, g: Expr, ctx: Context, groups: dict) -> None:
    arg = {"max": "argmax", "min": "argmin", "kmin": "argkmin"}[e.op]
    chosen = rev.hoist(replace(e, op=arg, dtype=INDEX), ctx, arg)
    g, ctx = rev.reduce_cotangent(e, g, ctx)
    ranges, body, inner = rev.open(e, ctx)
    hit = call("eq", flat_index(ranges), chosen)
    rev.backprop(body, select(hit, g, const(0, g.dtype)), inner, groups)


@_rule("prod")
def _prod(rev, e: Reduce, g: Expr, ctx: Context, groups: dict) -> None:
    g, ctx = rev.reduce_cotangent(e, g, ctx)
    ranges, body, inner = rev.open(e, ctx)
    # the product of the other terms, without dividing by this one (which may be 0)
    others, obody, _ = rev.open(e, Context(()))
    same = conj([call("eq", index(o.index), index(r.index)) for o, r in zip(others, ranges)])
    omask = (
        None
        if e.mask is None
        else substitute(e.mask, {r.index: index(o.index) for r, o in zip(e.ranges, others)})
    )
    rest = Reduce("prod", others, select(same, const(1, e.dtype), obody), omask, e.dtype)
    rev.backprop(body, mul(g, rest), inner, groups)
