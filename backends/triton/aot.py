"""Compile a program's Triton kernels for a GPU this machine does not have (ahead of time).

`TRITON_INTERPRET=1` (what the tests use) never runs Triton's compiler, so it cannot tell whether
a kernel compiles to PTX, puts its dots on tensor cores, or spills registers. This module runs the
generated module's own `launch(buffers, sizes)` with meta tensors and kernels replaced by
recorders, then compiles each recorded launch the way `JITFunction.run` would (same binder, so
the same argument types, `tt.divisibility` attributes and specialisations), for a `GPUTarget`:

    reports = compile_for_gpu(prog, {"N": 4096, "D": 128}, config)
    reports[0].tensor_cores, reports[0].n_regs, reports[0].spill_bytes, reports[0].ptx

Registers and spills (stack frame) come from `cuobjdump -res-usage` on the cubin. Shared memory
is Triton's static figure, checked against the target's per-block limit (Triton itself checks
only when it loads a kernel on a device). In a process whose Triton was imported under
`TRITON_INTERPRET=1` (the test suite) the compile runs in a child Python without it.
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tensorc.ir import loop_ir as L

from .build import load_module, source_path
from .program import render_program
from .values import DEFAULT_CONFIG

SM90 = ("cuda", 90, 32)
SHARED_LIMIT = {80: 166912, 86: 101376, 89: 101376, 90: 232448}  # bytes per block (opt-in max)


@dataclass(frozen=True, slots=True)
class KernelReport:
    """One kernel compiled for one target: what a GPU engineer checks first."""

    name: str
    path: str  # the Triton path that rendered it ("flash attention: ...", "generic: ...")
    grid: tuple[int, ...]
    num_warps: int
    num_stages: int
    constexprs: dict
    compile_s: float
    n_regs: int  # per thread
    spill_bytes: int  # stack frame + local memory per thread (register spills; want 0)
    shared: int  # bytes of shared memory per block
    shared_ok: bool  # within the target's per-block limit
    tensor_cores: str  # "wgmma" (sm_90 async), "mma" (mma.sync), or "none"
    ptx: str = field(repr=False, default="")


def unavailable() -> str | None:
    """Why this Triton cannot compile for CUDA here (None: it can)."""
    try:
        import triton
        from triton import knobs
        from triton.backends import backends
    except ImportError as err:
        return f"triton not importable: {err}"
    if "nvidia" not in backends:
        return f"triton {triton.__version__} has no nvidia backend"
    try:
        from triton.backends.nvidia.compiler import get_ptxas

        for path in (get_ptxas(SM90[1]).path, knobs.nvidia.cuobjdump.path):
            if not os.access(path, os.X_OK):
                return f"{path} is not executable"
    except Exception as err:  # noqa: BLE001 - the lookup raises whatever it met
        return f"ptxas/cuobjdump not found: {err}"
    return None


def compile_for_gpu(
    prog: L.LoopProgram,
    sizes: dict[str, int],
    config: dict | None = None,
    target: tuple = SM90,
    scalars: dict | None = None,
) -> list[KernelReport]:
    """Compile every kernel `launch` would run at `sizes` (no GPU needed).

    `scalars` gives values to scalar parameters (default: 1.0, or the size of that name);
    only their types matter unless an integer is 1 (Triton specialises it, as on a GPU).
    """
    return compile_many([(prog, sizes, config, scalars)], target)[0]


def compile_many(jobs: list[tuple], target: tuple = SM90) -> list[list[KernelReport]]:
    """`compile_for_gpu` of each (prog, sizes, config, scalars), in one child process if needed."""
    if _interpreted():
        return _in_child(jobs, target)
    return [_compile_job(*job, target) for job in jobs]


def _compile_job(prog, sizes, config, scalars, target) -> list[KernelReport]:
    source = render_program(prog, {**DEFAULT_CONFIG, **(config or {})})
    paths = {k: p for p, k in re.findall(r"# path: (.*)\n@triton.jit\ndef (\w+)\(", source)}
    launches = record_launches(source, prog, sizes, scalars or {})
    return [_compile(rec, target, paths.get(rec.name, "")) for rec in launches]


def _interpreted() -> bool:
    """Triton was imported under TRITON_INTERPRET=1: its own jit functions (tl.cdiv, reduction
    combiners) are interpreter objects then, and the real compiler cannot use them."""
    import triton.language.standard as std
    from triton.runtime.jit import JITFunction

    return not isinstance(std.cdiv, JITFunction)


def _in_child(jobs: list[tuple], target: tuple) -> list[list[KernelReport]]:
    """`compile_many` in a fresh Python without TRITON_INTERPRET (pickles both ways)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "jobs.pkl", Path(tmp) / "reports.pkl"
        src.write_bytes(pickle.dumps((jobs, target)))
        env = {**os.environ, "TRITON_INTERPRET": "0"}
        cmd = [sys.executable, "-m", __name__, str(src), str(dst)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"compiling for {target} failed:\n{done.stderr[-4000:]}")
        return [[KernelReport(**r) for r in rs] for rs in pickle.loads(dst.read_bytes())]


@dataclass
class _Launch:
    name: str
    fn: object  # the JITFunction
    grid: tuple
    args: tuple
    kwargs: dict


@dataclass
class _Recorder:
    """Stands in for a kernel in `launch`: `k[grid](*args, **kw)` records instead of running."""

    name: str
    fn: object
    out: list

    def __getitem__(self, grid):
        return lambda *a, **kw: self.out.append(_Launch(self.name, self.fn, tuple(grid), a, kw))


def record_launches(source: str, prog: L.LoopProgram, sizes: dict, scalars: dict) -> list[_Launch]:
    """Run the module's `launch` with meta tensors; return the kernel launches it made."""
    import torch
    from triton.runtime.jit import JITFunction

    path = source_path(source)
    mod = load_module(path, f"tensorc_triton_aot_{path.stem}")
    out: list[_Launch] = []
    for name, fn in list(vars(mod).items()):
        if isinstance(fn, JITFunction) and name.startswith("k"):
            setattr(mod, name, _Recorder(name, fn, out))
    bufs: dict = {}
    for b in (
        *prog.inputs,
        *prog.outputs,
        *prog.temps,
        *(b for k in prog.kernels for b in k.buffers),
    ):
        if b.name in bufs:
            continue
        if b.role == "scalar":
            bufs[b.name] = scalars.get(b.name, sizes.get(b.name, 1.0 if "float" in b.dtype else 2))
        else:
            dt = getattr(torch, "bool" if b.dtype == "bool" else b.dtype)
            bufs[b.name] = torch.empty(1, dtype=dt, device="meta")  # aligned like a real one
    mod.launch(bufs, sizes)
    return out


def _compile(rec: _Launch, target: tuple, path: str) -> KernelReport:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    gpu = GPUTarget(*target)
    backend = make_backend(gpu)
    fn = rec.fn
    kwargs = {"debug": False, **rec.kwargs}
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    bound, spec, options = binder(*rec.args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, spec, options)
    start = time.perf_counter()
    ck = triton.compile(ASTSource(fn, signature, constexprs, attrs), target=gpu,
                        options=options.__dict__)  # fmt: skip
    seconds = time.perf_counter() - start
    regs, local = _resources(ck.asm["cubin"])
    ptx = ck.asm["ptx"]
    tc = (
        "wgmma" if "wgmma.mma_async" in ptx else "mma" if re.search(r"\bmma\.sync", ptx) else "none"
    )
    shared = int(ck.metadata.shared)
    return KernelReport(
        rec.name, path, rec.grid, int(options.num_warps), int(options.num_stages),
        {k: v for k, v in rec.kwargs.items() if k not in ("num_warps", "num_stages")},
        seconds, regs, local, shared, shared <= SHARED_LIMIT.get(target[1], 232448), tc, ptx,
    )  # fmt: skip


def _resources(cubin: bytes) -> tuple[int, int]:
    """(registers, stack + local bytes) per thread from `cuobjdump -res-usage`."""
    from triton import knobs

    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run([knobs.nvidia.cuobjdump.path, "-res-usage", f.name],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    # spills live in the stack frame (STACK), not in LOCAL (explicit local arrays)
    n = {k: int(v) for k, v in re.findall(r"\b(REG|STACK|LOCAL):(\d+)", out)}
    return n.get("REG", -1), n.get("STACK", 0) + n.get("LOCAL", 0)


if __name__ == "__main__":  # the child of `_in_child`: argv = args pickle, reports pickle
    from dataclasses import asdict

    reports = compile_many(*pickle.loads(Path(sys.argv[1]).read_bytes()))
    Path(sys.argv[2]).write_bytes(pickle.dumps([[asdict(r) for r in rs] for rs in reports]))
