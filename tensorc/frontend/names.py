"""Name tables of the front end: builtins, casts, reductions; and the 'did you mean' helper."""

from __future__ import annotations

import difflib

from tensorc.ir.ops import OPS
from tensorc.ir.types import ALIASES

# Operators have their own syntax; everything else in OPS is callable by name.
_OPERATOR_OPS = {
    "add",
    "sub",
    "mul",
    "div",
    "floordiv",
    "mod",
    "neg",
    "lt",
    "le",
    "gt",
    "ge",
    "eq",
    "ne",
    "and",
    "or",
    "not",
    "select",
    "cast",
}

# builtin name as written -> OPS name. TC's CUDA spellings (fabs, expf, ...) are aliases.
BUILTINS: dict[str, str] = {name: name for name in OPS if name not in _OPERATOR_OPS}
BUILTINS.update({"fabs": "abs", "rint": "round", "floordiv": "floordiv", "select": "select"})
BUILTINS.update({f"{name}f": op for name, op in list(BUILTINS.items()) if name.isalpha()})

# TC's CUDA math builtins that tensorc does not implement yet (a clear error, not 'unknown').
TC_UNSUPPORTED = {
    "acosh",
    "asinh",
    "atanh",
    "copysign",
    "cospi",
    "cyl_bessel_i0",
    "cyl_bessel_i1",
    "erfc",
    "erfcinv",
    "erfcx",
    "erfinv",
    "exp10",
    "fdim",
    "fdivide",
    "fmod",
    "hypot",
    "j0",
    "j1",
    "lgamma",
    "logb",
    "nearbyint",
    "nextafter",
    "norm3d",
    "norm4d",
    "normcdf",
    "normcdfinv",
    "rcbrt",
    "remainder",
    "rhypot",
    "rnorm3d",
    "rnorm4d",
    "scalbln",
    "sinpi",
    "tgamma",
    "y0",
    "y1",
}

REDUCERS = (
    "sum",
    "prod",
    "max",
    "min",
    "logsumexp",
    "argmax",
    "argmin",
    "kmin",
    "argkmin",
    "softmax",
)
KNN_REDUCERS = ("kmin", "argkmin")

# `C(i) op= e`: op -> (reduction, elementwise combine with the current value)
ASSIGN_OPS: dict[str, tuple[str, str]] = {
    "+": ("sum", "add"),
    "*": ("prod", "mul"),
    "max": ("max", "max"),
    "min": ("min", "min"),
}

DTYPE_NAMES = ALIASES  # spelling -> canonical dtype

BINARY_OPS = {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "//": "floordiv",
    "%": "mod",
    "==": "eq",
    "!=": "ne",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "&&": "and",
    "||": "or",
}


def did_you_mean(name: str, choices, what: str = "") -> str | None:
    close = difflib.get_close_matches(name, sorted(set(choices)), n=3, cutoff=0.5)
    if close:
        return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    return None
