"""A tiny LoopIR builder for hand-written test programs, and a runner that compares with numpy."""

from __future__ import annotations

import numpy as np
import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir.ops import result_dtype
from tensorc.ir.types import to_numpy

I64 = "int64"


def V(name: str, dtype: str = I64) -> L.Var:
    return L.Var(name, dtype)


def C(value, dtype: str | None = None) -> L.Const:
    if dtype is None:
        dtype = "bool" if isinstance(value, bool) else I64 if isinstance(value, int) else "float32"
    return L.Const(value, dtype)


def _e(x) -> L.LExpr:
    return x if isinstance(x, L.LExpr) else C(x)


def call(fn: str, *args, dtype: str | None = None) -> L.Call:
    args = tuple(_e(a) for a in args)
    if dtype is None:
        dtype = result_dtype(fn, tuple(a.dtype for a in args))
    return L.Call(fn, args, dtype)


def add(a, b):
    return call("add", a, b)  # noqa: E704


def sub(a, b):
    return call("sub", a, b)  # noqa: E704


def mul(a, b):
    return call("mul", a, b)  # noqa: E704


def lt(a, b):
    return call("lt", a, b)  # noqa: E704


def buf(name: str, dtype: str, shape, role: str) -> L.Buffer:
    dims = tuple(sympy.Symbol(s) if isinstance(s, str) else sympy.Integer(s) for s in shape)
    return L.Buffer(name, dtype, dims, role)


class Prog:
    """Collects buffers; `ld`/`st` know each buffer's dtype; `program()` makes one-kernel programs."""

    def __init__(self, *buffers: L.Buffer, sizes=("N",)):
        self.buffers = {b.name: b for b in buffers}
        self.sizes = tuple(sizes)

    def ld(self, name: str, *index) -> L.Load:
        return L.Load(name, tuple(_e(i) for i in index), self.buffers[name].dtype)

    def st(self, name: str, *index_and_value) -> L.Store:
        *index, value = index_and_value
        return L.Store(name, tuple(_e(i) for i in index), _e(value))

    def var(self, name: str) -> L.Var:
        b = self.buffers[name]
        return L.Var(name, b.dtype)

    def kernel(self, name: str, *body: L.Stmt) -> L.Kernel:
        return L.Kernel(name, tuple(self.buffers.values()), self.sizes, tuple(body))

    def program(self, *kernels_or_body, name="p", static_sizes=()) -> L.LoopProgram:
        if kernels_or_body and isinstance(kernels_or_body[0], L.Kernel):
            kernels = kernels_or_body
        else:
            kernels = (self.kernel(name, *kernels_or_body),)
        bs = list(self.buffers.values())
        return L.LoopProgram(
            name,
            tuple(b for b in bs if b.role in ("input", "scalar")),
            tuple(b for b in bs if b.role == "output"),
            tuple(b for b in bs if b.role == "temp"),
            self.sizes,
            tuple(kernels),
            tuple(static_sizes),
        )


def loop(var: str, start, stop, *body, kind: str = "serial", step: int = 1) -> L.Loop:
    return L.Loop(var, _e(start), _e(stop), tuple(body), kind, step)


def ploop(var, start, stop, *body, step=1):
    return loop(var, start, stop, *body, kind="parallel", step=step)


def local(name: str, dtype: str, init, shape=()) -> L.Local:
    return L.Local(name, dtype, tuple(_e(s) for s in shape), _e(init))


def rd(name: str, dtype: str, *index) -> L.LocalRead:
    return L.LocalRead(name, tuple(_e(i) for i in index), dtype)


def assign(name: str, value, *index) -> L.Assign:
    return L.Assign(name, tuple(_e(i) for i in index), _e(value))


def run(prog: L.LoopProgram, inputs: dict, sizes: dict[str, int], config=None) -> dict:
    """Compile with the Triton backend, run on CPU tensors, return outputs as numpy arrays."""
    import torch
    from tensorc.backends import get_backend

    backend = get_backend("triton")
    exe = backend.compile(prog, config)
    env = {k: sympy.Integer(v) for k, v in {**dict(prog.static_sizes), **sizes}.items()}
    tensors = {}
    for b in (*prog.inputs, *prog.outputs, *prog.temps):
        if b.role == "scalar":
            tensors[b.name] = inputs[b.name]
            continue
        shape = tuple(int(s.subs({x: env[str(x)] for x in s.free_symbols})) for s in b.shape)
        if b.name in inputs:
            arr = np.ascontiguousarray(np.asarray(inputs[b.name], dtype=to_numpy(b.dtype)))
            assert arr.shape == shape, (b.name, arr.shape, shape)
        else:
            arr = np.zeros(shape, dtype=to_numpy(b.dtype))
        tensors[b.name] = torch.from_numpy(arr.copy())
    exe(tensors, sizes)
    return {b.name: tensors[b.name].numpy() for b in prog.outputs}
