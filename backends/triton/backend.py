"""The Triton backend object (`tensorc.backends.get_backend("triton")`).

    exe = BACKEND.load(BACKEND.build(BACKEND.render(prog, cfg), prog, cfg), prog, cfg)
    exe({"x": x, "out": out}, {"N": 1000})   # torch tensors, outputs pre-allocated

Nothing here touches the GPU driver at import time: torch and triton are imported inside methods.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tensorc.errors import BackendError
from tensorc.ir.loop_ir import LoopProgram

from .build import import_source, source_path
from .program import render_program
from .values import DEFAULT_CONFIG


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
        """Tuning configs, the default first. TF32 follows torch's matmul flag at call time."""
        tf32 = False
        try:
            import torch

            tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
        except ImportError:  # pragma: no cover - torch is required to run anyway
            pass
        base = {**DEFAULT_CONFIG, "allow_tf32": tf32}
        if _interpreting():
            return [base]
        out = [base]
        for block, warps in ((256, 4), (512, 8), (64, 2)):
            out.append({**base, "BLOCK": block, "num_warps": warps})
        for bm, bn, bk, warps, stages in (
            (64, 64, 32, 4, 3),
            (128, 64, 32, 4, 3),
            (128, 128, 32, 8, 3),
        ):
            out.append(
                {**base, "BM": bm, "BN": bn, "BK": bk, "num_warps": warps, "num_stages": stages}
            )
        return out

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
