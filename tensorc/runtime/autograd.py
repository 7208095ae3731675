"""torch.autograd and torch.compile for compiled defs: each def becomes a torch custom op.

A call with torch tensors goes through here when one of them requires grad (and grad mode is on)
or when torch.compile is tracing: `call` runs the def as the custom op `tensorc::<def>_<n>`, whose
- implementation is the def's ordinary compiled call (any backend),
- fake implementation gives the outputs' shapes and dtypes from the def's shape expressions
  (so `torch.compile(fullgraph=True)` traces it without running it),
- autograd formula runs the gradient def (`tensorc.grad`) as a second custom op
  `tensorc::<def>_<n>_grad`, whose own backward raises (double backward is not implemented).

Integer and bool outputs are non-differentiable; a float input that requires grad always gets
its gradient (0-d tensors for scalar parameters too): a def that cannot be differentiated raises
at the forward call, it is never silently detached.

Example:
    >>> x = torch.randn(100, 3, dtype=torch.float64, requires_grad=True)
    >>> mod.rbf_gram(x, 0.5).sum().backward()   # x.grad from the compiled gradient kernels
"""

from __future__ import annotations

import itertools
import sys
import threading
from dataclasses import dataclass
from typing import Any

import sympy

from tensorc.errors import UnsupportedError
from tensorc.ir.tensor_ir import size_symbol
from tensorc.ir.types import is_float

_LOCK = threading.RLock()
_COUNTER = itertools.count()
_OPS: dict[int, _Ops] = {}  # id(Function) -> its ops (the Function is kept alive in _Ops)


def wanted(args: tuple) -> bool:
    """Whether a call must go through the custom op: a torch tensor that requires grad (grad
    mode on), or any torch tensor while torch.compile traces."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    if not tensors:
        return False
    return torch.compiler.is_compiling() or _grad_wanted(torch, tensors)


def _grad_wanted(torch, args) -> bool:
    """Whether autograd will record this call: grad mode on and a tensor that requires grad."""
    return torch.is_grad_enabled() and any(
        isinstance(a, torch.Tensor) and a.requires_grad for a in args
    )


def call(fn, args: tuple) -> Any:
    """`fn(*args)` through its custom op (autograd-aware, traceable by torch.compile); when a
    gradient will be needed, through the saving forward's op, whose extra outputs (values the
    backward reads, e.g. attention's logsumexp) stay hidden."""
    import torch

    ops = ops_for(fn)
    args = ops.arguments(args)
    if ops.saving is None or not _grad_wanted(torch, args):
        return ops.forward(*args)
    res = ops.saving(*args)[: len(ops.outputs)]
    return res if len(res) > 1 else res[0]


def prepare(fn) -> None:
    """Register `fn`'s custom op now if torch is loaded (~1 ms): torch.compile cannot trace the
    registration, so a def first called inside a compiled function must already have its op."""
    if "torch" in sys.modules:
        ops_for(fn)


def ops_for(fn) -> _Ops:
    """The custom ops of a compiled def, registered on first use."""
    ops = _OPS.get(id(fn))
    if ops is None:
        with _LOCK:
            ops = _OPS.get(id(fn))
            if ops is None:
                ops = _OPS[id(fn)] = _Ops.register(fn)
    return ops


def _schema_type(decl) -> str:
    if decl.shape:
        return "Tensor"
    if is_float(decl.dtype):
        return "Tensor"  # a float scalar parameter: a 0-d tensor, so it can get a gradient
    return "bool" if decl.dtype == "bool" else "SymInt"


@dataclass
class _Ops:
    fn: Any  # the forward Function
    forward: Any  # torch custom op
    outputs: tuple  # forward output decls
    grad_state: dict  # (wrt, saving) -> (the gradient's custom op, wrt names), built on first use
    saving: Any = None  # the saving forward's op (grad.saving_forward), None when it adds nothing

    @staticmethod
    def register(fn) -> _Ops:
        from tensorc.grad import gradient
        from tensorc.runtime.module import Function

        d = fn.def_
        ops = _Ops(fn, None, d.outputs, {})
        op = _custom_op(fn)
        op.register_autograd(ops._backward, setup_context=ops._setup)
        ops.forward = op
        try:
            aug = gradient(d, save_values=True).forward
        except Exception:  # noqa: BLE001 - not differentiable: the plain op's autograd
            aug = d  # raises the real error at the forward call (never at compile time)
        if len(aug.outputs) > len(d.outputs):
            saving = _custom_op(Function(aug, fn.backend, autograd_ops=False))
            saving.register_autograd(
                lambda ctx, *g: ops._backward(ctx, *g, saving=True),
                setup_context=lambda ctx, inputs, output: ops._setup(ctx, inputs, output, True),
            )
            ops.saving = saving
        return ops

    def arguments(self, args: tuple) -> tuple:
        """Float scalars as 0-d tensors (the schema's type for them)."""
        import torch

        out = []
        for decl, a in zip(self.fn.def_.inputs, args):
            if not decl.shape and is_float(decl.dtype) and not isinstance(a, torch.Tensor):
                a = torch.tensor(float(a), dtype=_torch_dtype(decl.dtype))
            out.append(a)
        return tuple(out)

    # -- autograd ----------------------------------------------------------------------------
    def _setup(self, ctx, inputs, output, saving: bool = False) -> None:
        outs = output if isinstance(output, tuple) else (output,)
        n = len(self.outputs)
        ctx.mark_non_differentiable(
            *[o for o, t in zip(outs, self.outputs) if not is_float(t.dtype)], *outs[n:]
        )
        self.grad_op(None, saving)  # a def that cannot be differentiated raises here
        ctx.inputs = inputs
        ctx.outs = outs

    def grad_op(self, wrt: tuple[str, ...] | None = None, saving: bool = False):
        """(op, wrt): the gradient def for `wrt` (default: every float input) as a custom op,
        one per set of inputs that need a gradient; `saving`: the backward of the saving
        forward (it reads its extra outputs)."""
        key = (wrt, saving)
        if key not in self.grad_state:
            with _LOCK:
                if key not in self.grad_state:
                    self.grad_state[key] = _register_grad(self.fn, wrt, saving)
        return self.grad_state[key]

    def _backward(self, ctx, *grads, saving: bool = False):
        import torch

        d = self.fn.def_
        need = getattr(ctx, "needs_input_grad", None) or (True,) * len(d.inputs)
        wrt = tuple(t.name for t, n in zip(d.inputs, need) if n and is_float(t.dtype))
        if not wrt:
            return tuple(None for _ in d.inputs)
        op, wrt = self.grad_op(wrt, saving)
        # an unused output's cotangent is a broadcast zero: read as a scalar (runtime/broadcast)
        cots = [
            g if g is not None else o.new_zeros(()).expand(o.shape)
            for g, o, t in zip(grads, ctx.outs, self.outputs)
            if is_float(t.dtype)
        ]
        res = op(*ctx.inputs, *ctx.outs, *cots)
        res = res if isinstance(res, tuple) else (res,)
        by_name = dict(zip(wrt, res))
        out = []
        for decl, a in zip(d.inputs, ctx.inputs):
            g = by_name.get(decl.name)
            out.append(None if g is None or not isinstance(a, torch.Tensor) else g.reshape(a.shape))
        return tuple(out)


def _register_grad(fn, wrt: tuple[str, ...] | None, saving: bool = False):
    """The gradient def of `fn` (wrt those inputs, default every float input; `saving`: of its
    saving forward) as a custom op; (op, wrt names)."""
    from tensorc.grad import gradient
    from tensorc.runtime.module import Function

    g = gradient(fn.def_, wrt, save_values=saving)
    op = _custom_op(Function(g.backward, fn.backend, autograd_ops=False))

    def twice(ctx, *grads):
        raise UnsupportedError(
            f"double backward through the tensorc def {fn.def_.name!r} is not implemented",
            hint="differentiate once (no create_graph=True), or write the gradient as a def",
        )

    op.register_autograd(twice, setup_context=lambda ctx, inputs, output: None)
    return op, tuple(x for x, _ in g.grads)


def _custom_op(fn):
    """`fn` (a compiled def) as a torch custom op `tensorc::<def>_<n>` with its fake
    implementation (output shapes from the def's shape expressions); no autograd yet."""
    import torch

    d = fn.def_
    name = f"{_identifier(d.name)}_{next(_COUNTER)}"
    params = ", ".join(f"{_schema_type(t)} {_identifier(t.name)}" for t in d.inputs)
    outs = ", ".join("Tensor" for _ in d.outputs)
    schema = f"({params}) -> ({outs})" if len(d.outputs) > 1 else f"({params}) -> Tensor"

    def impl(*args):
        res = fn(*_plain(args, d))
        res = res if isinstance(res, tuple) else (res,)
        out = tuple(_as_tensor(r, t.dtype, args) for r, t in zip(res, d.outputs))
        return out if len(out) > 1 else out[0]

    def fake(*args):
        out = tuple(_empty_like_decl(t, d, args) for t in d.outputs)
        return out if len(out) > 1 else out[0]

    op = torch.library.custom_op(f"tensorc::{name}", impl, mutates_args=(), schema=schema)
    op.register_fake(fake)
    return op


# --- helpers ----------------------------------------------------------------------------------


def _identifier(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def _torch_dtype(dtype: str):
    from tensorc.runtime import arrays

    return arrays.torch_dtype(dtype)


def _plain(args: tuple, d) -> tuple:
    """Op arguments as the def's call takes them: a 0-d tensor for a scalar parameter becomes a
    Python number (no device copy), tensors lose their autograd history."""
    out = []
    for decl, a in zip(d.inputs, args):
        if hasattr(a, "detach"):
            a = a.detach()
            if not decl.shape:
                a = a.item()
        out.append(a)
    return tuple(out)


def _as_tensor(r, dtype: str, args: tuple):
    """An output as a fresh torch tensor on the inputs' device (numpy outputs converted)."""
    import torch

    device = next((a.device for a in args if isinstance(a, torch.Tensor) and a.dim()), None)
    if device is None:
        device = next((a.device for a in args if isinstance(a, torch.Tensor)), "cpu")
    t = r if isinstance(r, torch.Tensor) else torch.as_tensor(r)
    t = t.to(device=device, dtype=_torch_dtype(dtype))
    # a custom op's output must not alias an input; the call allocates its outputs, so a copy
    # (64 MB for a 4096^2 Gram matrix) is only needed if a backend ever returned an input's memory
    inputs = {a.untyped_storage().data_ptr() for a in args if isinstance(a, torch.Tensor)}
    return t.clone() if t.untyped_storage().data_ptr() in inputs else t


def _empty_like_decl(decl, d, args: tuple):
    """An empty tensor with the shape `decl` has for these (fake) arguments."""
    import torch

    sizes: dict = {}
    for t, a in zip(d.inputs, args):
        if not t.shape:
            if not is_float(t.dtype):
                sizes[size_symbol(t.name)] = a
            continue
        for dim, actual in zip(t.shape, a.shape):
            dim = sympy.sympify(dim)
            if dim.is_Symbol:
                sizes.setdefault(dim, actual)
    shape = []
    for dim in decl.shape:
        value = sympy.sympify(dim).subs({k: int(v) for k, v in sizes.items()})
        shape.append(int(value))
    device = next((a.device for a in args if isinstance(a, torch.Tensor) and a.dim()), "cpu")
    return torch.empty(shape, dtype=_torch_dtype(decl.dtype), device=device)
