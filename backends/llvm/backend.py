"""The "cpu" backend: LoopIR -> LLVM IR -> host object code -> multithreaded ctypes calls.

    exe = BACKEND.load(BACKEND.build(BACKEND.render(prog, cfg), prog, cfg), prog, cfg)
    exe({"x": x, "out": out}, {"N": 7})

Threads: the kernels run through one native driver per program (driver.py). The calling thread
and `threads - 1` helper threads (ctypes releases the GIL) each call it once; they share each
kernel's fixed chunks (claimed by atomic counters), wait for a kernel's last chunk before the next
kernel, and the calling thread returns when every chunk is done. `threads` defaults to
`$TENSORC_NUM_THREADS` or `os.cpu_count()`.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from typing import Any

import numpy as np

from tensorc import knobs
from tensorc.errors import ArgumentError
from tensorc.ir import loop_ir as L
from tensorc.ir.types import to_numpy

from . import build as _build
from .driver import LINE, chunks_per_thread, driver_symbol, render_driver, slots
from .render import kernel_symbol, render_program

_JOBS: queue.SimpleQueue = queue.SimpleQueue()  # driver calls waiting for a helper thread
_helpers: list[threading.Thread] = []
_helpers_lock = threading.Lock()


def default_threads() -> int:
    return knobs.num_threads()


def _start_helpers(n: int) -> None:
    """At least `n` daemon threads that run queued driver calls (a put and a wake-up per call:
    a few microseconds less than a ThreadPoolExecutor's futures)."""
    with _helpers_lock:
        while len(_helpers) < n:
            t = threading.Thread(target=_serve, name=f"tensorc-cpu-{len(_helpers)}", daemon=True)
            t.start()
            _helpers.append(t)


def _serve() -> None:
    while True:
        run, a, st, threads, _keep = _JOBS.get()
        run(a, st, threads)
        del _keep


def _after_fork() -> None:  # the helpers do not exist in a forked child: start new ones there
    global _JOBS
    _JOBS = queue.SimpleQueue()
    _helpers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _pointer(name: str, arr: Any, dtype: str) -> tuple[int, Any]:
    """(address, object to keep alive) of a C-contiguous numpy array or CPU torch tensor."""
    if isinstance(arr, np.ndarray):
        flags = arr.flags
        assert flags.c_contiguous, f"buffer {name} must be C-contiguous"
        if flags.writeable and arr.size:  # a third of the time of `arr.ctypes.data`
            return ctypes.addressof(ctypes.c_char.from_buffer(arr)), arr
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
    """Calls the kernels of one compiled `LoopProgram` through its driver (see the module
    docstring): one native call per thread and program call."""

    def __init__(self, prog: L.LoopProgram, library: _build.Library, threads: int):
        self.prog, self.library, self.threads = prog, library, threads
        proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
        self.run = proto(library.addresses[driver_symbol(prog)])
        self.buffers, self.sizes = slots(prog)
        self.dtypes = {b.name: b.dtype for k in prog.kernels for b in k.buffers}
        self.state_len = 2 * LINE * len(prog.kernels)
        self.static = dict(prog.static_sizes)
        split = any(chunks_per_thread(k) for k in prog.kernels)
        self.helpers = threads - 1 if split else 0

    def __call__(self, buffers: dict[str, Any], sizes: dict[str, int]) -> None:
        keep = []
        slots_ = []
        for name in self.buffers:
            if name not in buffers:
                raise ArgumentError(f"{self.prog.name}: missing buffer {name!r}")
            addr, obj = _pointer(name, buffers[name], self.dtypes[name])
            slots_.append(addr)
            keep.append(obj)
        for s in self.sizes:
            v = sizes[s] if s in sizes else self.static.get(s)
            if v is None:
                raise ArgumentError(f"{self.prog.name}: missing size {s!r}")
            slots_.append(int(v))
        args = (ctypes.c_int64 * len(slots_))(*slots_)
        state = (ctypes.c_int64 * self.state_len)()  # zeroed, fresh per call (see `_help`)
        a, st = ctypes.addressof(args), ctypes.addressof(state)
        if self.helpers:
            _start_helpers(self.helpers)
        for _ in range(self.helpers):
            # Not awaited: the driver returns on this thread only after every chunk is done, and
            # a helper that starts later finds nothing left to claim (the job keeps alive what
            # it reads: the library's code, `args`, `state`).
            _JOBS.put((self.run, a, st, self.threads, (self, args, state)))
        self.run(a, st, self.threads)


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
        return render_program(prog) + "\n" + render_driver(prog)

    def build(self, source: str, prog: L.LoopProgram, config: dict | None = None) -> bytes:
        return _build.compile_ir(source)

    def load(self, artifact: bytes, prog: L.LoopProgram, config: dict | None = None):
        symbols = [kernel_symbol(prog, i) for i in range(len(prog.kernels))]
        symbols.append(driver_symbol(prog))
        lib = _build.load_object(artifact, symbols)
        threads = (config or {}).get("threads") or default_threads()
        return CpuExecutable(prog, lib, int(threads))

    def compile(self, prog: L.LoopProgram, config: dict | None = None) -> CpuExecutable:
        """render + build + load in one call (convenience for tests and scripts)."""
        config = config or self.space(prog)[0]
        return self.load(self.build(self.render(prog, config), prog, config), prog, config)


BACKEND = CpuBackend()
