"""Per-op LLVM IR rules for the `tensorc.ir.ops.OPS` table (the cpu backend's op syntax).

`OP_RULES[name](r, args, dts, out)` emits op `name` with the `KernelRenderer` `r`: `args` are already
converted to the operand dtypes `dts` (see `operand_dtypes`) in their register types, `out` is the
result dtype; the rule returns the result in `out`'s register type. Meanings follow numpy (ops.py):
integer division by zero gives 0, floordiv/mod take the sign of the divisor, max/min propagate NaN,
fmax/fmin ignore it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from llvmlite import ir

from tensorc.ir.ops import OPS
from tensorc.ir.types import DTYPES, promote

from .mathlib import F32, LOG2E, declare, type_suffix

F64 = ir.DoubleType()


def operand_dtypes(fn: str, arg_dtypes: tuple[str, ...], out: str) -> tuple[str, ...]:
    """The dtypes the arguments of `fn` are converted to before the rule runs."""
    if fn in ("and", "or", "not"):
        return ("bool",) * len(arg_dtypes)
    if fn == "select":
        return ("bool", out, out)
    if OPS[fn].result == "bool":
        common = arg_dtypes[0]
        for d in arg_dtypes[1:]:
            common = promote(common, d)
        return (common,) * len(arg_dtypes)
    return (out,) * len(arg_dtypes)


def _kind(dt: str) -> str:
    return DTYPES[dt].kind


def _zero(v: ir.Value) -> ir.Constant:
    return ir.Constant(v.type, 0.0 if _kind_of_type(v.type) == "f" else 0)


def _kind_of_type(ty: ir.Type) -> str:
    return "f" if isinstance(ty, (ir.FloatType, ir.DoubleType)) else "i"


def _binary(fop: str, iop: str, bop: str) -> Callable:
    """Arithmetic: float op (with the loop's fast-math flags), wrapping int op, bool op."""

    def rule(r, a, dts, out):
        k = _kind(dts[0])
        if k == "f":
            return getattr(r.b, fop)(a[0], a[1], flags=r.flags)
        return getattr(r.b, bop if k == "b" else iop)(a[0], a[1])

    return rule


def _div(r, a, dts, out):
    # no `arcp`: x / c as x * (1/c) gives inf * x for a subnormal c (the interpreter divides)
    return r.b.fdiv(a[0], a[1], flags=tuple(f for f in r.flags if f != "arcp"))


def _int_divmod(r, a, dts, want: str):
    """numpy floor_divide / remainder on ints: b == 0 -> 0, sign of the divisor, no traps."""
    b = r.b
    x, y = a
    zero, one = ir.Constant(x.type, 0), ir.Constant(x.type, 1)
    if _kind(dts[0]) == "u":
        safe = b.select(b.icmp_unsigned("==", y, zero), one, y)
        q = b.udiv(x, safe) if want == "div" else b.urem(x, safe)
        return b.select(b.icmp_unsigned("==", y, zero), zero, q)
    minus1 = ir.Constant(x.type, -1)
    bad = b.or_(b.icmp_signed("==", y, zero), b.icmp_signed("==", y, minus1))
    safe = b.select(bad, one, y)  # avoids the x86 traps of /0 and INT_MIN / -1
    q, rem = b.sdiv(x, safe), b.srem(x, safe)
    adjust = b.and_(b.icmp_signed("!=", rem, zero),
                    b.icmp_signed("<", b.xor(rem, safe), zero))
    if want == "div":
        q = b.sub(q, b.zext(adjust, x.type))
        q = b.select(b.icmp_signed("==", y, minus1), b.sub(zero, x), q)
        return b.select(b.icmp_signed("==", y, zero), zero, q)
    rem = b.select(adjust, b.add(rem, safe), rem)
    return b.select(bad, zero, rem)


def _float_divmod(r, a, want: str):
    """numpy's npy_divmod for floats (floor division and the divisor-signed remainder)."""
    b = r.b
    x, y = a
    ty = x.type
    c0, c1 = ir.Constant(ty, 0.0), ir.Constant(ty, 1.0)
    mod = b.frem(x, y)
    div = b.fdiv(b.fsub(x, mod), y)
    fix = b.and_(b.fcmp_ordered("!=", mod, c0),
                 b.xor(b.fcmp_ordered("<", y, c0), b.fcmp_ordered("<", mod, c0)))
    mod2 = b.select(fix, b.fadd(mod, y), mod)
    mod2 = b.select(b.fcmp_ordered("==", mod, c0), r.b.call(r.intr("copysign", ty, 2), [c0, y]),
                    mod2)
    if want == "mod":
        return b.select(b.fcmp_ordered("==", y, c0), mod, mod2)
    div = b.select(fix, b.fsub(div, c1), div)
    fl = b.call(r.intr("floor", ty), [div])
    fl = b.select(b.fcmp_ordered(">", b.fsub(div, fl), ir.Constant(ty, 0.5)), b.fadd(fl, c1), fl)
    fl = b.select(b.fcmp_ordered("==", div, c0),
                  b.call(r.intr("copysign", ty, 2), [c0, b.fdiv(x, y)]), fl)
    return b.select(b.fcmp_ordered("==", y, c0), b.fdiv(x, y), fl)


def _floordiv(r, a, dts, out):
    if _kind(dts[0]) == "f":
        return _float_divmod(r, a, "div")
    if _kind(dts[0]) == "b":
        return a[0]
    return _int_divmod(r, a, dts, "div")


def _mod(r, a, dts, out):
    if _kind(dts[0]) == "f":
        return _float_divmod(r, a, "mod")
    if _kind(dts[0]) == "b":
        return ir.Constant(a[0].type, 0)
    return _int_divmod(r, a, dts, "mod")


def _ipow_fn(r, ty: ir.IntType, signed: bool) -> ir.Function:
    """Integer power by squaring (wrapping); a negative exponent gives 0 (numpy raises)."""
    name = f"tc.ipow.{'s' if signed else 'u'}{ty.width}"
    fn = r.module.globals.get(name)
    if fn is not None:
        return fn
    fn = ir.Function(r.module, ir.FunctionType(ty, [ty, ty]), name=name)
    fn.linkage = "internal"
    base, exp = fn.args
    entry, head, body, done = (fn.append_basic_block(n) for n in ("entry", "head", "body", "done"))
    b = ir.IRBuilder(entry)
    zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
    b.branch(head)
    b.position_at_end(head)
    acc = b.phi(ty)
    bb = b.phi(ty)
    e = b.phi(ty)
    acc.add_incoming(one, entry)
    bb.add_incoming(base, entry)
    e.add_incoming(exp, entry)
    cmp = b.icmp_signed(">", e, zero) if signed else b.icmp_unsigned("!=", e, zero)
    b.cbranch(cmp, body, done)
    b.position_at_end(body)
    odd = b.trunc(e, ir.IntType(1))
    acc.add_incoming(b.select(odd, b.mul(acc, bb), acc), body)
    bb.add_incoming(b.mul(bb, bb), body)
    e.add_incoming(b.lshr(e, one), body)
    b.branch(head)
    b.position_at_end(done)
    neg = b.icmp_signed("<", exp, zero) if signed else ir.Constant(ir.IntType(1), 0)
    b.ret(b.select(neg, zero, acc))
    return fn


def _pow(r, a, dts, out):
    k = _kind(dts[0])
    if k == "f":
        return r.b.call(r.intr("pow", a[0].type, 2), a)
    if k == "b":
        return r.b.or_(a[0], r.b.xor(a[1], ir.Constant(a[1].type, 1)))
    return r.b.call(_ipow_fn(r, a[0].type, k == "i"), a)


def _compare(fop: str, unordered: bool = False) -> Callable:
    def rule(r, a, dts, out):
        k = _kind(dts[0])
        if k == "f":
            cmp = r.b.fcmp_unordered if unordered else r.b.fcmp_ordered
            return cmp(fop, a[0], a[1])
        if k == "i":
            return r.b.icmp_signed(fop, a[0], a[1])
        return r.b.icmp_unsigned(fop, a[0], a[1])

    return rule


def _minmax(fname: str, sname: str, uname: str, bop: str) -> Callable:
    def rule(r, a, dts, out):
        k = _kind(dts[0])
        if k == "b":
            return getattr(r.b, bop)(a[0], a[1])
        base = fname if k == "f" else sname if k == "i" else uname
        return r.b.call(r.intr(base, a[0].type, 2), a, fastmath=r.flags if k == "f" else ())

    return rule


_max = _minmax("maximum", "smax", "umax", "or_")
_min = _minmax("minimum", "smin", "umin", "and_")
_fmax = _minmax("maxnum", "smax", "umax", "or_")
_fmin = _minmax("minnum", "smin", "umin", "and_")


def _clamp(r, a, dts, out):
    return _min(r, [_max(r, a[:2], dts, out), a[2]], dts, out)


def _neg(r, a, dts, out):
    k = _kind(dts[0])
    if k == "f":
        return r.b.fneg(a[0], flags=r.flags)
    if k == "b":
        return a[0]
    return r.b.sub(ir.Constant(a[0].type, 0), a[0])


def _abs(r, a, dts, out):
    k = _kind(dts[0])
    if k == "f":
        return r.b.call(r.intr("fabs", a[0].type), a)
    if k == "i":
        fn = declare(r.module, f"llvm.abs.{type_suffix(a[0].type)}", a[0].type,
                     [a[0].type, ir.IntType(1)])
        return r.b.call(fn, [a[0], ir.Constant(ir.IntType(1), 0)])
    return a[0]


def _sign(r, a, dts, out):
    b, x = r.b, a[0]
    k = _kind(dts[0])
    if k == "b":
        return x
    one, m1, zero = (ir.Constant(x.type, v) for v in ((1.0, -1.0, 0.0) if k == "f" else (1, -1, 0)))
    if k == "f":
        return b.select(b.fcmp_ordered(">", x, zero), one,
                        b.select(b.fcmp_ordered("<", x, zero), m1, x))
    if k == "u":
        return b.zext(b.icmp_unsigned("!=", x, zero), x.type)
    return b.select(b.icmp_signed(">", x, zero), one,
                    b.select(b.icmp_signed("<", x, zero), m1, zero))


def _relu(r, a, dts, out):
    b, x = r.b, a[0]
    k = _kind(dts[0])
    if k == "f":
        return b.select(b.fcmp_ordered("<", x, ir.Constant(x.type, 0.0)), ir.Constant(x.type, 0.0), x)
    if k == "i":
        return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), ir.Constant(x.type, 0), x)
    return x


def _logic(op: str) -> Callable:
    def rule(r, a, dts, out):
        if op == "not":
            return r.b.xor(a[0], ir.Constant(a[0].type, 1))
        return getattr(r.b, op)(a[0], a[1])

    return rule


def _select(r, a, dts, out):
    return r.b.select(a[0], a[1], a[2])


def _intrinsic(base: str, nargs: int = 1) -> Callable:
    def rule(r, a, dts, out):
        return r.b.call(r.intr(base, a[0].type, nargs), a)  # no flags: exact sqrt/rounding

    return rule


def _mathlib(name: str, nonpos: bool = False) -> Callable:
    def rule(r, a, dts, out):
        return r.b.call(_lib(r, name, a[0].type, nonpos), a)

    return rule


def _lib(r, name: str, ty: ir.Type, nonpos: bool) -> ir.Function:
    """mathlib's `name`, or its variant for arguments <= 0 (float32 exp/exp2 have one)."""
    return r.lib.get(f"{name}_nonpos" if nonpos and ty == F32 else name, ty)


def _exp(r, a, dts, out, nonpos: bool = False):
    """exp; in a fast-math loop exp(u * v) and exp(u / v) become exp2(u * (v log2 e)) and
    exp2(u * (log2 e / v)): the constant joins the (usually loop-invariant) factor and exp2 needs no
    Cody-Waite reduction. The argument was a rounded product already, so the extra rounding at most
    doubles its relative error (exp's condition number |x| applies to both); it keeps its sign."""
    x = a[0]
    op = getattr(x, "opname", None)
    if not (r.flags and x.type == F32 and op in ("fmul", "fdiv")):
        return r.b.call(_lib(r, "exp", x.type, nonpos), a)
    u, v = x.operands
    if op == "fmul" and _invariant(u, r.entry) and not _invariant(v, r.entry):
        u, v = v, u  # exp(-gamma * r): log2(e) joins gamma, outside the loop
    sign = 1.0
    if getattr(u, "opname", None) == "fneg":  # exp(-r / c): the sign joins the constant too
        u, sign = u.operands[0], -1.0
    log2e = ir.Constant(F64, sign * LOG2E)
    # no reassoc here: it would re-split u * k into (u * v') * log2e inside the loop
    v = r.b.fpext(v, F64)
    k = r.b.fmul(v, log2e) if op == "fmul" else r.b.fdiv(log2e, v)
    return r.b.call(_lib(r, "exp2", F32, nonpos), [_times_wide(r, u, k)])


def _times_wide(r, u: ir.Value, k: ir.Value) -> ir.Value:
    """u * k for a float32 u and a loop-invariant float64 k (log2(e) / v of a tiny v overflows
    float32: sigma = 1e-20 made exp(-0 / (2 sigma^2)) NaN), as (u * k1) * 2**s in float32 with
    k1 = k / 2**s normal (s = 64 for a huge k, -64 for a tiny one, else 0): the interpreter's
    exp(u / v) up to rounding, for one more multiply per element."""
    b = r.b
    mag = b.call(r.intr("fabs", F64), [k])
    big = b.fcmp_ordered(">", mag, ir.Constant(F64, 2.0**100))
    tiny = b.fcmp_ordered("<", mag, ir.Constant(F64, 2.0**-100))
    scale = b.select(big, ir.Constant(F64, 2.0**-64),
                     b.select(tiny, ir.Constant(F64, 2.0**64), ir.Constant(F64, 1.0)))
    back = b.select(big, ir.Constant(F32, 2.0**64),
                    b.select(tiny, ir.Constant(F32, 2.0**-64), ir.Constant(F32, 1.0)))
    k1 = b.fptrunc(b.fmul(k, scale), F32)
    return b.fmul(b.fmul(u, k1), back)


def _invariant(v: ir.Value, entry: ir.Block, depth: int = 4) -> bool:
    """v is computed from constants and entry-block values only (so LICM hoists it)."""
    if isinstance(v, (ir.Constant, ir.Argument)):
        return True
    if not isinstance(v, ir.Instruction) or depth == 0:
        return False
    if v.parent is entry:
        return True
    return v.opname in ("fmul", "fdiv", "fadd", "fsub", "fneg") and all(
        _invariant(o, entry, depth - 1) for o in v.operands)


def _rsqrt(r, a, dts, out):
    s = r.b.call(r.intr("sqrt", a[0].type), a)
    return r.b.fdiv(ir.Constant(a[0].type, 1.0), s)  # arcp would allow a rsqrt estimate


def _atan2(r, a, dts, out):
    name = "atan2f" if isinstance(a[0].type, ir.FloatType) else "atan2"
    return r.b.call(declare(r.module, name, a[0].type, [a[0].type] * 2), a)


def _fma(r, a, dts, out):
    return r.b.call(r.intr("fma", a[0].type, 3), a)


OP_RULES: dict[str, Callable] = {
    "add": _binary("fadd", "add", "or_"),
    "sub": _binary("fsub", "sub", "xor"),
    "mul": _binary("fmul", "mul", "and_"),
    "div": _div,
    "floordiv": _floordiv,
    "mod": _mod,
    "neg": _neg,
    "pow": _pow,
    "lt": _compare("<"),
    "le": _compare("<="),
    "gt": _compare(">"),
    "ge": _compare(">="),
    "eq": _compare("=="),
    "ne": _compare("!=", unordered=True),
    "and": _logic("and_"),
    "or": _logic("or_"),
    "not": _logic("not"),
    "select": _select,
    "cast": None,  # handled by the renderer (needs the source dtype)
    "max": _max,
    "min": _min,
    "fmax": _fmax,
    "fmin": _fmin,
    "clamp": _clamp,
    "sqrt": _intrinsic("sqrt"),
    "rsqrt": _rsqrt,
    "floor": _intrinsic("floor"),
    "ceil": _intrinsic("ceil"),
    "round": _intrinsic("roundeven"),
    "trunc": _intrinsic("trunc"),
    "sin": _intrinsic("sin"),
    "cos": _intrinsic("cos"),
    "atan2": _atan2,
    "fma": _fma,
    "abs": _abs,
    "sign": _sign,
    "relu": _relu,
    "exp": _exp,
    **{n: _mathlib(n) for n in ("exp2", "expm1", "log", "log2", "log10", "log1p", "cbrt",
                                "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "erf",
                                "sigmoid", "softplus")},
}
assert set(OP_RULES) == set(OPS), set(OPS) ^ set(OP_RULES)
# exp/exp2 of an argument that is never positive (backends/llvm/signs.py): no overflow path
NONPOSITIVE_RULES: dict[str, Callable] = {"exp": partial(_exp, nonpos=True),
                                          "exp2": _mathlib("exp2", nonpos=True)}
