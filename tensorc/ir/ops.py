"""The table of `Call` operators shared by every stage.

`OPS[name]` says how many arguments an op takes, how its result dtype follows from its arguments,
and how numpy evaluates it (the meaning every backend must reproduce). Front end, interpreters and
backends all read this table; a new builtin is one row here plus one row in each backend's table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tensorc.ir.types import compute_dtype, is_float, promote


@dataclass(frozen=True, slots=True)
class OpInfo:
    name: str
    arity: int  # -1: variadic (checked by the front end)
    result: str  # "promote": numpy promotion of args; "float": promote then at least float;
    # "bool": comparisons/logic; "first": type of the first arg; "cast": the node's own dtype
    numpy: Callable


def _float_of(*dtypes: str) -> str:
    out = dtypes[0]
    for d in dtypes[1:]:
        out = promote(out, d)
    return out if is_float(out) else "float64"


def result_dtype(op: str, arg_dtypes: tuple[str, ...], cast_to: str | None = None) -> str:
    """Result dtype of `op` applied to arguments of these dtypes (numpy rules)."""
    rule = OPS[op].result
    if rule == "bool":
        return "bool"
    if rule == "cast":
        assert cast_to is not None
        return cast_to
    if rule == "first":
        return arg_dtypes[0]
    if rule == "select":
        return promote(arg_dtypes[1], arg_dtypes[2])
    out = arg_dtypes[0]
    for d in arg_dtypes[1:]:
        out = promote(out, d)
    if rule == "float":
        return _float_of(out)
    return out


def _sign(x):
    return np.sign(x)


def _softplus(x):
    return np.logaddexp(0, x)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _erf(x):
    from math import erf

    return np.vectorize(erf, otypes=[np.asarray(x).dtype])(x)


def _floordiv(a, b):
    return np.floor_divide(a, b)


OPS: dict[str, OpInfo] = {
    o.name: o
    for o in (
        # arithmetic
        OpInfo("add", 2, "promote", np.add),
        OpInfo("sub", 2, "promote", np.subtract),
        OpInfo("mul", 2, "promote", np.multiply),
        OpInfo("div", 2, "float", np.true_divide),
        OpInfo("floordiv", 2, "promote", _floordiv),
        OpInfo("mod", 2, "promote", np.mod),
        OpInfo("neg", 1, "first", np.negative),
        OpInfo("pow", 2, "promote", np.power),
        # comparisons and logic
        OpInfo("lt", 2, "bool", np.less),
        OpInfo("le", 2, "bool", np.less_equal),
        OpInfo("gt", 2, "bool", np.greater),
        OpInfo("ge", 2, "bool", np.greater_equal),
        OpInfo("eq", 2, "bool", np.equal),
        OpInfo("ne", 2, "bool", np.not_equal),
        OpInfo("and", 2, "bool", np.logical_and),
        OpInfo("or", 2, "bool", np.logical_or),
        OpInfo("not", 1, "bool", np.logical_not),
        OpInfo("select", 3, "select", lambda c, a, b: np.where(c, a, b)),
        OpInfo("cast", 1, "cast", lambda x: x),  # the caller applies .astype(node dtype)
        # elementwise two-argument max/min (TC's fmax/fmin and max(a, b))
        OpInfo("max", 2, "promote", np.maximum),
        OpInfo("min", 2, "promote", np.minimum),
        OpInfo("fmax", 2, "promote", np.fmax),
        OpInfo("fmin", 2, "promote", np.fmin),
        OpInfo("clamp", 3, "promote", lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)),
        # math (float results)
        OpInfo("exp", 1, "float", np.exp),
        OpInfo("exp2", 1, "float", np.exp2),
        OpInfo("expm1", 1, "float", np.expm1),
        OpInfo("log", 1, "float", np.log),
        OpInfo("log2", 1, "float", np.log2),
        OpInfo("log10", 1, "float", np.log10),
        OpInfo("log1p", 1, "float", np.log1p),
        OpInfo("sqrt", 1, "float", np.sqrt),
        OpInfo("rsqrt", 1, "float", lambda x: 1 / np.sqrt(x)),
        OpInfo("cbrt", 1, "float", np.cbrt),
        OpInfo("sin", 1, "float", np.sin),
        OpInfo("cos", 1, "float", np.cos),
        OpInfo("tan", 1, "float", np.tan),
        OpInfo("asin", 1, "float", np.arcsin),
        OpInfo("acos", 1, "float", np.arccos),
        OpInfo("atan", 1, "float", np.arctan),
        OpInfo("atan2", 2, "float", np.arctan2),
        OpInfo("sinh", 1, "float", np.sinh),
        OpInfo("cosh", 1, "float", np.cosh),
        OpInfo("tanh", 1, "float", np.tanh),
        OpInfo("erf", 1, "float", _erf),
        OpInfo("sigmoid", 1, "float", _sigmoid),
        OpInfo("softplus", 1, "float", _softplus),
        OpInfo("floor", 1, "float", np.floor),
        OpInfo("ceil", 1, "float", np.ceil),
        OpInfo("round", 1, "float", np.rint),
        OpInfo("trunc", 1, "float", np.trunc),
        OpInfo("fma", 3, "float", lambda a, b, c: a * b + c),
        # sign-preserving
        OpInfo("abs", 1, "first", np.abs),
        OpInfo("sign", 1, "first", _sign),
        OpInfo("relu", 1, "first", lambda x: np.maximum(x, 0)),
    )
}

# Reduction ops of `Reduce` nodes and their identities (value for an empty domain).
REDUCTIONS = ("sum", "prod", "max", "min", "logsumexp", "argmax", "argmin", "kmin", "argkmin")
ARG_REDUCTIONS = ("argmax", "argmin", "argkmin")


def reduce_identity(op: str, dtype: str) -> float | int:
    if op in ARG_REDUCTIONS:
        return -1
    if op == "sum":
        return 0
    if op == "prod":
        return 1
    big = float("inf") if is_float(compute_dtype(dtype)) else np.iinfo(dtype).max
    if op in ("max", "logsumexp"):
        return -big if is_float(compute_dtype(dtype)) else np.iinfo(dtype).min
    return big  # min, kmin
