"""Derivatives of every pointwise builtin, as a rule table over TensorIR.

`derivative_rules[fn](node, g)` gives, for each argument of the call `node`, the cotangent that
flows into it when `g` flows out of `node` (None: no gradient, e.g. a condition or an integer).
The node itself stands for its value (`exp`'s derivative reuses `exp(x)`), so nothing is saved.
Ties of max/min/fmax/fmin/clamp go to the first argument, as the forward picks it.
A builtin without a row is not differentiable: `rule_for` raises naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tensorc.errors import UnsupportedError
from tensorc.grad.build import add, call, const, div, mul, neg, select, sub
from tensorc.ir.tensor_ir import Call, Expr

Rule = Callable[[Call, Expr], tuple[Expr | None, ...]]


def _c(node: Call, value: float) -> Expr:
    return const(value, node.dtype)


def _mul(n: Call, g: Expr):
    a, b = n.args
    if a == b:  # a square: one term 2 * a * g, not two equal ones
        return mul(g, mul(_c(n, 2), a)), None
    return mul(g, b), mul(g, a)


def _pow(n: Call, g: Expr):
    a, b = n.args
    da = mul(g, mul(b, call("pow", a, sub(b, _c(n, 1)))))
    db = mul(g, mul(call("log", a), n))
    return da, db


def _pick(cond_first: str):
    """Elementwise max/min: the first argument wins ties (and the forward's choice)."""

    def rule(n: Call, g: Expr):
        a, b = n.args
        first = call(cond_first, a, b)
        zero = _c(n, 0)
        return select(first, g, zero), select(first, zero, g)

    return rule


def _clamp(n: Call, g: Expr):
    x, lo, hi = n.args
    zero = _c(n, 0)
    low = call("max", x, lo)
    below = call("lt", x, lo)
    over = call("gt", low, hi)
    dx = select(call("or", below, over), zero, g)
    dlo = select(call("and", below, call("not", over)), g, zero)
    dhi = select(over, g, zero)
    return dx, dlo, dhi


def _unary(fn: Callable[[Call, Expr], Expr]) -> Rule:
    """A one-argument rule from its derivative `f'(x)` (given the node, whose arg is x)."""
    return lambda n, g: (mul(g, fn(n, n.args[0])),)


def _zero(n: Call, g: Expr):
    return tuple(None for _ in n.args)


def _ln(value: float):
    return lambda n, x: div(_c(n, 1), mul(x, _c(n, math.log(value))))


derivative_rules: dict[str, Rule] = {
    "add": lambda n, g: (g, g),
    "sub": lambda n, g: (g, neg(g)),
    "mul": lambda n, g: _mul(n, g),
    "div": lambda n, g: (div(g, n.args[1]), neg(div(mul(g, n.args[0]), mul(n.args[1], n.args[1])))),
    "neg": lambda n, g: (neg(g),),
    "pow": _pow,
    "fma": lambda n, g: (mul(g, n.args[1]), mul(g, n.args[0]), g),
    "select": lambda n, g: (None, select(n.args[0], g, _c(n, 0)), select(n.args[0], _c(n, 0), g)),
    "cast": lambda n, g: (g,),  # the caller casts g to the argument's dtype
    "max": _pick("ge"),
    "fmax": _pick("ge"),
    "min": _pick("le"),
    "fmin": _pick("le"),
    "clamp": _clamp,
    "relu": lambda n, g: (select(call("gt", n.args[0], _c(n, 0)), g, _c(n, 0)),),
    "abs": _unary(lambda n, x: call("sign", x)),
    "exp": _unary(lambda n, x: n),
    "exp2": _unary(lambda n, x: mul(n, _c(n, math.log(2)))),
    "expm1": _unary(lambda n, x: add(n, _c(n, 1))),
    "log": _unary(lambda n, x: div(_c(n, 1), x)),
    "log2": _unary(_ln(2)),
    "log10": _unary(_ln(10)),
    "log1p": _unary(lambda n, x: div(_c(n, 1), add(x, _c(n, 1)))),
    "sqrt": _unary(lambda n, x: div(_c(n, 0.5), n)),
    "rsqrt": _unary(lambda n, x: neg(div(mul(_c(n, 0.5), n), x))),
    "cbrt": _unary(lambda n, x: div(n, mul(_c(n, 3), x))),
    "sin": _unary(lambda n, x: call("cos", x)),
    "cos": _unary(lambda n, x: neg(call("sin", x))),
    "tan": _unary(lambda n, x: add(_c(n, 1), mul(n, n))),
    "asin": _unary(lambda n, x: call("rsqrt", sub(_c(n, 1), mul(x, x)))),
    "acos": _unary(lambda n, x: neg(call("rsqrt", sub(_c(n, 1), mul(x, x))))),
    "atan": _unary(lambda n, x: div(_c(n, 1), add(_c(n, 1), mul(x, x)))),
    "atan2": lambda n, g: (
        div(mul(g, n.args[1]), add(mul(n.args[0], n.args[0]), mul(n.args[1], n.args[1]))),
        neg(div(mul(g, n.args[0]), add(mul(n.args[0], n.args[0]), mul(n.args[1], n.args[1])))),
    ),
    "sinh": _unary(lambda n, x: call("cosh", x)),
    "cosh": _unary(lambda n, x: call("sinh", x)),
    "tanh": _unary(lambda n, x: sub(_c(n, 1), mul(n, n))),
    "erf": _unary(lambda n, x: mul(_c(n, 2 / math.sqrt(math.pi)), call("exp", neg(mul(x, x))))),
    "sigmoid": _unary(lambda n, x: mul(n, sub(_c(n, 1), n))),
    "softplus": _unary(lambda n, x: call("sigmoid", x)),
    "mod": lambda n, g: (g, neg(mul(g, call("floor", div(n.args[0], n.args[1]))))),
    # piecewise constant: zero almost everywhere
    **{fn: _zero for fn in ("floor", "ceil", "round", "trunc", "sign", "floordiv")},
    # comparisons and logic give bools: nothing flows through them
    **{fn: _zero for fn in ("lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not")},
}


def rule_for(node: Call) -> Rule:
    rule = derivative_rules.get(node.fn)
    if rule is None:
        raise UnsupportedError(
            f"cannot differentiate the builtin {node.fn!r}",
            hint=f"differentiable builtins: {', '.join(sorted(derivative_rules))}",
        )
    return rule
