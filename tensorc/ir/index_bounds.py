"""Index algebra for bounds: TensorIR index expressions as sympy, and their value intervals.

`to_sympy(e, scope, gather)` turns an index expression into a sympy expression over range variables
(the symbols in `scope`), size symbols (`size_symbol`) and one fresh variable per indirect read
(`gather(access)` names it). `interval(expr, env)` gives inclusive bounds `(lo, hi)` of `expr` when
each variable `v` of `env` ranges over `env[v] = (lo_v, hi_v)`; the bounds are sympy expressions in
the remaining symbols (sizes, index-tensor minima and maxima). Affine expressions get exact bounds
(each variable's coefficient picks its end by sign); floor, Mod, min/max and products go through
interval arithmetic, which is sound but may be loose. Anything else raises `Unbounded`.

Example:
    >>> i = sympy.Dummy("i", integer=True)
    >>> interval(2 * i + 1, {i: (0, N - 1)})
    (1, 2*N - 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import sympy

from tensorc.ir.tensor_ir import Access, Call, Const, Expr, Index, Reduce, size_symbol

__all__ = ["Unbounded", "compile_exprs", "interval", "lowest", "proved_nonnegative", "to_sympy"]


class Unbounded(Exception):
    """The expression is outside the index algebra (a float, a computed value, an unknown op)."""


# --- TensorIR -> sympy -------------------------------------------------------------------------

_BINARY_RULES: dict[str, Callable] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: sympy.floor(a / _positive(b)),
    "div": lambda a, b: sympy.floor(a / _positive(b)),  # integer division: floor, as in TC
    "mod": lambda a, b: sympy.Mod(a, _positive(b)),
    "min": sympy.Min,
    "max": sympy.Max,
}
_UNARY_RULES: dict[str, Callable] = {"neg": lambda a: -a, "cast": lambda a: a}


def _positive(b: sympy.Expr) -> sympy.Expr:
    if not (b.is_Integer and b > 0):
        raise Unbounded(f"division by {b}")
    return b


def to_sympy(e: Expr, scope: dict[str, sympy.Symbol],
             gather: Callable[[Access | Reduce], sympy.Symbol],
             scalars: frozenset[str] = frozenset()) -> sympy.Expr:
    """`e` as sympy. `scope`: range variables by index name (innermost binding); `gather(a)`: the
    variable standing for the value of an indirect read or a reduction `a` (it may raise
    Unbounded); `scalars`: integer scalar parameters (sizes, like size symbols)."""
    if isinstance(e, Const):
        if isinstance(e.value, bool) or not isinstance(e.value, int):
            raise Unbounded(f"constant {e.value!r}")
        return sympy.Integer(e.value)
    if isinstance(e, Index):
        return scope.get(e.name) or size_symbol(e.name)
    if isinstance(e, Access):
        if not e.indices:
            if e.tensor in scalars:
                return size_symbol(e.tensor)
            raise Unbounded(f"scalar {e.tensor}")
        return gather(e)
    if isinstance(e, Call):
        args = [to_sympy(a, scope, gather, scalars) for a in e.args]
        if len(args) == 1 and e.fn in _UNARY_RULES:
            return _UNARY_RULES[e.fn](args[0])
        if len(args) == 2 and e.fn in _BINARY_RULES:
            return _BINARY_RULES[e.fn](*args)
        raise Unbounded(f"operator {e.fn}")
    if isinstance(e, Reduce) and e.op == "sum" and isinstance(e.body, Const) and e.mask is None:
        # a size used as a value arrives as sum(N_size: 1) over 0:N
        count = sympy.Mul(*(sympy.Max(0, r.hi - r.lo) for r in e.ranges))
        return to_sympy(e.body, scope, gather, scalars) * count
    if isinstance(e, Reduce):
        return gather(e)  # e.g. an argmin used as an index: the caller knows its values
    raise Unbounded(type(e).__name__)


# --- intervals -----------------------------------------------------------------------------------

Interval = tuple[sympy.Expr, sympy.Expr]


def proved_nonnegative(e: sympy.Expr) -> bool:
    """Whether `e >= 0` follows from the symbols' assumptions (sizes are nonnegative integers),
    also through `y - 1 < floor(y) <= y` (`H - KH - 2*floor((H - KH)/2)` of a strided conv)."""
    e = sympy.expand(e)
    if e.is_nonnegative or (e.is_number and bool(e >= 0)):
        return True
    if not e.has(sympy.floor):
        return False
    lower = []  # e with each floor(y) replaced by the end of y - 1 < floor(y) <= y that lowers e
    for term in sympy.Add.make_args(e):
        coeff, rest = term.as_coeff_Mul()
        if isinstance(rest, sympy.floor) and coeff.is_number:
            y = rest.args[0]
            lower.append(coeff * (y if coeff < 0 else y - 1))
        else:
            lower.append(term)
    low = sympy.expand(sympy.Add(*lower))
    return bool(low.is_nonnegative) or (low.is_number and bool(low >= 0))


def _scale(c: sympy.Expr, iv: Interval) -> Interval:
    lo, hi = c * iv[0], c * iv[1]
    if proved_nonnegative(c):
        return lo, hi
    if proved_nonnegative(-c):
        return hi, lo
    return _min(lo, hi), _max(lo, hi)


def _min(*args: sympy.Expr) -> sympy.Expr:
    """Unevaluated: sympy's pairwise comparisons of symbolic bounds cost milliseconds."""
    return sympy.Min(*args, evaluate=False) if len(args) > 1 else args[0]


def lowest(*args: sympy.Expr) -> sympy.Expr:
    """The smallest of `args`, unevaluated (see `_min`)."""
    return _min(*args) if args else sympy.Integer(1)


def _max(*args: sympy.Expr) -> sympy.Expr:
    return sympy.Max(*args, evaluate=False) if len(args) > 1 else args[0]


def _times(a: Interval, b: Interval) -> Interval:
    if proved_nonnegative(a[0]) and proved_nonnegative(b[0]):
        return a[0] * b[0], a[1] * b[1]
    corners = [x * y for x in a for y in b]
    return _min(*corners), _max(*corners)


def _mod(e: sympy.Mod, env: dict) -> Interval:
    a, m = e.args
    if m.free_symbols & env.keys() or not proved_nonnegative(m - 1):
        raise Unbounded(f"modulo by {m}")
    lo, hi = interval(a, env)
    if proved_nonnegative(lo):
        return sympy.Integer(0), _min(hi, m - 1)
    return sympy.Integer(0), m - 1


def interval(expr: sympy.Expr, env: dict[sympy.Symbol, Interval]) -> Interval:
    """Inclusive bounds of `expr` over the box `env` (see the module docstring)."""
    expr = sympy.expand(sympy.sympify(expr))
    if not expr.free_symbols & env.keys():
        return expr, expr
    if expr in env:
        return env[expr]
    if expr.is_Add:
        parts = [interval(t, env) for t in expr.args]
        return sympy.Add(*(p[0] for p in parts)), sympy.Add(*(p[1] for p in parts))
    if expr.is_Mul:
        const = [f for f in expr.args if not f.free_symbols & env.keys()]
        var = [interval(f, env) for f in expr.args if f.free_symbols & env.keys()]
        iv = var[0]
        for other in var[1:]:
            iv = _times(iv, other)
        return _scale(sympy.Mul(*const), iv)
    if isinstance(expr, sympy.floor):
        lo, hi = interval(expr.args[0], env)
        return sympy.floor(lo), sympy.floor(hi)
    if isinstance(expr, sympy.Mod):
        return _mod(expr, env)
    if isinstance(expr, (sympy.Min, sympy.Max)):
        parts = [interval(a, env) for a in expr.args]
        fn = _min if isinstance(expr, sympy.Min) else _max
        return fn(*(p[0] for p in parts)), fn(*(p[1] for p in parts))
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        iv = interval(expr.base, env)
        out = iv
        for _ in range(int(expr.exp) - 1):
            out = _times(out, iv)
        return out
    raise Unbounded(str(expr))


# --- evaluation --------------------------------------------------------------------------------


def compile_exprs(symbols: Sequence[sympy.Symbol], exprs: Sequence[sympy.Expr]
                  ) -> Callable[..., list]:
    """A Python function of `symbols`' values (ints) returning each of `exprs`, exactly (Fractions
    for rationals). sympy's lambdify prints 5-10x slower: this printer knows only the nodes that
    bounds are made of (+, *, integer powers, floor, ceiling, Mod, Min, Max, numbers)."""
    names = {s: f"_a{i}" for i, s in enumerate(symbols)}
    body = ", ".join(_source(e, names) for e in exprs)
    code = f"lambda {', '.join(names.values())}: [{body}]"
    return eval(code, {"_F": Fraction, "_floor": math.floor, "_ceil": math.ceil})  # noqa: S307


_CALLS = {sympy.floor: "_floor", sympy.ceiling: "_ceil", sympy.Min: "min", sympy.Max: "max"}


def _source(e: sympy.Expr, names: dict) -> str:
    if e in names:
        return names[e]
    if e.is_Integer:
        return f"({int(e)})"
    if e.is_Rational:
        return f"_F({e.p}, {e.q})"
    if e.is_Add:
        return "(" + " + ".join(_source(a, names) for a in e.args) + ")"
    if e.is_Mul:
        return "(" + " * ".join(_source(a, names) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and e.exp >= 0:
        return f"({_source(e.base, names)} ** {int(e.exp)})"
    if isinstance(e, sympy.Mod):
        return f"({_source(e.args[0], names)} % {_source(e.args[1], names)})"
    if type(e) in _CALLS:
        return f"{_CALLS[type(e)]}({', '.join(_source(a, names) for a in e.args)})"
    if e in (sympy.oo, -sympy.oo):
        return "float('inf')" if e == sympy.oo else "float('-inf')"
    raise Unbounded(f"cannot evaluate {e}")
