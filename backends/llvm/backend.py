"""The "cpu" backend: LoopIR -> LLVM IR -> host object code -> multithreaded ctypes calls.

    exe = BACKEND.load(BACKEND.build(BACKEND.render(prog, cfg), prog, cfg), prog, cfg)
    exe({"x": x, "out": out}, {"N": 7})

Threads: each kernel's split target (see `render.split_target`) is cut into `threads` disjoint,
deterministic chunks run on a persistent thread pool (ctypes releases the GIL); other kernels run on
the calling thread. Kernels run in order. `threads` defaults to `$TENSORC_NUM_THREADS` or
`os.cpu_count()`.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from tensorc import knobs
from tensorc.errors import ArgumentError
from tensorc.ir import loop_ir as L
from tensorc.ir.types import to_numpy

from . import build as _build
from .render import kernel_symbol, render_program, split_target

_POOLS: dict[int, ThreadPoolExecutor] = {}


def default_threads() -> int:
    return knobs.num_threads()


def _pool(n: int) -> ThreadPoolExecutor:
    if n not in _POOLS:
        _POOLS[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="tensorc-cpu")
    return _POOLS[n]


def _pointer(name: str, arr: Any, dtype: str) -> tuple[int, Any]:
    """(address, object to keep alive) of a C-contiguous numpy array or CPU torch tensor."""
    if isinstance(arr, np.ndarray):
        assert arr.flags.c_contiguous, f"buffer {name} must be C-contiguous"
        return arr.ctypes.data, arr
    if hasattr(arr, "data_ptr") and hasattr(arr, "is_contiguous"):
        assert arr.device.type == "cpu", f"buffer {name} must be on the cpu"
        assert arr.is_contiguous(), f"buffer {name} must be contiguous"
        return arr.data_ptr(), arr
    if isinstance(arr, (int, float, bool, np.generic)):
        box = np.array(arr, dtype=to_numpy(dtype))  # a scalar parameter passed by value
        return box.ctypes.data, box
    raise ArgumentError(f"buffer {name}: expected a numpy array or a cpu torch tensor, "
                        f"got {type(arr).__name__}")


class CpuExecutable:
    """Calls the kernels of one compiled `LoopProgram` (see the module docstring)."""

    def __init__(self, prog: L.LoopProgram, library: _build.Library, threads: int):
        self.prog, self.library, self.threads = prog, library, threads
        self.kernels = []
        for i, k in enumerate(prog.kernels):
            argtypes = [ctypes.c_void_p] * len(k.buffers) + [ctypes.c_int64] * (len(k.sizes) + 3)
            proto = ctypes.CFUNCTYPE(None, *argtypes)
            fn = proto(library.addresses[kernel_symbol(prog, i)])
            bufs = tuple((b.name, b.dtype) for b in k.buffers)
            self.kernels.append((k.name, fn, bufs, tuple(k.sizes), split_target(k) is not None))
        self.static = dict(prog.static_sizes)

    def __call__(self, buffers: dict[str, Any], sizes: dict[str, int]) -> None:
        addrs: dict[str, int] = {}  # each buffer's address, taken once per call
        keep = []
        for name, fn, bufs, size_names, splittable in self.kernels:
            args = []
            for buf, dtype in bufs:
                addr = addrs.get(buf)
                if addr is None:
                    if buf not in buffers:
                        raise ArgumentError(f"kernel {name}: missing buffer {buf!r}")
                    addr, obj = _pointer(buf, buffers[buf], dtype)
                    addrs[buf] = addr
                    keep.append(obj)
                args.append(addr)
            for s in size_names:
                v = sizes[s] if s in sizes else self.static.get(s)
                if v is None:
                    raise ArgumentError(f"kernel {name}: missing size {s!r}")
                args.append(int(v))
            n = self.threads if splittable else 1
            if n == 1:
                fn(*args, 0, 1, 1)
            else:
                futures = [_pool(n).submit(fn, *args, t, t + 1, n) for t in range(1, n)]
                fn(*args, 0, 1, n)
                for f in futures:
                    f.result()


class CpuBackend:
    """LLVM (llvmlite) backend for the host CPU. Configs: {"threads": int}."""

    name = "cpu"

    def available(self) -> bool:
        try:
            import llvmlite.binding  # noqa: F401
        except ImportError:
            return False
        return True

    def target(self) -> str:
        cpu, features = _build.host()
        keep = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "neon", "sve")
        on = [f[1:] for f in features.split(",") if f.startswith("+") and f[1:] in keep]
        return f"{cpu} [{' '.join(sorted(on))}]"

    def hash(self) -> str:
        return _build.toolchain()

    def space(self, prog: L.LoopProgram) -> list[dict]:
        n = default_threads()
        return [{"threads": n}] + ([{"threads": 1}] if n > 1 else [])

    def render(self, prog: L.LoopProgram, config: dict | None = None) -> str:
        return render_program(prog)

    def build(self, source: str, prog: L.LoopProgram, config: dict | None = None) -> bytes:
        return _build.compile_ir(source)

    def load(self, artifact: bytes, prog: L.LoopProgram, config: dict | None = None):
        symbols = [kernel_symbol(prog, i) for i in range(len(prog.kernels))]
        lib = _build.load_object(artifact, symbols)
        threads = (config or {}).get("threads") or default_threads()
        return CpuExecutable(prog, lib, int(threads))

    def compile(self, prog: L.LoopProgram, config: dict | None = None) -> CpuExecutable:
        """render + build + load in one call (convenience for tests and scripts)."""
        config = config or self.space(prog)[0]
        return self.load(self.build(self.render(prog, config), prog, config), prog, config)


BACKEND = CpuBackend()
