"""A tiny builder of canonical TensorIR for tests (until/besides the front end)."""

from __future__ import annotations

import sympy

from tensorc.ir import tensor_ir as T
from tensorc.ir.ops import result_dtype
from tensorc.ir.tensor_ir import size_symbol


class E:
    __slots__ = ("e",)

    def __init__(self, e: T.Expr):
        self.e = e

    @property
    def dtype(self):
        return self.e.dtype

    def _bin(self, fn, other, rev=False):
        o = lift(other, self.dtype)
        a, b = (o, self) if rev else (self, o)
        return E(T.Call(fn, (a.e, b.e), result_dtype(fn, (a.dtype, b.dtype))))

    def __add__(self, o):
        return self._bin("add", o)

    def __radd__(self, o):
        return self._bin("add", o, True)

    def __sub__(self, o):
        return self._bin("sub", o)

    def __rsub__(self, o):
        return self._bin("sub", o, True)

    def __mul__(self, o):
        return self._bin("mul", o)

    def __rmul__(self, o):
        return self._bin("mul", o, True)

    def __truediv__(self, o):
        return self._bin("div", o)

    def __rtruediv__(self, o):
        return self._bin("div", o, True)

    def __neg__(self):
        return E(T.Call("neg", (self.e,), self.dtype))

    def __le__(self, o):
        return self._bin("le", o)

    def __lt__(self, o):
        return self._bin("lt", o)

    def __ge__(self, o):
        return self._bin("ge", o)

    def __gt__(self, o):
        return self._bin("gt", o)

    def __and__(self, o):
        return self._bin("and", o)


def lift(x, like: str = "float32") -> E:
    if isinstance(x, E):
        return x
    if isinstance(x, T.Expr):
        return E(x)
    if isinstance(x, bool):
        return E(T.Const(x, "bool"))
    if isinstance(x, int):
        return E(T.Const(x, "int64" if like in ("int64", "bool") or like.startswith("int") else like))
    return E(T.Const(float(x), like if like.startswith("float") else "float64"))


def ix(name: str) -> E:
    return E(T.Index(name))


def A(tensor: str, *indices, dtype: str = "float32") -> E:
    idx = tuple(ix(i).e if isinstance(i, str) else lift(i, "int64").e for i in indices)
    return E(T.Access(tensor, idx, dtype))


def call(fn: str, *args) -> E:
    es = [lift(a) for a in args]
    return E(T.Call(fn, tuple(a.e for a in es), result_dtype(fn, tuple(a.dtype for a in es))))


def sym(x):
    if isinstance(x, str):
        return size_symbol(x)
    return sympy.sympify(x)


def rng(name: str, hi, lo=0) -> T.Range:
    return T.Range(name, sym(lo), sym(hi))


def red(op: str, ranges, body, mask=None, k: int = 0, rank: str | None = None) -> E:
    body = lift(body)
    if op in ("argmax", "argmin", "argkmin"):
        dt = "int64"
    else:
        dt = body.dtype
    return E(T.Reduce(op, tuple(ranges), body.e, None if mask is None else lift(mask).e, dt, k, rank))


def st(tensor: str, indices: str | tuple, domain, rhs, mask=None) -> T.Statement:
    idx = tuple(indices)
    return T.Statement(tensor, idx, tuple(domain), lift(rhs).e, None if mask is None else lift(mask).e)


def decl(name: str, shape=(), dtype: str = "float32", role: str = "input") -> T.TensorDecl:
    return T.TensorDecl(name, dtype, tuple(sym(s) for s in shape), role)


def define(name, inputs, outputs, body, temps=()) -> T.Def:
    return T.Def(name, tuple(inputs), tuple(outputs), tuple(temps), tuple(body))


def sqdist(xa, ya, d="d", D="D"):
    diff = A(xa[0], *xa[1:]) - A(ya[0], *ya[1:])
    return red("sum", [rng(d, D)], diff * diff)
