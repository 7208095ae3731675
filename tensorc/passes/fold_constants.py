"""Constant folding and trivial algebra on TensorIR.

Input: canonical TensorIR (see `tensorc.ir.tensor_ir`). Output: the same, where every `Call` whose
arguments are all constants is one `Const` (computed with the op's numpy rule and the node's dtype),
and `x * 1`, `1 * x`, `x + 0`, `0 + x`, `x - 0`, `x / 1`, `--x` are `x` when the dtypes agree.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tensorc.ir.ops import OPS
from tensorc.ir.tensor_ir import Call, Const, Def, Expr
from tensorc.ir.tir_utils import map_children


def _is(e: Expr, v) -> bool:
    return isinstance(e, Const) and not isinstance(e.value, bool) and e.value == v


def fold_expr(e: Expr) -> Expr:
    e = map_children(e, fold_expr)
    if not isinstance(e, Call):
        return e
    if e.fn not in ("cast",) and e.args and all(isinstance(a, Const) for a in e.args):
        from tensorc.ir.loop_interpreter import np_dtype

        with np.errstate(all="ignore"):
            vals = [np_dtype(a.dtype).type(a.value) for a in e.args]
            out = np.asarray(OPS[e.fn].numpy(*vals)).astype(np_dtype(e.dtype))[()]
        return Const(out.item(), e.dtype)
    if e.fn == "cast" and isinstance(e.args[0], Const):
        from tensorc.ir.loop_interpreter import np_dtype

        return Const(np.asarray(e.args[0].value).astype(np_dtype(e.dtype)).item(), e.dtype)
    a = e.args
    same = lambda x: x.dtype == e.dtype
    if e.fn == "mul":
        if _is(a[1], 1) and same(a[0]):
            return a[0]
        if _is(a[0], 1) and same(a[1]):
            return a[1]
    if e.fn == "add":
        if _is(a[1], 0) and same(a[0]):
            return a[0]
        if _is(a[0], 0) and same(a[1]):
            return a[1]
    if e.fn == "sub" and _is(a[1], 0) and same(a[0]):
        return a[0]
    if e.fn == "div" and _is(a[1], 1) and same(a[0]):
        return a[0]
    if e.fn == "neg" and isinstance(a[0], Call) and a[0].fn == "neg" and same(a[0].args[0]):
        return a[0].args[0]
    return e


def fold_constants(def_: Def) -> Def:
    body = tuple(
        replace(s, rhs=fold_expr(s.rhs), mask=None if s.mask is None else fold_expr(s.mask))
        for s in def_.body
    )
    return replace(def_, body=body)
