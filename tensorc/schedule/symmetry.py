"""Gram symmetry: detect `g(i, j) = f(x_i, x_j)` with f symmetric under swapping i and j.

Compared with sympy: the RHS becomes a sympy expression (tensor reads are applied functions,
reductions opaque functions of their body and bound indices), and it is symmetric when
`expand(e - e[i <-> j]) == 0`. Such a statement computes only j >= i and stores both g(i, j) and
g(j, i).
"""

from __future__ import annotations

import sympy

from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import index_sym, walk

_BIN = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b, "pow": lambda a, b: a**b}  # fmt: skip


def to_sympy(e: T.Expr):
    if isinstance(e, T.Index):
        return index_sym(e.name)
    if isinstance(e, T.Const):
        return sympy.sympify(e.value)
    if isinstance(e, T.Access):
        if not e.indices:
            return sympy.Symbol(e.tensor)
        return sympy.Function(e.tensor)(*(to_sympy(i) for i in e.indices))
    if isinstance(e, T.Call):
        args = [to_sympy(a) for a in e.args]
        if e.fn in _BIN:
            return _BIN[e.fn](*args)
        if e.fn == "neg":
            return -args[0]
        if e.fn == "exp":
            return sympy.exp(args[0])
        return sympy.Function("op_" + e.fn)(*args)
    if isinstance(e, T.Reduce):
        bound = [index_sym(r.index) for r in e.ranges]
        extra = [sympy.sympify(r.lo) for r in e.ranges] + [sympy.sympify(r.hi) for r in e.ranges]
        mask = to_sympy(e.mask) if e.mask is not None else sympy.true
        return sympy.Function("red_" + e.op)(sympy.expand(to_sympy(e.body)), mask, *bound, *extra)
    raise AssertionError(e)


def symmetric_pair(def_: T.Def, st: T.Statement) -> tuple[str, str] | None:
    """(i, j) if `st` writes a square (i, j) output symmetric in i and j, else None."""
    if len(st.indices) != 2 or st.mask is not None:
        return None
    i, j = st.indices
    ri, rj = st.domain
    if i == j or not T.is_zero(ri.lo - rj.lo) or not T.is_zero(ri.hi - rj.hi):
        return None
    if any(isinstance(x, T.Access) and x.tensor == st.tensor for x in walk(st.rhs)):
        return None
    try:
        e = to_sympy(st.rhs)
        si, sj = index_sym(i), index_sym(j)
        swapped = e.subs({si: sj, sj: si}, simultaneous=True)
        if sympy.expand(e - swapped) == 0:
            return (i, j)
    except (TypeError, ValueError, AttributeError):
        return None
    return None
