"""`to_loops`: the compiler's middle, above both of its halves -- the passes (TensorIR ->
TensorIR, `tensorc.passes.run_pipeline`) and then the lowering (`tensorc.schedule.lower`).

Neither folder imports the other's entry: passes/ knows nothing of schedules, schedule/ lowers
whatever normal form it is given.
"""

from __future__ import annotations

from tensorc.ir.loop_ir import LoopProgram
from tensorc.ir.tensor_ir import Def
from tensorc.passes import run_pipeline
from tensorc.schedule import Schedule, default_schedule, lower


def to_loops(
    def_: Def,
    target: str = "cpu",
    sizes: dict[str, int] | None = None,
    schedule: Schedule | None = None,
) -> LoopProgram:
    """Compile a TensorIR def to LoopIR for `target` ("cpu" or "gpu").

    `sizes` are the call's sizes: they steer heuristics and priced rewrites, and sizes up to
    `schedule.SPECIALISE_MAX` are baked in as constants (listed in `LoopProgram.static_sizes`;
    such a program is valid only for those sizes). Without sizes the program is valid for any.

    Example:
        prog = to_loops(def_, "cpu", {"N": 1000, "D": 3})
    """
    def_ = run_pipeline(def_, sizes)
    if schedule is None:
        schedule = default_schedule(def_, target, sizes)
    return lower(def_, schedule)


__all__ = ["to_loops"]
