"""Timing and output helpers shared by the tuner and its worker process."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(run: Callable[[], None], budget: float, repeats: int) -> float:
    """Best wall time of `run` over up to `repeats` calls within `budget` seconds (after one
    warm-up)."""
    run()
    best, spent, n = math.inf, 0.0, 0
    while n < repeats and (n == 0 or spent < budget):
        start = time.perf_counter()
        run()
        took = time.perf_counter() - start
        best, spent, n = min(best, took), spent + took, n + 1
    return best


def synchronizer(device: str) -> Callable[[], None]:
    """What waits for queued work on `device` (a no-op on the CPU)."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def as_numpy(x: Any) -> np.ndarray:
    """An output as a numpy array (torch tensors copied to the host; bfloat16 as float32)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu() if str(x.dtype) == "torch.bfloat16" else x.detach().cpu()
        return x.numpy()
    return np.asarray(x)
