"""Wall-clock timing (median of repeats under a time budget) and resident-memory sampling."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class Timing:
    median_s: float
    min_s: float
    times_s: tuple[float, ...]


def make_sync(target: str) -> Callable[[], None]:
    """A barrier to call around each timed region: CUDA work is asynchronous, CPU work is not."""
    if target != "gpu":
        return lambda: None
    import torch

    return torch.cuda.synchronize


def time_call(
    fn: Callable[[], Any],
    *,
    sync: Callable[[], None],
    budget_s: float,
    warmup: int = 1,
    min_repeats: int = 3,
    max_repeats: int = 50,
) -> Timing:
    """Median wall time of `fn()` after `warmup` calls.

    Repeats until `budget_s` is spent (at least `min_repeats` unless one call alone overruns the
    budget, then a single timed call), at most `max_repeats`.
    """
    for _ in range(warmup):
        sync()
        fn()
        sync()
    times: list[float] = []
    spent = 0.0
    while len(times) < max_repeats:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
        if spent >= budget_s and (len(times) >= min_repeats or dt >= budget_s):
            break
    return Timing(statistics.median(times), min(times), tuple(times))


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        return 0


class PeakRSS:
    """Samples RSS in a background thread; `delta` is the peak above the level at entry.

    ru_maxrss cannot be used: it is a process-lifetime peak, so a case run after a bigger one
    would read 0.
    """

    def __init__(self, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        self.base = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRSS:  # noqa: PYI034
        self.base = self.peak = current_rss()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss())
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, current_rss())

    @property
    def delta(self) -> int:
        return max(0, self.peak - self.base)
