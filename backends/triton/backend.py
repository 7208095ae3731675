"""The Triton backend object (`tensorc.backends.get_backend("triton")`).

    exe = BACKEND.load(BACKEND.build(BACKEND.render(prog, cfg), prog, cfg), prog, cfg)
    exe({"x": x, "out": out}, {"N": 1000})   # torch tensors, outputs pre-allocated

Nothing here touches the GPU driver at import time: torch and triton are imported inside methods.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

from tensorc.errors import BackendError
from tensorc.ir.loop_ir import LoopProgram

from .build import import_source, source_path
from .program import render_program
from .values import DEFAULT_CONFIG

# (BLOCK_I, BLOCK_J, num_warps, num_stages) tried per fast path; the first is the default's.
# Checked for sm_90 with `python -m benchmarks.gpu_static --all-configs` (no spills, shared
# memory within 227 KB): 128 flash rows need 8 warps (4 spilled at d=128), output tiles 8 warps
# (4 spilled the RBF Gram at D=1024), and a 128x256 Gemm tile BK=32 in fp32 (BK=64: 288 KB).
FLASH_TILES = ((128, 64, 8, 3), (128, 64, 8, 2), (64, 64, 4, 3), (128, 128, 8, 2), (128, 32, 8, 4))
# streaming: 128x32 first, it took 64-104 registers for W1/W2/W3 where 64x64 took 168-253
STREAM_TILES = ((128, 32, 4, 3), (64, 64, 4, 2), (128, 64, 8, 2), (256, 32, 8, 2), (32, 128, 4, 2))
OUT_TILES = ((64, 64, 8, 2), (128, 64, 8, 2), (64, 128, 8, 2))
# (BLOCK, num_warps); num_warps also sets a Gemm kernel's warps (2 spilled a 128x128 tile)
GENERIC_BLOCKS = ((256, 4), (512, 8), (1024, 8))
GPU_DEFAULTS = {"BM": 128, "BN": 128, "BK": 32, "num_stages": 3}  # Gemm tiles sized for a GPU
# fp32 dots without TF32 run on FMA units with both operands in registers: smaller tiles (the
# defaults above spilled 176-1464 bytes per thread on sm_90; these compile without spills).
IEEE_DEFAULTS = {"BM": 64, "BN": 64, "num_warps": 4, "FLASH_BLOCK_I": 16, "FLASH_BLOCK_J": 64,
                 "FLASH_WARPS": 4, "FLASH_STAGES": 2, "OUT_BLOCK_I": 32, "OUT_BLOCK_J": 32,
                 "OUT_WARPS": 4}  # fmt: skip
GEMM_TILES = (
    (64, 64, 32, 4, 3),
    (128, 64, 32, 4, 3),
    (128, 128, 32, 8, 3),
    (128, 128, 64, 8, 3),
    (128, 256, 32, 8, 3),
)  # BM BN BK warps st.


def candidates(prog: LoopProgram, base: dict) -> list[dict]:
    """Configs worth timing for `prog`, `base` first: only the knobs of the paths its kernels
    take (flash, streaming or output tiles, with or without tl.dot in d, generic lanes, Gemm
    tiles)."""
    from .render import render_kernel

    paths = [render_kernel(prog, k, n, base) for n, k in enumerate(prog.kernels)]
    text = "\n".join(k.source for k in paths)
    out = [base]
    for path, kind, tiles in (
        ("flash", "FLASH", FLASH_TILES),
        ("2-D tile", "TILE", STREAM_TILES),
        ("2-D output", "OUT", OUT_TILES),
    ):
        if f"# path: {path}" in text:
            keys = (f"{kind}_BLOCK_I", f"{kind}_BLOCK_J", f"{kind}_WARPS", f"{kind}_STAGES")
            out += [dict(zip(keys, t)) for t in tiles[1:]]
            if kind != "OUT":  # unmasked interior output tiles spilled the RBF Gram (D=1024)
                out.append({f"{kind}_INTERIOR": not base[f"{kind}_INTERIOR"]})
    if "# path: 2-D" in text and "tl.dot(" in text:
        out.append({"BLOCK_D": 64})
    if "# path: generic" in text:
        out += [{"BLOCK": b, "num_warps": w} for b, w in GENERIC_BLOCKS]
        if "Gemm through tl.dot" in text:
            out += [dict(zip(("BM", "BN", "BK", "num_warps", "num_stages"), t)) for t in GEMM_TILES]
    return [out[0]] + [{**base, **c} for c in out[1:]]


def gpu_configs(prog: LoopProgram, allow_tf32: bool) -> list[dict]:
    """What `space` returns on a GPU: the GPU default first (smaller tiles where fp32 dots run
    in IEEE precision), then `candidates`."""
    from .program import render_program

    base = {**DEFAULT_CONFIG, "allow_tf32": allow_tf32, **GPU_DEFAULTS}
    if not allow_tf32 and re.search(r"input_precision=.ieee", render_program(prog, base)):
        base.update(IEEE_DEFAULTS)
    return candidates(prog, base)


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


class Executable:
    """Calls the generated module's `launch(buffers, sizes)`; keeps the source path for people."""

    def __init__(self, module, path: Path):
        self.module, self.path = module, path

    def __call__(self, buffers: dict, sizes: dict[str, int]) -> None:
        self.module.launch(buffers, sizes)

    def __repr__(self) -> str:
        return f"<triton Executable {self.path}>"


class TritonBackend:
    name = "triton"

    def available(self) -> bool:
        """Triton importable and a CUDA GPU present, or `TRITON_INTERPRET=1` (CPU interpreter)."""
        if importlib.util.find_spec("triton") is None or importlib.util.find_spec("torch") is None:
            return False
        if _interpreting():
            return True
        import torch

        return torch.cuda.is_available()

    def target(self) -> str:
        """`"interpreter"` under TRITON_INTERPRET=1, else `"cuda:sm_90"` style GPU arch."""
        if _interpreting():
            return "interpreter"
        import torch

        if not torch.cuda.is_available():
            raise BackendError("triton backend: no CUDA device", hint="set TRITON_INTERPRET=1")
        major, minor = torch.cuda.get_device_capability()
        return f"cuda:sm_{major}{minor}"

    def hash(self) -> str:
        import triton

        return f"triton-{triton.__version__}"

    def space(self, prog: LoopProgram) -> list[dict]:
        """Tuning configs, the default first (only it under TRITON_INTERPRET=1, where timing
        means nothing). TF32 follows torch's matmul flag at call time. See `candidates`."""
        tf32 = False
        try:
            import torch

            tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
        except ImportError:  # pragma: no cover - torch is required to run anyway
            pass
        if _interpreting():
            return [{**DEFAULT_CONFIG, "allow_tf32": tf32}]
        return gpu_configs(prog, tf32)

    def render(self, prog: LoopProgram, config: dict | None = None) -> str:
        return render_program(prog, config)

    def build(
        self, source: str, prog: LoopProgram | None = None, config: dict | None = None
    ) -> str:
        """Write the source into the cache; the artifact is its path (Triton JITs on launch)."""
        return str(source_path(source))

    def load(
        self, artifact: str, prog: LoopProgram | None = None, config: dict | None = None
    ) -> Executable:
        return Executable(import_source(artifact), Path(artifact))

    def compile(self, prog: LoopProgram, config: dict | None = None) -> Executable:
        """render + build + load in one call (convenience for tests and the runtime)."""
        return self.load(self.build(self.render(prog, config), prog, config), prog, config)


BACKEND = TritonBackend()
