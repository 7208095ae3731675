"""Constructors for LoopIR expressions that fold integer constants, and sympy -> LoopIR."""

from __future__ import annotations

import sympy

from tensorc.ir import loop_ir as L

I64 = "int64"


def const(v, dtype: str = I64) -> L.Const:
    return L.Const(v, dtype)


def _ival(e: L.LExpr):
    if isinstance(e, L.Const) and e.dtype == I64:
        return int(e.value)
    return None


def iadd(a: L.LExpr, b: L.LExpr) -> L.LExpr:
    x, y = _ival(a), _ival(b)
    if x is not None and y is not None:
        return const(x + y)
    if y == 0:
        return a
    if x == 0:
        return b
    if y is not None and y < 0:
        return L.Call("sub", (a, const(-y)), I64)
    return L.Call("add", (a, b), I64)


def isub(a: L.LExpr, b: L.LExpr) -> L.LExpr:
    x, y = _ival(a), _ival(b)
    if x is not None and y is not None:
        return const(x - y)
    if y == 0:
        return a
    if a == b:
        return const(0)
    return L.Call("sub", (a, b), I64)


def imul(a: L.LExpr, b: L.LExpr) -> L.LExpr:
    x, y = _ival(a), _ival(b)
    if x is not None and y is not None:
        return const(x * y)
    if x == 1:
        return b
    if y == 1:
        return a
    if x == 0 or y == 0:
        return const(0)
    return L.Call("mul", (a, b), I64)


def imax(a: L.LExpr, b: L.LExpr) -> L.LExpr:
    x, y = _ival(a), _ival(b)
    if x is not None and y is not None:
        return const(max(x, y))
    if a == b:
        return a
    return L.Call("max", (a, b), I64)


def imin(a: L.LExpr, b: L.LExpr) -> L.LExpr:
    x, y = _ival(a), _ival(b)
    if x is not None and y is not None:
        return const(min(x, y))
    if a == b:
        return a
    return L.Call("min", (a, b), I64)


def call(fn: str, *args: L.LExpr, dtype: str) -> L.Call:
    return L.Call(fn, tuple(args), dtype)


def as_dtype(v: L.LExpr, dtype: str) -> L.LExpr:
    """`v` cast to `dtype` (itself if it has it)."""
    return v if v.dtype == dtype else L.Call("cast", (v,), dtype)


def bind(out: list, fresh, base: str, value: L.LExpr) -> L.LExpr:
    """`value` as a Var bound by a Let appended to `out` (named `fresh(base)`); a Var or Const is
    returned as it is."""
    if isinstance(value, (L.Var, L.Const)):
        return value
    name = fresh(base)
    out.append(L.Let(name, value))
    return L.Var(name, value.dtype)


def sym_to_lexpr(e, subs: dict | None = None, names: dict[str, L.LExpr] | None = None) -> L.LExpr:
    """A sympy integer expression as LoopIR (symbols become `Var`s, or `names[symbol]`)."""
    e = sympy.sympify(e)
    if subs:
        e = e.subs({sympy.Symbol(k, integer=True, nonnegative=True): v for k, v in subs.items()})
        e = e.subs({sympy.Symbol(k, integer=True): v for k, v in subs.items()})
    return _conv(sympy.expand(e) if not e.has(sympy.floor, sympy.Min, sympy.Max) else e, names or {})


def _conv(e, names) -> L.LExpr:
    if e.is_Integer:
        return const(int(e))
    if e.is_Symbol:
        return names.get(str(e), L.Var(str(e)))
    if isinstance(e, sympy.Add):
        terms = sorted(e.args, key=lambda t: (t.is_Number, sympy.default_sort_key(t)))
        out = None
        for t in terms:
            coeff, rest = t.as_coeff_Mul()
            if out is not None and coeff < 0:
                out = isub(out, _conv(-t, names))
            else:
                v = _conv(t, names)
                out = v if out is None else iadd(out, v)
        return out
    if isinstance(e, sympy.Mul):
        coeff, rest = e.as_coeff_Mul()
        if coeff.is_Integer:
            out = const(int(coeff)) if coeff != 1 else None
            for f in sympy.Mul.make_args(rest):
                v = _conv(f, names)
                out = v if out is None else imul(out, v)
            return out
        num, den = sympy.fraction(e)
        return L.Call("floordiv", (_conv(num, names), _conv(den, names)), I64)
    if isinstance(e, sympy.floor):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        return L.Call("floordiv", (_conv(num, names), _conv(den, names)), I64)
    if isinstance(e, sympy.ceiling):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        return L.Call("neg", (L.Call("floordiv", (_conv(-num, names), _conv(den, names)), I64),), I64)
    if isinstance(e, sympy.Mod):
        return L.Call("mod", (_conv(e.args[0], names), _conv(e.args[1], names)), I64)
    if isinstance(e, sympy.Min):
        out = _conv(e.args[0], names)
        for a in e.args[1:]:
            out = imin(out, _conv(a, names))
        return out
    if isinstance(e, sympy.Max):
        out = _conv(e.args[0], names)
        for a in e.args[1:]:
            out = imax(out, _conv(a, names))
        return out
    if isinstance(e, sympy.Pow) and e.exp.is_Integer and e.exp > 0:
        out = _conv(e.base, names)
        base = out
        for _ in range(int(e.exp) - 1):
            out = imul(out, base)
        return out
    raise AssertionError(f"cannot lower size expression {e}")


def lvars(e: L.LExpr) -> set[str]:
    """Names of `Var`s read by a LoopIR expression."""
    if isinstance(e, L.Var):
        return {e.name}
    out: set[str] = set()
    if isinstance(e, (L.Load, L.LocalRead)):
        for i in e.index:
            out |= lvars(i)
        if isinstance(e, L.LocalRead):
            out.add("@" + e.name)
    elif isinstance(e, L.Call):
        for a in e.args:
            out |= lvars(a)
    return out
