"""A tiny builder for hand-written LoopPrograms (until tensorc.passes.to_loops lands).

    f32 = "float32"
    x = buf("x", f32, ("N",))
    prog = program("scale", [x], [buf("y", f32, ("N",), "output")], ["N"],
                   [loop("i", 0, V("N"), [store("y", [V("i")], mul(ld("x", [V("i")]), c(2.0)))])])
"""

from __future__ import annotations

import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir.ops import result_dtype


def V(name: str, dtype: str = "int64") -> L.Var:
    return L.Var(name, dtype)


def c(value, dtype: str | None = None) -> L.Const:
    if dtype is None:
        dtype = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "float32"
    return L.Const(value, dtype)


def _e(x) -> L.LExpr:
    return x if isinstance(x, L.LExpr) else c(x)


def call(fn: str, *args, dtype: str | None = None) -> L.Call:
    args = tuple(_e(a) for a in args)
    if dtype is None:
        dtype = result_dtype(fn, tuple(a.dtype for a in args))
    return L.Call(fn, args, dtype)


def cast(x, dtype: str) -> L.Call:
    return L.Call("cast", (_e(x),), dtype)


def ld(buffer: str, index, dtype: str = "float32") -> L.Load:
    return L.Load(buffer, tuple(_e(i) for i in index), dtype)


def lr(name: str, index=(), dtype: str = "float32") -> L.LocalRead:
    return L.LocalRead(name, tuple(_e(i) for i in index), dtype)


def store(buffer: str, index, value) -> L.Store:
    return L.Store(buffer, tuple(_e(i) for i in index), _e(value))


def assign(name: str, index, value) -> L.Assign:
    return L.Assign(name, tuple(_e(i) for i in index), _e(value))


def local(name: str, dtype: str, shape=(), init=0.0) -> L.Local:
    return L.Local(name, dtype, tuple(_e(s) for s in shape), _e(init) if not isinstance(init, float)
                   else L.Const(init, dtype))


def let(name: str, value) -> L.Let:
    return L.Let(name, _e(value))


def loop(var: str, start, stop, body, kind: str = "serial", step: int = 1) -> L.Loop:
    return L.Loop(var, _e(start), _e(stop), tuple(body), kind, step)


def if_(cond, then, orelse=()) -> L.If:
    return L.If(_e(cond), tuple(then), tuple(orelse))


def buf(name: str, dtype: str, shape, role: str = "input") -> L.Buffer:
    return L.Buffer(name, dtype, tuple(sympy.Symbol(s, integer=True, positive=True) if isinstance(s, str)
                                       else sympy.sympify(s) for s in shape), role)


def kernel(name: str, buffers, sizes, body) -> L.Kernel:
    return L.Kernel(name, tuple(buffers), tuple(sizes), tuple(body))


def program(name: str, inputs, outputs, sizes, body, temps=(), kernels=None,
            static_sizes=()) -> L.LoopProgram:
    """One-kernel program unless `kernels` is given."""
    if kernels is None:
        kernels = [kernel(name, [*inputs, *outputs, *temps], sizes, body)]
    return L.LoopProgram(name, tuple(inputs), tuple(outputs), tuple(temps), tuple(sizes),
                         tuple(kernels), tuple(static_sizes))


def add(a, b):
    return call("add", a, b)


def sub(a, b):
    return call("sub", a, b)


def mul(a, b):
    return call("mul", a, b)


def div(a, b):
    return call("div", a, b)


def vector_lanes(llvm_ir: str) -> int:
    """The widest `<n x float>` vector in LLVM IR text (8 on AVX2 hosts, 16 on AVX-512), 0 if none:
    tests assert vectorisation on the host's own width."""
    import re

    return max((int(n) for n in re.findall(r"<(\d+) x float>", llvm_ir)), default=0)
