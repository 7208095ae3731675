"""Array plumbing between user arrays (numpy, torch) and backend buffers.

Backends see dense row-major buffers: numpy arrays for "cpu"/"loops"/"interp", torch tensors for
"triton". bfloat16 has no numpy dtype, so on the numpy side it travels as uint16 bits.
"""

from __future__ import annotations

import functools
import mmap
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from tensorc.errors import ArgumentValueError
from tensorc.ir.types import DTYPES, is_float, is_int, to_numpy

_TORCH_NAMES = {
    "bool": "bool", "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "float16": "float16", "bfloat16": "bfloat16", "float32": "float32", "float64": "float64",
}


def _torch():
    """torch if the user already imported it (a torch tensor cannot exist otherwise)."""
    return sys.modules.get("torch")


def is_torch(x: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


class ArgInfo(NamedTuple):  # a NamedTuple: built for every argument of every call, and cheap
    """What the runtime needs to know of one argument before choosing a kernel."""

    kind: str  # "numpy" | "torch" | "scalar"
    dtype: str | None  # tensorc dtype name, None when not representable
    shape: tuple[int, ...]
    device: str  # "cpu" or "cuda:0" ...
    raw_dtype: str  # the user's dtype spelling, for error messages


_NUMPY_NAMES: dict[np.dtype, str] = {}  # dtype.name is slow (µs per call); names per dtype


def _numpy_name(dtype: np.dtype) -> str:
    name = _NUMPY_NAMES.get(dtype)
    if name is None:
        name = _NUMPY_NAMES[dtype] = dtype.name
    return name


def describe(x: Any) -> ArgInfo:
    if type(x) is np.ndarray:  # the common case first
        name = _numpy_name(x.dtype)
        return ArgInfo("numpy", name if name in DTYPES else None, x.shape, "cpu", name)
    if is_torch(x):
        name = str(x.dtype).removeprefix("torch.")
        dtype = name if name in _TORCH_NAMES else None
        return ArgInfo("torch", dtype, tuple(x.shape), str(x.device), name)
    if isinstance(x, (bool, int, float, np.generic)) and not isinstance(x, np.ndarray):
        arr = np.asarray(x)
        if isinstance(x, bool):
            dtype = "bool"
        elif isinstance(x, int):
            dtype = "int64"
        elif isinstance(x, float):
            dtype = "float64"
        else:
            dtype = arr.dtype.name if arr.dtype.name in DTYPES else None
        return ArgInfo("scalar", dtype, (), "cpu", type(x).__name__)
    if isinstance(x, np.ndarray):
        name = x.dtype.name
        return ArgInfo("numpy", name if name in DTYPES else None, x.shape, "cpu", name)
    raise TypeError(type(x).__name__)


def check_scalar(name: str, value: Any, dtype: str) -> None:
    """A scalar argument `name` must be representable in its declared `dtype`: an int32 parameter
    given 2**40 would wrap (or overflow in the conversion); raises `ArgumentValueError`."""
    if is_int(dtype):
        info = np.iinfo(to_numpy(dtype))
        if not info.min <= int(value) <= info.max:
            raise ArgumentValueError(
                f"argument {name!r}: {int(value)} does not fit {dtype}, whose range is "
                f"{info.min}..{info.max}",
                hint=f"pass a value in {info.min}..{info.max}, or declare {name} with a wider type",
            )
    elif is_float(dtype):
        try:
            float(value)
        except OverflowError:
            raise ArgumentValueError(
                f"argument {name!r}: {value} does not fit {dtype}, whose largest value is "
                f"{float(np.finfo(np.float32 if dtype == 'bfloat16' else to_numpy(dtype)).max):g}",
                hint="pass a float",
            ) from None


def signature(x: Any) -> Any:
    """What the runtime's decisions about `x` depend on (type, dtype, shape, strides, device):
    hashable and cheap for numpy arrays, torch tensors and scalars; None for anything else."""
    kind = type(x)
    if kind is np.ndarray:
        return x.dtype, x.shape, x.strides
    if kind is float or kind is int or kind is bool or issubclass(kind, np.generic):
        return kind
    torch = _torch()
    if torch is not None and kind is torch.Tensor:
        return x.dtype, x.shape, x.stride(), x.device
    return None


def numpy_conversion(x: Any, dtype: str) -> Callable | None:
    """How arguments with `x`'s signature become numpy buffers: None when they already are."""
    if type(x) is np.ndarray and x.flags.c_contiguous and x.dtype == numpy_dtype(dtype):
        return None
    if is_torch(x) and x.device.type == "cpu" and x.is_contiguous() and dtype != "bfloat16":
        return _torch_as_numpy
    return functools.partial(to_numpy_buffer, dtype=dtype)


def _torch_as_numpy(t) -> np.ndarray:
    return t.detach().numpy()  # shares memory; detach: numpy() refuses tensors needing grad


def torch_conversion(x: Any, dtype: str, device: str) -> Callable | None:
    """How arguments with `x`'s signature become torch buffers on `device`: None for a Python
    scalar (a plain kernel argument: no device copy, no sync)."""
    if not isinstance(x, np.ndarray) and not is_torch(x) and np.ndim(x) == 0:
        return None
    return functools.partial(to_torch_buffer, dtype=dtype, device=device)


def to_user_conversion(on_torch: bool, dtype: str, like: str, device: str) -> Callable | None:
    """How a backend's output buffer goes back in the caller's array type: None when as it is."""
    if on_torch:
        return functools.partial(torch_to_user, dtype=dtype, like=like)
    if like == "torch":
        return functools.partial(numpy_to_user, dtype=dtype, like=like, device=device)
    return None


def to_numpy_buffer(x: Any, dtype: str) -> np.ndarray:
    """A C-contiguous numpy view (or copy) of `x` holding `dtype` (bf16 as uint16 bits)."""
    if type(x) is np.ndarray and x.flags.c_contiguous and x.dtype == numpy_dtype(dtype):
        return x  # already what the backend reads (bf16 arrives as uint16: converted below)
    if is_torch(x):
        t = x.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        if dtype == "bfloat16":
            return t.view(_torch().int16).numpy().view(np.uint16)
        return t.numpy()
    arr = np.asarray(x, dtype=to_numpy(dtype))
    # ascontiguousarray would turn a 0-d scalar into shape (1,)
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def to_torch_buffer(x: Any, dtype: str, device: str):
    torch = _torch()
    tdtype = getattr(torch, _TORCH_NAMES[dtype])
    if is_torch(x):
        return x.detach().to(device=device, dtype=tdtype).contiguous()
    return torch.as_tensor(np.asarray(x), device=device).to(tdtype).contiguous()


@functools.cache
def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype of a buffer holding `dtype` (native byte order; bf16 as uint16)."""
    return to_numpy(dtype)


def torch_dtype(dtype: str):
    return getattr(_torch(), _TORCH_NAMES[dtype])


POPULATE_MIN = 16 << 20  # bytes: larger fresh buffers are mapped already populated (Linux)


def zeros_numpy(shape: tuple[int, ...], dtype) -> np.ndarray:
    """`np.zeros`, except that a buffer of POPULATE_MIN bytes or more is an anonymous mapping
    populated by the kernel at once (MAP_POPULATE). numpy asks for transparent huge pages for
    big arrays, and where the kernel compacts memory for them on the first touch
    (`defrag = madvise`) a fresh 64 MB array cost 8 ms or 120-150 ms, unpredictably; populated
    4 KB pages cost ~20 ms every time, taken in one system call instead of a fault per page."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    flag = getattr(mmap, "MAP_POPULATE", None)
    if nbytes < POPULATE_MIN or flag is None:
        return np.zeros(shape, dtype)
    m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | flag)
    return np.frombuffer(m, dtype).reshape(shape)


def zeros_torch(device: str) -> Callable:
    """`np.zeros` for torch on `device`: (shape, torch dtype) -> a zero-filled tensor."""
    torch = _torch()
    return lambda shape, dtype: torch.zeros(shape, dtype=dtype, device=device)


def numpy_to_user(arr: np.ndarray, dtype: str, like: str, device: str):
    """Return a numpy result in the caller's array type (numpy in -> numpy out, torch -> torch)."""
    if like != "torch":
        return arr
    torch = _torch()
    if dtype == "bfloat16":
        return torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16).to(device)
    return torch.from_numpy(arr).to(device)


def torch_to_user(t, dtype: str, like: str):
    if like == "torch":
        return t
    if dtype == "bfloat16":
        return t.cpu().view(_torch().int16).numpy().view(np.uint16)
    return t.cpu().numpy()
