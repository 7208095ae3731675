"""Vectorisable math functions written as LLVM IR (exp, log, tanh, erf, ...).

LLVM 22 as bundled with llvmlite has no vector math library, so `llvm.exp.f32` would become a
scalar libm call and block the loop vectoriser. Each function here is an internal `alwaysinline`
IR function of straight-line code (fma Horner polynomials, integer exponent tricks, selects for the
special cases): once inlined into a loop, the vectoriser turns it into `<8 x float>` code.

Accuracy: float32 exp/exp2 use a degree-5 minimax polynomial (about 2 ulp, denormal results within
two denormal steps), log is Cephes-style (about 1 ulp), the composed ones a few ulp; float64
exp/log/erf use libm through LLVM intrinsics (accurate, scalar), the composed ones reuse them.
Functions without a polynomial here (sin, cbrt, atan2, ...) call libm directly.

`exp_nonpos` / `exp2_nonpos` are float32 exp/exp2 for arguments the renderer proved <= 0
(backends/llvm/signs.py; W1's exponent): the same accuracy with no overflow clamp and 2**n as one
multiply: exp2 in 11 instead of 17 vector operations.

Example:
    lib = MathLib(module)
    y = builder.call(lib.get("exp", ir.FloatType()), [x])
"""

from __future__ import annotations

import math
from collections.abc import Callable

from llvmlite import ir

F32 = ir.FloatType()
F64 = ir.DoubleType()
I1 = ir.IntType(1)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
LOG2E = 1.44269504088896341


def type_suffix(ty: ir.Type) -> str:
    """LLVM's overload suffix: f32, f64, i32, v8f32, ..."""
    if isinstance(ty, ir.VectorType):
        return f"v{ty.count}{type_suffix(ty.element)}"
    if isinstance(ty, ir.FloatType):
        return "f32"
    if isinstance(ty, ir.DoubleType):
        return "f64"
    if isinstance(ty, ir.HalfType):
        return "f16"
    if isinstance(ty, ir.IntType):
        return f"i{ty.width}"
    raise AssertionError(f"no intrinsic suffix for {ty}")


def declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """Declare (once) an external function or intrinsic by its full name."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name=name)
    return fn


def intrinsic(module: ir.Module, base: str, ty: ir.Type, nargs: int = 1) -> ir.Function:
    """`llvm.<base>.<suffix>` with `nargs` arguments of type `ty` returning `ty`."""
    return declare(module, f"llvm.{base}.{type_suffix(ty)}", ty, [ty] * nargs)


# libm names of the functions without a polynomial here (float32 name, float64 name)
LIBM: dict[str, tuple[str, str]] = {
    n: (n + "f", n)
    for n in ("sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "cbrt",
              "expm1", "log1p", "exp", "log", "erf", "exp2", "log2", "log10", "tanh")
}


class _Fn:
    """Builder helpers for the body of one math function (scalar type `ty`)."""

    def __init__(self, lib: MathLib, b: ir.IRBuilder, ty: ir.Type):
        self.lib, self.m, self.b, self.ty = lib, lib.module, b, ty
        self.ity = I32 if ty == F32 else I64

    def use(self, name: str, *args):
        """Call another math function of this library (inlined later)."""
        return self.b.call(self.lib.get(name, self.ty), list(args))

    def c(self, v: float) -> ir.Constant:
        return ir.Constant(self.ty, v)

    def ci(self, v: int) -> ir.Constant:
        return ir.Constant(self.ity, v)

    def fma(self, a, x, y):
        return self.b.call(intrinsic(self.m, "fma", self.ty, 3), [a, x, y])

    def horner(self, x, coeffs: list[float]):
        """coeffs[0]*x^n + ... + coeffs[n] with fma."""
        acc = self.c(coeffs[0])
        for k in coeffs[1:]:
            acc = self.fma(acc, x, self.c(k))
        return acc

    def horner2(self, x, coeffs: list[float]):
        """The same polynomial as `horner`, as a Horner scheme in x*x over linear pieces
        (c0 + c1 x): one more multiply, half the dependent fma chain."""
        coeffs = [0.0] * (len(coeffs) % 2) + coeffs
        lin = [self.fma(self.c(hi), x, self.c(lo)) for hi, lo in zip(coeffs[-2::-2], coeffs[::-1][::2])]
        x2 = self.b.fmul(x, x)
        acc = lin[-1]
        for q in lin[-2::-1]:
            acc = self.fma(acc, x2, q)
        return acc

    def call(self, base: str, *args):
        return self.b.call(intrinsic(self.m, base, self.ty, len(args)), list(args))

    def gt(self, a, v):
        return self.b.fcmp_ordered(">", a, v)

    def lt(self, a, v):
        return self.b.fcmp_ordered("<", a, v)

    def sel(self, c, a, b):
        return self.b.select(c, a, b)

    def isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    def bits(self, x):
        return self.b.bitcast(x, self.ity)

    def pow2_scale(self, p, z):
        """p * 2**n for the shifter sum z = n + SHIFT + 254 (float32, n in [-152, 129]): the low nine
        bits of z hold e = n + 254, split into two exponent fields e >> 1 and e - (e >> 1), so that
        p * 2**n1 * 2**n2 rounds once into denormals and overflows to inf. NaN in z gives 0 * NaN."""
        b, zb = self.b, self.bits(z)
        s1 = b.and_(b.shl(zb, self.ci(22)), self.ci(-(1 << 23)))  # (e >> 1) << 23
        s2 = b.sub(b.shl(zb, self.ci(23)), s1)  # (e << 23) - s1, the other half
        return b.fmul(b.fmul(p, b.bitcast(s1, self.ty)), b.bitcast(s2, self.ty))

    def pow2_scale_low(self, p, z):
        """p * 2**n for the shifter sum z = n + SHIFT + _LOW_BIAS (float32, n in [-152, 64]) and a
        p that carries a factor 2**-_LOW: the low eight bits of z are the exponent field of
        2**(n + _LOW), a normal number, so one multiply rounds once (into denormals too)."""
        return self.b.fmul(p, self.b.bitcast(self.b.shl(self.bits(z), self.ci(23)), self.ty))


# --- float32 polynomials -----------------------------------------------------------------------
# relative minimax on [-1/2, 1/2] of 2**f and on [-ln2/2, ln2/2] of e**r, degree 5 with p(0) = 1
# exactly: 9.2e-8 (tests/backends/llvm/test_mathlib.py sweeps the whole range); highest degree first
_EXP2_P = [1.326472731e-03, 9.671512991e-03, 5.550733581e-02, 2.402224243e-01, 6.931470037e-01, 1.0]
_EXP_P = [8.290315047e-03, 4.189793020e-02, 1.666763574e-01, 4.999915063e-01, 9.999997020e-01, 1.0]
# adding 1.5 * 2**23 rounds |t| < 2**22 to an integer n held in the low mantissa bits of the sum
_SHIFT = 12582912.0
# the nonpositive variants (`pow2_scale_low`): polynomials pre-scaled by 2**-_LOW, exponent field
# n + _LOW + 127 (even, so the shifter's ties round as rint does)
_LOW = 63
_LOW_BIAS = _LOW + 127
_EXP2_P_LOW = [c * 2.0**-_LOW for c in _EXP2_P]
_EXP_P_LOW = [c * 2.0**-_LOW for c in _EXP_P]
_LOGF_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
           1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
           3.3333331174e-1]
_TANHF_P = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
            -3.33332819422e-1]
# erfc(z) ~ t*exp(-z*z + P(t)), t = 1/(1+z/2): fractional error < 1.2e-7 (Numerical Recipes)
_ERFC_P = [0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
           0.09678418, 0.37409196, 1.00002368, -1.26551223]
# erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)) for |x| < 1, as a polynomial in x^2
_ERF_TAYLOR = [
    2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(12)
][::-1]


def _expf_body(f: _Fn, x):
    """e**x for float32: n = rint(x log2 e) by the shifter, r = x - n ln2 (two-part ln2, exact),
    degree-5 polynomial, then * 2**n in two steps. NaN flows through every step."""
    b = f.b
    xc = f.sel(f.gt(x, f.c(89.0)), f.c(89.0), x)  # e**89 = inf, e**-104 rounds to 0
    xc = f.sel(f.lt(xc, f.c(-104.0)), f.c(-104.0), xc)
    z = f.fma(xc, f.c(LOG2E), f.c(_SHIFT + 254))
    n = b.fsub(z, f.c(_SHIFT + 254))
    r = f.fma(n, f.c(-0.693359375), xc)
    r = f.fma(n, f.c(2.12194440e-4), r)
    return f.pow2_scale(f.horner2(r, _EXP_P), z)


def _exp2f_body(f: _Fn, x):
    """2**x for float32: the same steps as exp with the exact fraction t - rint(t)."""
    b = f.b
    t = f.sel(f.gt(x, f.c(129.0)), f.c(129.0), x)
    t = f.sel(f.lt(t, f.c(-152.0)), f.c(-152.0), t)
    frac = b.fsub(t, f.call("rint", t))
    return f.pow2_scale(f.horner2(frac, _EXP2_P), b.fadd(t, f.c(_SHIFT + 254)))


def _expf_nonpos_body(f: _Fn, x):
    """e**x for x <= 0 or NaN (callers prove it: backends/llvm/signs.py; right for any x < 44):
    exp's steps without the overflow clamp, and 2**n as one multiply (`pow2_scale_low`)."""
    b = f.b
    xc = f.sel(f.lt(x, f.c(-104.0)), f.c(-104.0), x)
    z = f.fma(xc, f.c(LOG2E), f.c(_SHIFT + _LOW_BIAS))
    n = b.fsub(z, f.c(_SHIFT + _LOW_BIAS))
    r = f.fma(n, f.c(-0.693359375), xc)
    r = f.fma(n, f.c(2.12194440e-4), r)
    return f.pow2_scale_low(f.horner(r, _EXP_P_LOW), z)


def _exp2f_nonpos_body(f: _Fn, x):
    """2**x for x <= 0 or NaN (right for any x < 64.5): exp2 without the overflow clamp, and 2**n
    as one multiply (`pow2_scale_low`)."""
    b = f.b
    t = f.sel(f.lt(x, f.c(-152.0)), f.c(-152.0), x)
    frac = b.fsub(t, f.call("rint", t))
    return f.pow2_scale_low(f.horner(frac, _EXP2_P_LOW), b.fadd(t, f.c(_SHIFT + _LOW_BIAS)))


def _logf_body(f: _Fn, x):
    """log x for float32: x = m 2**e with m in [sqrt(1/2), sqrt(2)), log(m) by a degree-8 poly."""
    b = f.b
    tiny = f.lt(x, f.c(1.17549435e-38))  # denormals (and <= 0): pre-scale by 2**23
    xs = f.sel(tiny, b.fmul(x, f.c(8388608.0)), x)
    bits = b.bitcast(xs, I32)
    e = b.sub(b.lshr(bits, f.ci(23)), f.ci(126))
    e = b.sub(e, f.sel(tiny, f.ci(23), f.ci(0)))
    m = b.bitcast(b.or_(b.and_(bits, f.ci(0x007FFFFF)), f.ci(0x3F000000)), F32)  # [0.5, 1)
    small = f.lt(m, f.c(0.707106781186547524))
    e = b.sub(e, b.zext(small, I32))
    m = b.fsub(f.sel(small, b.fadd(m, m), m), f.c(1.0))
    z = b.fmul(m, m)
    y = b.fmul(b.fmul(m, z), f.horner(m, _LOGF_P))
    ef = b.sitofp(e, F32)
    y = f.fma(ef, f.c(-2.12194440e-4), y)
    y = f.fma(z, f.c(-0.5), y)
    out = f.fma(ef, f.c(0.693359375), b.fadd(m, y))
    # special cases: x < 0 or NaN -> NaN, 0 -> -inf, +inf -> +inf
    out = f.sel(b.fcmp_ordered("==", x, f.c(math.inf)), x, out)
    out = f.sel(b.fcmp_ordered("==", x, f.c(0.0)), f.c(-math.inf), out)
    return f.sel(b.fcmp_unordered("<", x, f.c(0.0)), f.c(math.nan), out)


def _tanh_body(f: _Fn, x):
    """Small |x|: odd polynomial; otherwise 1 - 2/(exp(2|x|)+1) with the sign restored."""
    b = f.b
    ax = f.call("fabs", x)
    z = b.fmul(x, x)
    small = f.fma(b.fmul(f.horner(z, _TANHF_P), z), x, x)
    e = f.use("exp", b.fmul(ax, f.c(2.0)))
    big = b.fsub(f.c(1.0), b.fdiv(f.c(2.0), b.fadd(e, f.c(1.0))))
    big = f.call("copysign", big, x)
    return f.sel(f.lt(ax, f.c(0.625)), small, big)


def _erf_body(f: _Fn, x):
    b = f.b
    ax = f.call("fabs", x)
    small = b.fmul(x, f.horner(b.fmul(x, x), _ERF_TAYLOR))
    t = b.fdiv(f.c(1.0), f.fma(ax, f.c(0.5), f.c(1.0)))
    arg = b.fsub(f.horner(t, _ERFC_P), b.fmul(ax, ax))
    erfc = b.fmul(t, f.use("exp", arg))
    big = f.call("copysign", b.fsub(f.c(1.0), erfc), x)
    return f.sel(f.lt(ax, f.c(1.0)), small, big)


def _sigmoid_body(f: _Fn, x):
    b = f.b
    e = f.use("exp", b.fneg(x))
    return b.fdiv(f.c(1.0), b.fadd(f.c(1.0), e))


def _log1p_body(f: _Fn, x):
    """log(1+x) = log(u) * x / (u - 1), u = 1 + x (Goldberg's trick), exact where u == 1."""
    b = f.b
    u = b.fadd(x, f.c(1.0))
    um1 = b.fsub(u, f.c(1.0))
    lu = f.use("log", u)
    ratio = b.fmul(lu, b.fdiv(x, um1))
    out = f.sel(b.fcmp_ordered("==", um1, f.c(0.0)), x, ratio)
    return f.sel(b.fcmp_ordered("==", u, f.c(math.inf)), u, out)


def _expm1_body(f: _Fn, x):
    """exp(x) - 1 = (u - 1) * x / log(u), u = exp(x) (Kahan's trick)."""
    b = f.b
    u = f.use("exp", x)
    um1 = b.fsub(u, f.c(1.0))
    ratio = b.fmul(um1, b.fdiv(x, f.use("log", u)))
    out = f.sel(b.fcmp_ordered("==", u, f.c(1.0)), x, ratio)
    out = f.sel(b.fcmp_ordered("==", um1, f.c(-1.0)), f.c(-1.0), out)
    out = f.sel(b.fcmp_ordered("==", u, f.c(math.inf)), u, out)
    return f.sel(f.isnan(x), x, out)


def _softplus_body(f: _Fn, x):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)) (numpy's logaddexp(0, x))."""
    b = f.b
    e = f.use("exp", b.fneg(f.call("fabs", x)))
    l1p = f.use("log1p", e)
    out = b.fadd(f.sel(f.gt(x, f.c(0.0)), x, f.c(0.0)), l1p)
    return f.sel(f.isnan(x), x, out)


def _log2_body(f: _Fn, x):
    return f.b.fmul(f.use("log", x), f.c(1.0 / math.log(2.0)))


def _log10_body(f: _Fn, x):
    return f.b.fmul(f.use("log", x), f.c(1.0 / math.log(10.0)))


# name -> body builder; float32 always, float64 only where marked in _F64_OWN
_BODIES: dict[str, Callable] = {
    "exp": _expf_body,
    "exp2": _exp2f_body,
    "exp_nonpos": _expf_nonpos_body,
    "exp2_nonpos": _exp2f_nonpos_body,
    "log": _logf_body,
    "tanh": _tanh_body,
    "erf": _erf_body,
    "sigmoid": _sigmoid_body,
    "log1p": _log1p_body,
    "expm1": _expm1_body,
    "softplus": _softplus_body,
    "log2": _log2_body,
    "log10": _log10_body,
}
POLYNOMIALS = frozenset(_BODIES)  # the ops computed here inline (long dependency chains)
# float64: exp/log/exp2/log2/log10/erf/tanh/expm1/log1p come from libm (accurate); these compose
_F64_OWN = ("sigmoid", "softplus")


class MathLib:
    """Creates, once per module, the math functions a kernel calls."""

    def __init__(self, module: ir.Module):
        self.module = module

    def get(self, name: str, ty: ir.Type) -> ir.Function:
        """The function computing `name` on scalars of `ty` (float or double)."""
        suffix = type_suffix(ty)
        if ty == F64 and name not in _F64_OWN:
            if name in ("exp", "log", "exp2", "log2", "log10"):
                return intrinsic(self.module, name, ty)
            return declare(self.module, LIBM[name][1], ty, [ty])
        if name not in _BODIES:
            return declare(self.module, LIBM[name][0], ty, [ty])
        fname = f"tc.{name}.{suffix}"
        fn = self.module.globals.get(fname)
        if fn is not None:
            return fn
        fn = ir.Function(self.module, ir.FunctionType(ty, [ty]), name=fname)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.ret(_BODIES[name](_Fn(self, b, ty), fn.args[0]))
        return fn
