"""What a benchmark case is, as data: inputs, the tensorc program, comparators, reference, metric.

A case never runs anything itself; `runner.run_case` does, so every case goes through the same
correctness check, timing and error handling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Sizes = dict[str, Any]
Inputs = dict[str, Any]  # name -> numpy array or Python scalar (host copies, the reference's view)


class Skip(Exception):
    """A comparator that cannot run here (library missing, would not fit in memory, ...).

    Recorded as {"status": "skipped", "reason": str(exc)}: never silently dropped.
    """


@dataclass(frozen=True, slots=True)
class Env:
    """Where a run happens; handed to every comparator's setup."""

    target: str  # "cpu" | "gpu"
    backend: str  # tensorc backend name: "cpu", "triton", "interp", ...
    mem_budget: int  # bytes a dense comparator may allocate before it is skipped
    dtype: str | None = None  # torch dtype of float inputs on the device (set per case)


@dataclass(frozen=True, slots=True)
class Impl:
    """One implementation of a case.

    `setup(inputs, sizes, env)` converts inputs, compiles what needs compiling and returns a
    zero-argument callable whose result is the case's output; it raises `Skip` when it cannot
    run. Setup is not timed; the callable is.
    """

    name: str
    setup: Callable[[Inputs, Sizes, Env], Callable[[], Any]]
    note: str = ""
    mem_bytes: Callable[[Sizes], int] | None = None  # peak extra memory estimate (dense methods)


@dataclass(frozen=True, slots=True)
class Metric:
    """Throughput derived from a time: work(sizes) / time / scale, in `unit`."""

    unit: str  # "G pairs/s", "GFLOP/s", "TFLOP/s", "T pairs/s"
    work: Callable[[Sizes], float]
    scale: float

    def value(self, sizes: Sizes, seconds: float) -> float:
        return self.work(sizes) / seconds / self.scale


@dataclass(frozen=True, slots=True)
class Check:
    """How a result is compared with the float64 reference.

    `rows` = (size name, output axis): the reference computes only a random subsample of that
    axis (huge cases stay cheap); None compares the whole output. `compare(result_rows, ref,
    inputs, rows)` returns (ok, max_error) with the error relative to the reference's scale.
    """

    reference: Callable[[Inputs, np.ndarray | None], Any]
    compare: Callable[[np.ndarray, Any, Inputs, np.ndarray | None], tuple[bool, float]]
    rows: tuple[str, int] | None = None
    samples: int = 256


@dataclass(frozen=True, slots=True)
class Case:
    name: str  # "W1-ksum"
    workload: str  # "W1"
    title: str
    sizes: dict[str, Sizes]  # "full" / "quick" / "tiny" -> size dict
    make_inputs: Callable[[Sizes, np.random.Generator], Inputs]
    source: str  # .tc text
    entry: str  # def to call
    args: tuple[str, ...]  # input names in the def's parameter order
    impls: tuple[Impl, ...]
    check: Check
    metric: Metric
    memory: bool = False  # also record the peak resident-memory delta of each implementation
    device_dtype: str | None = None  # torch dtype of float inputs on the device ("float16", ...)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def allclose(rtol: float = 1e-3, atol_rel: float = 1e-4):
    """Compare: |res - ref| <= atol_rel * max|ref| + rtol * |ref| elementwise."""

    def compare(res: np.ndarray, ref: Any, inputs: Inputs, rows: Any) -> tuple[bool, float]:
        ref = np.asarray(ref, dtype=np.float64)
        res = np.asarray(res, dtype=np.float64)
        if res.shape != ref.shape:
            raise AssertionError(f"shape {res.shape} != reference shape {ref.shape}")
        scale = float(np.max(np.abs(ref))) if ref.size else 1.0
        scale = scale if scale > 0 else 1.0
        diff = np.abs(res - ref)
        if not np.all(np.isfinite(res)):
            return False, float("inf")
        ok = bool(np.all(diff <= atol_rel * scale + rtol * np.abs(ref)))
        return ok, float(np.max(diff) / scale) if diff.size else 0.0

    return compare
