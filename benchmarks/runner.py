"""Runs one case: inputs, float64 reference, then every implementation checked before it is timed.

Every implementation ends in exactly one status:
  ok        checked against the reference, then timed
  mismatch  ran but disagreed with the reference: reported with its error, not timed
  error     raised (tensorc.compile under construction, a comparator bug): exception text kept
  skipped   cannot run here (not installed, over the memory budget, host-only): reason kept
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from benchmarks.comparators import torch_args
from benchmarks.spec import Case, Env, Impl, Inputs, Sizes, Skip
from benchmarks.timing import PeakRSS, make_sync, time_call

TENSORC = "tensorc"


def tensorc_impl(case: Case) -> Impl:
    """The system under test: compile the case's embedded .tc source for env.backend."""

    def setup(inputs: Inputs, sizes: Sizes, env: Env) -> Callable[[], Any]:
        import tensorc

        mod = tensorc.compile(case.source, backend=env.backend)
        fn = getattr(mod, case.entry)
        if env.target == "gpu":
            args = torch_args(inputs, case.args, env)
        else:
            args = [inputs[n] for n in case.args]
        return lambda: fn(*args)

    return Impl(TENSORC, setup, f"tensorc.compile(...).{case.entry}")


def to_numpy(x: Any) -> np.ndarray:
    """Any result (numpy, torch on any device, fp16/bf16, Python scalar) -> numpy."""
    if isinstance(x, (tuple, list)) and len(x) == 1:
        x = x[0]
    if hasattr(x, "detach"):  # torch
        x = x.detach()
        if x.is_floating_point() and x.element_size() < 4:
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def _error_text(err: BaseException, limit: int = 1500) -> str:
    text = "".join(traceback.format_exception_only(type(err), err)).strip()
    return text if len(text) <= limit else text[:limit] + " ..."


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError after `seconds` (main thread, Unix; Python-level code only)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def fire(signum, frame):
        raise TimeoutError(f"gave up after {seconds:.0f} s (--impl-timeout)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _watchdog(seconds: float, fire: Callable[[], None]) -> Iterator[None]:
    """Call `fire()` from a timer thread if the block is still running after `seconds`."""
    if seconds <= 30:
        yield
        return
    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def sample_rows(n: int, k: int, seed: int) -> np.ndarray:
    """Up to k sorted distinct rows, always including the first and the last."""
    if n <= k:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    inner = rng.choice(np.arange(1, n - 1), size=k - 2, replace=False)
    return np.sort(np.concatenate([[0, n - 1], inner]))


def run_case(
    case: Case,
    size_key: str,
    env: Env,
    *,
    budget_s: float,
    max_repeats: int,
    impl_filter: set[str] | None = None,
    impl_timeout_s: float = 0,
    on_impl: Callable[[str], None] | None = None,
    on_hang: Callable[[str], None] | None = None,
    hung: set[str] = frozenset(),
) -> dict[str, Any]:
    """Run every implementation of `case`; returns its JSON record (never raises).

    `on_hang(impl)` is called from a watchdog thread when an implementation is still inside
    native code 30 s after `impl_timeout_s` (SIGALRM cannot interrupt it); the CLI then restarts
    the process. `hung` names "case:impl" pairs that hung before: they are reported, not run.
    """
    sizes = case.sizes[size_key]
    env = Env(env.target, env.backend, env.mem_budget, case.device_dtype)
    seed = zlib.crc32(case.name.encode())
    record: dict[str, Any] = {
        "name": case.name,
        "workload": case.workload,
        "title": case.title,
        "sizes": sizes,
        "metric_unit": case.metric.unit,
        "dtype": case.device_dtype or "float32",
        "notes": case.notes,
        "results": [],
    }
    if hasattr(os, "getloadavg"):  # other work on the machine skews CPU timings: keep a trace
        record["load_avg_1m"] = round(os.getloadavg()[0], 2)
    impls = [tensorc_impl(case), *case.impls]
    if impl_filter is not None:
        impls = [i for i in impls if i.name in impl_filter or i.name.split()[0] in impl_filter]
    try:
        inputs = case.make_inputs(sizes, np.random.default_rng(seed))
        rows = None
        if case.check.rows is not None:
            key, _ = case.check.rows
            rows = sample_rows(int(sizes[key]), case.check.samples, seed)
        t0 = time.perf_counter()
        ref = case.check.reference(inputs, rows)
        record["reference_s"] = round(time.perf_counter() - t0, 4)
    except Exception as err:  # noqa: BLE001 - a harness bug: say so and move on
        record["error"] = f"inputs/reference failed: {_error_text(err)}"
        for impl in impls:
            record["results"].append(
                {"name": impl.name, "status": "error", "error": record["error"]}
            )
            if on_impl:
                on_impl(impl.name)
        return record

    sync = make_sync(env.target)
    for impl in impls:
        if on_impl:
            on_impl(impl.name)
        if f"{case.name}:{impl.name}" in hung:
            record["results"].append(
                {
                    "name": impl.name,
                    "note": impl.note,
                    "status": "error",
                    "error": f"did not return within --impl-timeout {impl_timeout_s:.0f} s (stuck in "
                    "native code; the harness restarted itself and went on)",
                }
            )
            continue
        hang = (lambda name=impl.name: on_hang(name)) if on_hang else (lambda: None)
        with _watchdog(impl_timeout_s + 30, hang):
            res = _run_impl(
                case,
                impl,
                inputs,
                sizes,
                env,
                rows,
                ref,
                sync,
                budget_s,
                max_repeats,
                impl_timeout_s,
            )
        record["results"].append(res)
        gc.collect()
    _add_speedups(record)
    return record


def _run_impl(
    case: Case,
    impl: Impl,
    inputs: Inputs,
    sizes: Sizes,
    env: Env,
    rows: Any,
    ref: Any,
    sync: Callable[[], None],
    budget_s: float,
    max_repeats: int,
    impl_timeout_s: float,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": impl.name, "note": impl.note}
    if impl.mem_bytes is not None:
        need = impl.mem_bytes(sizes)
        if need > env.mem_budget:
            out.update(
                status="skipped",
                reason=f"dense method needs ~{need / 2**30:.1f} GiB "
                f"> --mem-budget {env.mem_budget / 2**30:.1f} GiB",
            )
            return out
    fn = None
    try:
        with _deadline(impl_timeout_s):
            t0 = time.perf_counter()
            fn = impl.setup(inputs, sizes, env)
            out["setup_s"] = round(time.perf_counter() - t0, 4)
            t0 = time.perf_counter()
            result = fn()
            sync()
            out["first_call_s"] = round(time.perf_counter() - t0, 4)
        res = to_numpy(result)
        del result
        if rows is not None:
            res = np.take(res, rows, axis=case.check.rows[1])
        ok, err = case.check.compare(res, ref, inputs, rows)
        out["max_err"] = err
        if not ok:
            out.update(
                status="mismatch",
                reason=f"max error {err:.3g} relative to the "
                "reference's scale exceeds the tolerance; not timed",
            )
            return out
        with _deadline(impl_timeout_s):
            t = time_call(
                fn,
                sync=sync,
                budget_s=budget_s,
                max_repeats=max_repeats,
                warmup=1,
                min_repeats=min(3, max_repeats),
            )
        out.update(status="ok", time_s=t.median_s, min_s=t.min_s, repeats=len(t.times_s))
        out["metric"] = {"unit": case.metric.unit, "value": case.metric.value(sizes, t.median_s)}
        if case.memory:
            with PeakRSS() as peak:
                fn()
                sync()
            out["rss_delta_bytes"] = peak.delta
    except Skip as err:
        out.update(status="skipped", reason=str(err))
    except Exception as err:  # noqa: BLE001 - the harness reports any failure and goes on
        out.update(status="error", error=_error_text(err))
    finally:
        del fn
    return out


def _add_speedups(record: dict[str, Any]) -> None:
    """speedup = t_other / t_tensorc (> 1: tensorc is faster), where both were timed."""
    tc = next((r for r in record["results"] if r["name"] == TENSORC), None)
    t_tc = tc.get("time_s") if tc and tc.get("status") == "ok" else None
    for r in record["results"]:
        if r.get("status") == "ok" and t_tc:
            r["speedup"] = r["time_s"] / t_tc
        else:
            r["speedup"] = None
