"""Backends, registered by name and imported lazily (installed as `tensorc.backends`).

A backend turns a `LoopProgram` into something callable, in the steps of Triton's BaseBackend:

    available() -> bool            can it run here (no driver touched at import time)
    target() -> str                what it compiles for (host CPU + features, GPU arch)
    hash() -> str                  toolchain versions; part of every cache key
    space(prog) -> list[dict]      tuning configs worth trying (at least one)
    render(prog, config) -> str    pure text generation (LLVM IR, Triton source): golden-testable
    build(source, prog, config)    compile the text; returns an artifact (bytes or path) to cache
    load(artifact, prog, config)   -> Executable

An `Executable` is called as `exe(buffers, sizes)`: `buffers` maps every input, output and temp name
to an array (numpy for "cpu", torch tensors for "triton"), outputs and temps already allocated and
zero-filled; `sizes` maps size names to ints. It writes the outputs in place and returns None.

The reference interpreters are backends too ("interp" runs TensorIR, "loops" runs LoopIR), so every
test can compare any two of them.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from tensorc.errors import BackendError


class Executable(Protocol):
    def __call__(self, buffers: dict[str, Any], sizes: dict[str, int]) -> None: ...


# name -> "module:attribute" of an object implementing the protocol above
REGISTRY: dict[str, str] = {
    "cpu": "tensorc.backends.llvm.backend:BACKEND",
    "triton": "tensorc.backends.triton.backend:BACKEND",
    "loops": "tensorc.ir.loop_interpreter:BACKEND",
}
REFERENCE = "interp"  # TensorIR interpreter; handled by the runtime directly (it needs no LoopIR)
CHOICES = (*REGISTRY, REFERENCE)


class _Reference:
    """The TensorIR interpreter: it needs no LoopIR, so the runtime calls it directly; this object
    answers the questions every backend answers."""

    name = REFERENCE

    def available(self) -> bool:
        return True

    def target(self) -> str:
        return "numpy"

    def hash(self) -> str:
        import numpy

        return f"numpy-{numpy.__version__}"


def get_backend(name: str):
    """The backend object registered as `name` (imported on first use)."""
    if name == REFERENCE:
        return _Reference()
    if name not in REGISTRY:
        raise BackendError(
            f"unknown backend {name!r}", hint=f"choose one of: {', '.join(CHOICES)}"
        )
    module, _, attr = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attr)
