"""Per-op Triton syntax: `op_rules[name]` is a format string over the already-cast arguments.

Arguments arrive cast to the op's compute dtype (fp16/bf16 compute in fp32), so every rule is a
plain expression. Ops Triton's core language lacks are small `@triton.jit` helpers (`HELPERS`)
emitted into the generated module only when used: on a GPU they call libdevice, under
`TRITON_INTERPRET=1` (which has no libdevice) they fall back to formulas over core ops.
"""

from __future__ import annotations

import re

from tensorc.errors import UnsupportedError
from tensorc.ir import loop_ir as L
from tensorc.ir.ops import OPS
from tensorc.ir.types import compute_dtype, is_float, promote

from .values import _BOOL_OPS, Val, cast

# name -> Triton expression over "{0}", "{1}", "{2}"; int/float variants where semantics differ.
op_rules: dict[str, str] = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "div": "({0} / {1})",
    "neg": "(-{0})",
    "lt": "({0} < {1})",
    "le": "({0} <= {1})",
    "gt": "({0} > {1})",
    "ge": "({0} >= {1})",
    "eq": "({0} == {1})",
    "ne": "({0} != {1})",
    "and": "({0} & {1})",
    "or": "({0} | {1})",
    "not": "(~{0})",
    "select": "tl.where({0}, {1}, {2})",
    "fmax": "tl.maximum({0}, {1})",
    "fmin": "tl.minimum({0}, {1})",
    "exp": "tl.exp({0})",
    "exp2": "tl.exp2({0})",
    "log": "tl.log({0})",
    "log2": "tl.log2({0})",
    "sqrt": "tl.sqrt_rn({0})",
    "rsqrt": "tl.rsqrt({0})",
    "sin": "tl.sin({0})",
    "cos": "tl.cos({0})",
    "erf": "tl.erf({0})",
    "floor": "tl.floor({0})",
    "ceil": "tl.ceil({0})",
    "fma": "tl.fma({0}, {1}, {2})",
    "abs": "tl.abs({0})",
    "sigmoid": "(1.0 / (1.0 + tl.exp(-{0})))",
    "softplus": "(tl.maximum({0}, 0.0) + _log1p(tl.exp(-tl.abs({0}))))",
    "relu": "tl.where({0} > 0, {0}, {0} * 0)",
    "trunc": "tl.where({0} < 0, tl.ceil({0}), tl.floor({0}))",
    "tan": "(tl.sin({0}) / tl.cos({0}))",
    "expm1": "_expm1({0})",
    "log1p": "_log1p({0})",
    "log10": "_log10({0})",
    "cbrt": "_cbrt({0})",
    "atan": "_atan({0})",
    "atan2": "_atan2({0}, {1})",
    "asin": "_atan2({0}, tl.sqrt(1.0 - {0} * {0}))",
    "acos": "_atan2(tl.sqrt(1.0 - {0} * {0}), {0})",
    "sinh": "((_expm1({0}) - _expm1(-{0})) * 0.5)",
    "cosh": "((tl.exp({0}) + tl.exp(-{0})) * 0.5)",
    "tanh": "_tanh({0})",
    "round": "_rint({0})",
    "pow": "_pow({0}, {1})",
}

# Variants keyed "op:d" (float64), "op:f" (float), "op:i" (integer), "op:b" (bool) where the
# syntax differs.
typed_rules: dict[str, str] = {
    # numpy: bool + bool is `or`, bool * bool is `and` (int1 arithmetic would wrap 1 + 1 to 0)
    "add:b": "({0} | {1})",
    "mul:b": "({0} & {1})",
    "sqrt:d": "tl.sqrt({0})",  # sqrt_rn is fp32-only; fp64 sqrt is correctly rounded anyway
    # numpy floors (Python semantics); Triton's `//` and `%` truncate like C.
    "floordiv:i": "_floordiv({0}, {1})",
    "floordiv:f": "tl.floor({0} / {1})",
    "mod:i": "_mod({0}, {1})",
    "mod:f": "_mod({0}, {1})",
    # numpy maximum/minimum propagate NaN; fmax/fmin ignore it.
    "max:f": "tl.maximum({0}, {1}, propagate_nan=tl.PropagateNan.ALL)",
    "min:f": "tl.minimum({0}, {1}, propagate_nan=tl.PropagateNan.ALL)",
    "max:i": "tl.maximum({0}, {1})",
    "min:i": "tl.minimum({0}, {1})",
    "clamp:f": "tl.minimum(tl.maximum({0}, {1}, propagate_nan=tl.PropagateNan.ALL), {2},"
    " propagate_nan=tl.PropagateNan.ALL)",
    "clamp:i": "tl.minimum(tl.maximum({0}, {1}), {2})",
    "abs:i": "tl.where({0} < 0, -{0}, {0})",
    "relu:i": "tl.maximum({0}, 0)",
    "sign:f": "tl.where({0} > 0, 1.0, tl.where({0} < 0, -1.0, {0} * 0))",
    "sign:i": "tl.where({0} > 0, 1, tl.where({0} < 0, -1, 0))",
}

# Helper functions: name -> (source, helpers it calls). `_INTERPRET` is a module constexpr.
HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "_floordiv": (
        """@triton.jit
def _floordiv(a, b):
    q = a // b
    return tl.where((q * b != a) & ((a < 0) != (b < 0)), q - 1, q)
""",
        (),
    ),
    "_mod": (
        """@triton.jit
def _mod(a, b):
    r = a % b
    return tl.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)
""",
        (),
    ),
    "_expm1": (
        """@triton.jit
def _expm1(x):
    if _INTERPRET:
        u = tl.exp(x)
        y = tl.where(u == 1.0, x, (u - 1.0) * x / tl.log(u))
        y = tl.where((u == 0.0) | (u == float("inf")), u - 1.0, y)
    else:
        y = libdevice.expm1(x)
    return y
""",
        (),
    ),
    "_log1p": (
        """@triton.jit
def _log1p(x):
    if _INTERPRET:
        u = 1.0 + x
        y = tl.where(u == 1.0, x, tl.log(u) * x / (u - 1.0))
    else:
        y = libdevice.log1p(x)
    return y
""",
        (),
    ),
    "_log10": (
        """@triton.jit
def _log10(x):
    if _INTERPRET:
        y = tl.log(x) * 0.4342944819032518
    else:
        y = libdevice.log10(x)
    return y
""",
        (),
    ),
    "_cbrt": (
        """@triton.jit
def _cbrt(x):
    if _INTERPRET:
        a = tl.abs(x)
        y = tl.exp2(tl.log2(a) / 3.0)
        y = y - (y * y * y - a) / (3.0 * y * y)
        y = tl.where(a == 0, x, tl.where(x < 0, -y, y))
    else:
        y = libdevice.cbrt(x)
    return y
""",
        (),
    ),
    "_atan": (
        """@triton.jit
def _atan(x):
    if _INTERPRET:
        a = tl.abs(x)
        inv = a > 1.0
        z = tl.where(inv, 1.0 / a, a)
        big = z > 0.2679491924311227
        t = tl.where(big, (z - 0.5773502691896258) / (1.0 + z * 0.5773502691896258), z)
        t2 = t * t
        p = t * (1.0 + t2 * (-0.3333333333333333 + t2 * (0.2 + t2 * (-0.14285714285714285
            + t2 * (0.1111111111111111 + t2 * -0.09090909090909091)))))
        p = tl.where(big, p + 0.5235987755982988, p)
        p = tl.where(inv, 1.5707963267948966 - p, p)
        y = tl.where(x < 0, -p, p)
    else:
        y = libdevice.atan(x)
    return y
""",
        (),
    ),
    "_atan2": (
        """@triton.jit
def _atan2(y, x):
    if _INTERPRET:
        r = _atan(y / x)
        r = tl.where(x < 0, tl.where(y < 0, r - 3.141592653589793, r + 3.141592653589793), r)
    else:
        r = libdevice.atan2(y, x)
    return r
""",
        ("_atan",),
    ),
    "_tanh": (
        """@triton.jit
def _tanh(x):
    if _INTERPRET:
        e = _expm1(-2.0 * tl.abs(x))
        t = -e / (2.0 + e)
        y = tl.where(x < 0, -t, t)
    else:
        y = libdevice.tanh(x)
    return y
""",
        ("_expm1",),
    ),
    "_rint": (
        """@triton.jit
def _rint(x):
    if _INTERPRET:
        r = tl.floor(x + 0.5)
        half = (r - x) == 0.5
        odd = (r - 2.0 * tl.floor(r * 0.5)) != 0
        y = tl.where(half & odd, r - 1.0, r)
    else:
        y = libdevice.rint(x)
    return y
""",
        (),
    ),
    "_pow": (
        """@triton.jit
def _pow(a, b):
    if _INTERPRET:
        y = tl.exp2(b * tl.log2(a))
    else:
        y = libdevice.pow(a, b)
    return y
""",
        (),
    ),
}


def helpers_in(code: str) -> list[str]:
    """Names of the helpers a piece of generated code calls, with their own dependencies."""
    out: list[str] = []

    def add(name: str) -> None:
        if name in out:
            return
        for dep in HELPERS[name][1]:
            add(dep)
        out.append(name)

    for name in sorted(HELPERS):
        if name + "(" in code:
            add(name)
    return out


# --- applying an op -------------------------------------------------------------------------
LOG2E = 1.4426950408889634


def render_call(w, e: L.Call) -> Val:
    """`e` applied to its rendered arguments by `w` (a KernelWriter): arguments cast to the op's
    compute dtype, the op's rule filled in (an argument used twice is bound to a name first).

    fp32 `exp(u * c)` / `exp(u / c)` with c uniform becomes `exp2(u * k)`, k = c * log2(e) or
    log2(e) / c: one multiply per element where tl.exp pays a divide (or multiply) and its own
    multiply by log2(e) (as the CPU backend folds it)."""
    if e.fn not in OPS:
        raise UnsupportedError(f"triton backend: unknown op {e.fn!r}")
    a = e.args[0] if e.fn == "exp" else None
    if isinstance(a, L.Call) and a.fn in ("mul", "div") and a.dtype == "float32":
        u, c = (cast(w.expr(x), "float32") for x in a.args)
        if a.fn == "mul" and c.varying:
            u, c = c, u
        if u.varying and not c.varying:
            k, back = _exp2_factor(w, c.code, a.fn)
            return cast(Val(f"tl.exp2(({u.code} * {k}) * {back})", "float32", True), e.dtype)
        return apply_op(w, e, [apply_op(w, a, [u, c])])
    return apply_op(w, e, [w.expr(x) for x in e.args])


def _exp2_factor(w, c: str, fn: str) -> tuple[str, str]:
    """c * log2(e) ("mul") or log2(e) / c ("div") as k * back: computed in float64 and split off
    a power of two `back` so that the float32 k is normal even for a subnormal or huge c (sigma =
    1e-20 made log2(e) / (2 sigma^2) inf and exp(-0 / (2 sigma^2)) NaN), as the CPU backend does;
    the interpreter's exp(u / c) up to rounding, for one more multiply per element."""
    c64 = f"tl.cast({c}, tl.float64)"
    k64 = w.bind("_k", f"{c64} * {LOG2E}" if fn == "mul" else f"{LOG2E} / {c64}")
    scale = w.bind("_ks", f"tl.where(tl.abs({k64}) > {2.0**100}, {2.0**-64}, "
                          f"tl.where(tl.abs({k64}) < {2.0**-100}, {2.0**64}, 1.0))")
    k = w.bind("_k1", f"tl.cast({k64} * {scale}, tl.float32)")
    return k, w.bind("_kb", f"tl.cast(1.0 / {scale}, tl.float32)")


def apply_op(w, e: L.Call, args: list[Val]) -> Val:
    """`e`'s rule over its already rendered arguments `args`."""
    varying = any(a.varying for a in args)
    if e.fn == "cast":
        return cast(args[0], e.dtype)
    if e.fn in ("lt", "le", "gt", "ge", "eq", "ne"):
        dt = compute_dtype(promote(args[0].dtype, args[1].dtype))
        args = [cast(a, dt) for a in args]
        comp = dt
    elif e.fn in _BOOL_OPS:
        args = [cast(a, "bool") for a in args]
        comp = "bool"
    elif e.fn == "select":
        comp = compute_dtype(e.dtype)
        args = [cast(args[0], "bool")] + [cast(a, comp) for a in args[1:]]
    else:
        comp = compute_dtype(e.dtype)
        args = [cast(a, comp) for a in args]
    if e.fn == "pow":
        return cast(_pow(w, e, args, comp), e.dtype)
    kind = "f" if is_float(comp) else "i"
    rule = (
        (comp == "float64" and typed_rules.get(f"{e.fn}:d"))
        or (comp == "bool" and typed_rules.get(f"{e.fn}:b"))
        or typed_rules.get(f"{e.fn}:{kind}")
        or op_rules.get(e.fn)
    )
    if rule is None:
        raise UnsupportedError(f"triton backend: op {e.fn!r} has no rule")
    codes = []
    for i, a in enumerate(args):
        uses = rule.count(f"{{{i}}}")
        code = a.code
        if uses > 1 and not re.fullmatch(r"[\w.]+", code):
            code = w.bind("_t", code)
        codes.append(code)
    result_dt = "bool" if OPS[e.fn].result == "bool" else comp
    if comp == "bool" and varying and not all(a.varying for a in args):
        # a uniform bool meeting lanes goes through int8: the interpreter splats a 0-d bool as
        # int64 data, and a mask built from it is "mask has unsupported dtype" (maxpool grad)
        first = 1 if e.fn == "select" else 0
        codes = codes[:first] + [f"tl.cast({c}, tl.int8)" for c in codes[first:]]
        return cast(Val(f"({rule.format(*codes)} != 0)", "bool", True), e.dtype)
    return cast(Val(rule.format(*codes), result_dt, varying), e.dtype)


def _pow(w, e: L.Call, args: list[Val], comp: str) -> Val:
    exp = e.args[1]
    if isinstance(exp, L.Const) and float(exp.value) == int(exp.value) and 0 <= exp.value <= 8:
        n = int(exp.value)
        if n == 0:
            return Val(f"({args[0].code} * 0 + 1)", comp, args[0].varying)
        base = w.bind("_t", args[0].code) if n > 1 else args[0].code
        return Val("(" + " * ".join([base] * n) + ")", comp, args[0].varying)
    if not is_float(comp):
        raise UnsupportedError("triton backend: integer pow with a non-constant exponent")
    return Val(f"_pow({args[0].code}, {args[1].code})", comp, args[0].varying or args[1].varying)
