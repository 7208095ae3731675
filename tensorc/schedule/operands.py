"""Operand helpers that the Gemm-shaped lowerings share (contraction, gram, attention): how a
TensorIR read becomes a strided matrix view, and a product's scalars a Gemm's alpha.

They sit here, public, so that no lowering imports another's private names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import map_children, walk


def plain_access(a: T.Access) -> bool:
    """A read with distinct plain index names (`x(i, d)`, not `x(i, i)` or `x(i + 1, d)`)."""
    names = [i.name for i in a.indices if isinstance(i, T.Index)]
    return len(names) == len(a.indices) and len(set(names)) == len(names) and len(names) > 0


def strides(shape) -> list:
    """Row-major strides (sympy) of a buffer of `shape`."""
    out, acc = [], sympy.Integer(1)
    for d in reversed(shape):
        out.append(acc)
        acc = acc * d
    return list(reversed(out))


@dataclass
class View:
    """A buffer read as `buffer[indices...]` over its whole `shape`."""

    buffer: str
    indices: list[str]
    shape: list  # sympy

    def stride(self, idx: str):
        return strides(self.shape)[self.indices.index(idx)]


def same_extent(a, b) -> bool:
    return T.is_zero(a - b)


def replace_node(e: T.Expr, old: T.Expr, new: T.Expr) -> T.Expr:
    """`e` with every subexpression equal to `old` replaced by `new`."""
    if e == old:
        return new
    return map_children(e, lambda c: replace_node(c, old, new))


def scalar_alpha(scalars: list[T.Expr], dtype: str) -> L.LExpr:
    """The product of a Gemm's scalar factors (constants, scalar parameters) as its alpha."""
    out: L.LExpr = L.Const(1.0, dtype)
    for s in scalars:
        v = L.Const(s.value, dtype) if isinstance(s, T.Const) else L.Var(s.tensor, s.dtype)
        if v.dtype != dtype:
            v = L.Call("cast", (v,), dtype)
        out = v if out == L.Const(1.0, dtype) else L.Call("mul", (out, v), dtype)
    return out


def with_temps(def_: T.Def, pb) -> T.Def:
    """`def_` with the program builder's extra temps declared (for lowering an epilogue)."""
    extra = tuple(T.TensorDecl(b.name, b.dtype, b.shape, "temp") for b in pb.extra_temps)
    return replace(def_, temps=def_.temps + extra)


@dataclass
class SqDist:
    reduce: T.Reduce
    x: T.Access
    y: T.Access
    d: str
    extent: sympy.Expr


def _sq_operands(body: T.Expr):
    if not isinstance(body, T.Call):
        return None
    square = body.fn == "mul" and body.args[0] == body.args[1]
    if not square and not (body.fn == "pow" and body.args[1] == T.Const(2, body.args[1].dtype)):
        return None
    u = body.args[0]
    if isinstance(u, T.Call) and u.fn == "sub" and all(isinstance(a, T.Access) for a in u.args):
        return u.args
    return None


def find_sqdist(def_: T.Def, st: T.Statement) -> SqDist | None:
    """The first `sum_d (x(., d) - y(., d))^2` over two plain 2-d accesses in `st`, if any."""
    for x in walk(st.rhs):
        if not (
            isinstance(x, T.Reduce) and x.op == "sum" and len(x.ranges) == 1 and x.mask is None
        ):
            continue
        got = _sq_operands(x.body)
        if got is None:
            continue
        a, b = got
        d = x.ranges[0].index
        if not (plain_access(a) and plain_access(b)) or len(a.indices) != 2 or len(b.indices) != 2:
            continue
        if T.Index(d) not in a.indices or T.Index(d) not in b.indices:
            continue
        return SqDist(x, a, b, d, sympy.sympify(x.ranges[0].hi - x.ranges[0].lo))
    return None
