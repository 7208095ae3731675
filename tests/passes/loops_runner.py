"""Run a LoopProgram on numpy inputs with the LoopIR interpreter (test helper)."""

from __future__ import annotations

import numpy as np

from tensorc.ir.loop_interpreter import run_loops
from tensorc.ir.types import to_numpy


def run_program(prog, args: dict, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    env = {**{k: v for k, v in sizes.items()}, **dict(prog.static_sizes)}
    bufs = dict(args)
    for b in (*prog.outputs, *prog.temps):
        shape = tuple(int(d.subs({s: env[str(s)] for s in d.free_symbols})) for d in b.shape)
        bufs[b.name] = np.zeros(shape, to_numpy(b.dtype))
    for k, v in prog.static_sizes:
        assert sizes.get(k, v) == v, f"program specialised for {k}={v}, called with {sizes.get(k)}"
    run_loops(prog, bufs, sizes)
    return {b.name: bufs[b.name] for b in prog.outputs}


def tir_reference(def_, args: dict):
    """The TensorIR interpreter's answer, or None if it is not available yet."""
    try:
        from tensorc.ir.interpreter import interpret
    except ImportError:
        return None
    return interpret(def_, args, float64=True)
