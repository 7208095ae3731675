"""Call arguments beyond positional inputs: keywords by parameter name, and `out=` buffers.

`bind_keywords` turns `f(x, w=w)` into the positional tuple the runtime checks (Python's rules:
an unknown, repeated or missing name is a `TypeError`). `out=` buffers are checked once per
signature by `out_slots` (one buffer per output: the caller's array type, exact dtype and shape,
writable) which also decides whether the backend may write straight into a buffer (dense, of the
buffer type it writes) or the result is copied in; `check_no_alias` runs on every call, since two
arrays of one signature may or may not share memory.

Example:
    >>> C = np.empty((64, 32), np.float32)
    >>> mod.mm(A, B=B, out=C) is C
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.array_utils import byte_bounds

from tensorc.errors import ArgumentShapeError, ArgumentTypeError
from tensorc.frontend.names import did_you_mean
from tensorc.ir.tensor_ir import TensorDecl
from tensorc.runtime import arrays

__all__ = [
    "OutSlot",
    "bind_keywords",
    "check_no_alias",
    "copy_into",
    "out_slots",
    "out_tuple",
    "zeroed",
]


def bind_keywords(fname: str, params: list[str], args: tuple, kwargs: dict[str, Any]) -> tuple:
    """The positional arguments of `fname(*args, **kwargs)` for parameters `params`."""
    if len(args) > len(params):
        raise ArgumentTypeError(
            f"{fname}() takes {len(params)} argument(s) ({', '.join(params)}), got {len(args)} "
            f"positional and {len(kwargs)} keyword"
        )
    bound = dict(zip(params, args))
    for name, value in kwargs.items():
        if name not in params:
            raise ArgumentTypeError(
                f"{fname}() got an unexpected keyword argument {name!r}",
                hint=did_you_mean(name, params) or f"parameters are: {', '.join(params)}",
            )
        if name in bound:
            raise ArgumentTypeError(f"{fname}() got multiple values for argument {name!r}")
        bound[name] = value
    missing = [p for p in params if p not in bound]
    if missing:
        raise ArgumentTypeError(
            f"{fname}() is missing argument(s) {', '.join(map(repr, missing))}",
            hint=f"parameters are: {', '.join(params)}",
        )
    return tuple(bound[p] for p in params)


def out_tuple(fname: str, outputs: tuple[TensorDecl, ...], out: Any) -> tuple:
    """`out=` as one buffer per output: an array for a def with one output, else a tuple in the
    order of the outputs (numpy's ufunc convention: `out=(a,)` works for one output too)."""
    outs = out if isinstance(out, tuple) else (out,)
    if len(outs) != len(outputs):
        raise ArgumentTypeError(
            f"{fname}(): out= has {len(outs)} buffer(s), the def has {len(outputs)} output(s) "
            f"({', '.join(d.name for d in outputs)})",
            hint="pass a tuple with one array per output, in that order",
        )
    return outs


@dataclass(frozen=True, slots=True)
class OutSlot:
    """How the result of one output reaches the caller's buffer: `direct` (the backend writes it,
    after zero-filling, through `view`: None = the buffer itself) or copied in after the run."""

    name: str
    direct: bool
    view: Any = None  # buffer -> what the backend writes (a torch cpu tensor's numpy view)


def out_slots(
    fname: str,
    outputs: tuple[TensorDecl, ...],
    outs: tuple,
    shapes: list[tuple],
    like: str,
    device: str,
    on_torch: bool,
) -> tuple[OutSlot, ...]:
    """Check each `out=` buffer against its output (array type, dtype, shape, writable) and say
    how the result gets there. `like`: the caller's array type ("numpy" or "torch"); `on_torch`:
    the backend writes torch tensors on `device`."""
    slots = []
    for k, (decl, buf, shape) in enumerate(zip(outputs, outs, shapes)):
        what = f"out= buffer for output {decl.name!r}"
        what += f" (out[{k}])" if len(outputs) > 1 else ""
        want = f"{decl.dtype}{list(shape)}"
        if like == "torch" and not arrays.is_torch(buf):
            raise ArgumentTypeError(
                f"{fname}(): {what}: expected a torch tensor {want} on {device} (the inputs are "
                f"torch tensors), got {type(buf).__name__}"
            )
        if like == "numpy" and type(buf) is not np.ndarray:
            raise ArgumentTypeError(
                f"{fname}(): {what}: expected a numpy array {want}, got {type(buf).__name__}",
                hint="results come back in the inputs' array type; so do out= buffers",
            )
        if like == "torch":
            slots.append(_torch_slot(fname, what, decl, buf, shape, device, on_torch))
        else:
            slots.append(_numpy_slot(fname, what, decl, buf, shape, on_torch))
    return tuple(slots)


def _numpy_slot(
    fname: str, what: str, decl: TensorDecl, buf: np.ndarray, shape, on_torch: bool
) -> OutSlot:
    dtype = arrays.numpy_dtype(decl.dtype)
    if buf.dtype != dtype:
        raise ArgumentTypeError(
            f"{fname}(): {what}: expected dtype {decl.dtype}, got {buf.dtype}",
            hint=f"allocate it as np.empty({tuple(shape)}, np.{dtype})",
        )
    _check_shape(fname, what, tuple(buf.shape), shape)
    if not buf.flags.writeable:
        raise ArgumentShapeError(f"{fname}(): {what} is read-only")
    direct = buf.flags.c_contiguous and buf.dtype.isnative and not on_torch
    return OutSlot(decl.name, direct)


def _torch_slot(
    fname: str, what: str, decl: TensorDecl, buf, shape, device: str, on_torch: bool
) -> OutSlot:
    got = str(buf.dtype).removeprefix("torch.")
    if got != decl.dtype:
        raise ArgumentTypeError(f"{fname}(): {what}: expected dtype torch.{decl.dtype}, got {got}")
    _check_shape(fname, what, tuple(buf.shape), shape)
    if str(buf.device) != device and not (device == "cpu" and buf.device.type == "cpu"):
        raise ArgumentTypeError(
            f"{fname}(): {what}: expected a tensor on {device}, got one on {buf.device}"
        )
    if not buf.is_contiguous():
        return OutSlot(decl.name, False)
    if on_torch:
        return OutSlot(decl.name, True)
    if decl.dtype == "bfloat16" or buf.device.type != "cpu":
        return OutSlot(decl.name, False)  # bf16 travels as bits, a GPU tensor has no numpy view
    return OutSlot(decl.name, True, _numpy_view)


def _numpy_view(t) -> np.ndarray:
    return t.detach().numpy()  # shares memory with t


def _check_shape(fname: str, what: str, got: tuple, want: tuple) -> None:
    if got != tuple(want):
        raise ArgumentShapeError(f"{fname}(): {what}: expected shape {tuple(want)}, got {got}")


def check_no_alias(
    fname: str,
    outputs: tuple[TensorDecl, ...],
    outs: tuple,
    inputs: tuple[TensorDecl, ...],
    args: tuple,
) -> None:
    """Raise if an `out=` buffer shares memory with an input or another `out=` buffer."""
    for k, (decl, buf) in enumerate(zip(outputs, outs)):
        others = [(f"input {d.name!r}", a) for d, a in zip(inputs, args)]
        others += [
            (f"the out= buffer of output {d.name!r}", o) for d, o in zip(outputs[:k], outs[:k])
        ]
        for who, arr in others:
            if _overlaps(buf, arr):
                raise ArgumentShapeError(
                    f"{fname}(): the out= buffer for output {decl.name!r} shares memory with {who}",
                    hint="pass a separate array (the kernel would read what it already wrote)",
                )


def _overlaps(a: Any, b: Any) -> bool:
    if type(a) is np.ndarray and type(b) is np.ndarray:
        if not np.may_share_memory(a, b):
            return False
        try:
            return bool(np.shares_memory(a, b, max_work=10_000))
        except np.exceptions.TooHardError:
            return True
    ra, rb = _byte_range(a), _byte_range(b)
    return ra is not None and rb is not None and ra[0] == rb[0] and ra[1] < rb[2] and rb[1] < ra[2]


def _byte_range(x: Any) -> tuple[str, int, int] | None:
    """The device and [first, last) byte of an array (None: a scalar or empty)."""
    if isinstance(x, np.ndarray):
        return ("cpu", *byte_bounds(x)) if x.size else None
    if arrays.is_torch(x) and x.numel():
        span = sum((n - 1) * s for n, s in zip(x.shape, x.stride()))
        return str(x.device), x.data_ptr(), x.data_ptr() + (span + 1) * x.element_size()
    return None


def zeroed(buf: Any) -> Any:
    """`buf` (an out= buffer the backend writes into) filled with zeros, as fresh outputs are."""
    if arrays.is_torch(buf):
        return buf.zero_()
    buf.fill(0)
    return buf


def copy_into(buf: Any, result: Any) -> None:
    """Write a backend's result (numpy array or torch tensor) into the caller's `out=` buffer
    (bfloat16 travels as uint16 bits on the numpy side)."""
    if arrays.is_torch(buf):
        import torch

        if arrays.is_torch(result):
            src = result
        elif buf.dtype == torch.bfloat16:
            bits = np.ascontiguousarray(result).view(np.int16)
            src = torch.from_numpy(bits).view(torch.bfloat16)
        else:
            src = torch.from_numpy(np.ascontiguousarray(result))
        buf.copy_(src)
        return
    if arrays.is_torch(result):
        import torch

        t = result.detach().cpu()
        bf16 = t.dtype == torch.bfloat16
        result = t.view(torch.int16).numpy().view(np.uint16) if bf16 else t.numpy()
    np.copyto(buf, result)
