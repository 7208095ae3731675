"""The autotuner: try every legal (schedule, backend config) for one call's sizes, keep the fastest
that computes the right answer, and remember it on disk.

    fn = tensorc.load("examples/w01_gauss_ksum.tc").gauss_ksum
    result = tensorc.tune(fn, x, y, w)      # prints nothing; result.table() tells what was tried
    fn(x, y, w)                             # now runs the tuned schedule (this and later processes)

Every candidate is checked before it is timed: its outputs must match a reference (the TensorIR
interpreter when the call is small enough, otherwise the default schedule, which the test suite
checks against the interpreter) within the output dtype's tolerance. A candidate that raises, or
disagrees, is recorded as rejected and never chosen. The default candidate is always tried first,
so tuning can only keep or improve the default.

Results live in the kernel store (`tensorc.cache.store`, kind "tune"), keyed by the def's structural
hash, the call sizes, the tensorc version, the backend, its toolchain and the host target: a different machine or compiler
version never reuses them. `TENSORC_CACHE_DIR=off` keeps them in memory for this process only.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tensorc.cache import store
from tensorc.errors import TensorcError
from tensorc.ir.hashing import structural_hash
from tensorc.ir.tensor_ir import Def
from tensorc.schedule.schedule import Schedule

INTERP_WORK_MAX = 2e7  # loop iterations up to which the interpreter is the reference
_MEMORY: dict[str, dict] = {}  # tuning results of this process (also when the disk cache is off)


@dataclass(frozen=True)
class Candidate:
    schedule: Schedule
    config: dict

    def label(self, default: Candidate | None = None) -> str:
        """What differs from `default` (the whole candidate when no default is given)."""
        if default is None:
            return f"{self.schedule.to_json()} {json.dumps(self.config, sort_keys=True)}"
        a, b = json.loads(default.schedule.to_json()), json.loads(self.schedule.to_json())
        parts = [f"{k}={b[k]}" for k in sorted(b) if b[k] != a[k]]
        parts += [f"{k}={v}" for k, v in sorted(self.config.items()) if default.config.get(k) != v]
        return ", ".join(parts) or "default"


@dataclass
class Trial:
    candidate: Candidate
    status: str  # "ok" | "wrong" | "error"
    seconds: float | None = None
    detail: str = ""


@dataclass
class TuneResult:
    best: Candidate
    reference: str  # what outputs were checked against
    trials: list[Trial] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        """Default time / best time (1.0 when the default won)."""
        times = [t.seconds for t in self.trials if t.status == "ok"]
        return self.trials[0].seconds / min(times) if times and self.trials[0].seconds else 1.0

    def table(self) -> str:
        default = self.trials[0].candidate if self.trials else None
        lines = [f"reference: {self.reference}"]
        for t in self.trials:
            mark = "*" if t.candidate == self.best else " "
            took = f"{t.seconds * 1e3:10.3f} ms" if t.seconds is not None else f"{t.status:>13}"
            lines.append(f"{mark} {took}  {t.candidate.label(default)}  {t.detail}".rstrip())
        return "\n".join(lines)


def _key(def_: Def, backend, sizes: dict[str, int]) -> str:
    from tensorc import __version__

    return store.cache_key(
        def_=structural_hash(def_), sizes=json.dumps(sorted(sizes.items())), tensorc=__version__,
        backend=backend.name, toolchain=backend.hash(), target=backend.target(),
    )


def lookup(def_: Def, backend, sizes: dict[str, int]) -> Candidate | None:
    """The stored winner for this def, backend and sizes, or None."""
    key = _key(def_, backend, sizes)
    entry = _MEMORY.get(key)
    if entry is None:
        payload = store.read("tune", key, ".json")
        if payload is None:
            return None
        try:
            entry = json.loads(payload)
        except ValueError:
            return None
        _MEMORY[key] = entry
    try:
        return Candidate(Schedule.from_json(entry["schedule"]), dict(entry["config"]))
    except (TensorcError, KeyError, TypeError):  # written by another tensorc version: ignore it
        return None


def _remember(def_: Def, backend, sizes: dict[str, int], result: TuneResult) -> None:
    key = _key(def_, backend, sizes)
    best = next(t for t in result.trials if t.candidate == result.best)
    entry = {"schedule": result.best.schedule.to_json(), "config": result.best.config,
             "seconds": best.seconds, "reference": result.reference}
    _MEMORY[key] = entry
    store.write("tune", key, json.dumps(entry, sort_keys=True).encode(), ".json")


def candidates(fn, backend_name: str, sizes: dict[str, int]) -> list[Candidate]:
    """Every schedule of `schedule.space` crossed with every backend config (defaults first)."""
    from tensorc import backends as registry
    from tensorc.passes import run_pipeline, to_loops
    from tensorc.schedule import space

    backend = registry.get_backend(backend_name)
    target = "gpu" if backend_name == "triton" else "cpu"
    out = []
    for sched in space(run_pipeline(fn.def_, sizes), target, sizes):
        prog = to_loops(fn.def_, target=target, sizes=sizes, schedule=sched)
        out.extend(Candidate(sched, cfg) for cfg in backend.space(prog))
    return out


def tolerance(dtype: str) -> tuple[float, float]:
    """(rtol, atol relative to the reference's largest magnitude) a candidate must meet."""
    return {"float16": (2e-2, 2e-3), "bfloat16": (5e-2, 1e-2), "float32": (1e-4, 1e-5),
            "float64": (1e-9, 1e-12)}.get(dtype, (0.0, 0.0))


def _mismatch(got: dict, want: dict, def_: Def) -> str:
    """'' when every output matches, else which output differs and by how much."""
    for decl in def_.outputs:
        a = np.asarray(_as_numpy(got[decl.name]), dtype=np.float64)
        b = np.asarray(_as_numpy(want[decl.name]), dtype=np.float64)
        rtol, atol = tolerance(decl.dtype)
        scale = float(np.max(np.abs(b), initial=0.0)) if b.size else 0.0
        same_nan = np.isnan(a) == np.isnan(b)
        close = np.isclose(a, b, rtol=rtol, atol=atol * scale, equal_nan=True)
        if a.shape != b.shape or not (same_nan.all() and close.all()):
            worst = float(np.nanmax(np.abs(a - b))) if a.shape == b.shape and a.size else math.nan
            return f"output {decl.name} differs from the reference (max abs error {worst:.3g})"
    return ""


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu() if str(x.dtype) == "torch.bfloat16" else x.detach().cpu()
        return x.numpy()
    return np.asarray(x)


def _timed(run, budget: float, repeats: int) -> float:
    """Best wall time of `run` over up to `repeats` calls within `budget` seconds (after one warm-up)."""
    run()
    best, spent, n = math.inf, 0.0, 0
    while n < repeats and (n == 0 or spent < budget):
        start = time.perf_counter()
        run()
        took = time.perf_counter() - start
        best, spent, n = min(best, took), spent + took, n + 1
    return best


def tune(fn, *args: Any, backend: str | None = None, budget: float = 1.0, repeats: int = 10,
         progress: bool = False) -> TuneResult:
    """Tune `fn` (a `tensorc` Function) for these arguments; store and return the result.

    `budget` is the timing budget per candidate in seconds. The winner is used by every later call
    of this def with the same sizes on this backend and machine, in this process and later ones.
    """
    from tensorc import backends as registry

    infos = fn._check_args(args)
    sizes = fn._bind_sizes(infos, args)
    device = next((i.device for i in infos if i.kind == "torch"), "cpu")
    name = backend or fn._pick_backend(device)
    if name == registry.REFERENCE or name == "loops":
        raise TensorcError(f"backend {name!r} has nothing to tune", hint="tune 'cpu' or 'triton'")
    sync = _synchronizer(device)
    work = _work(fn.def_, sizes)
    if work <= INTERP_WORK_MAX:
        reference, want = "the TensorIR interpreter", fn._run_interpreter(args, sizes)
    else:
        reference, want = "the default schedule", None
    trials: list[Trial] = []
    cands = candidates(fn, name, sizes)
    for cand in _progress(cands, progress, fn.def_.name):
        try:
            launch = fn._compile(name, sizes, cand.schedule, cand.config)
            got = fn._execute(name, launch, args, sizes, device)
            sync()
        except Exception as err:  # noqa: BLE001 - a failing candidate is data, not a crash
            trials.append(Trial(cand, "error", detail=f"{type(err).__name__}: {err}"[:200]))
            continue
        if want is None:
            want = got
        wrong = _mismatch(got, want, fn.def_)
        if wrong:
            trials.append(Trial(cand, "wrong", detail=wrong))
            continue

        def run(launch=launch):
            fn._execute(name, launch, args, sizes, device)
            sync()

        trials.append(Trial(cand, "ok", _timed(run, budget, repeats)))
    ok = [t for t in trials if t.status == "ok"]
    if not ok:
        raise TensorcError(f"no candidate schedule of {fn.def_.name} computed the right result",
                           hint="\n".join(f"{t.candidate.label()}: {t.detail}" for t in trials))
    best = min(ok, key=lambda t: t.seconds).candidate
    result = TuneResult(best, reference, trials)
    _remember(fn.def_, registry.get_backend(name), sizes, result)
    fn._forget(name, sizes)
    return result


def _work(def_: Def, sizes: dict[str, int]) -> float:
    """A rough count of loop iterations of the def (product of all index extents per statement)."""
    import sympy

    from tensorc.ir.tensor_ir import Reduce
    from tensorc.passes.tir_utils import walk

    subs = {sympy.Symbol(k): v for k, v in sizes.items()}
    subs.update({sympy.Symbol(k, integer=True, nonnegative=True): v for k, v in sizes.items()})
    total = 0.0
    for st in def_.body:
        n = 1.0
        for r in (*st.domain, *(r for x in walk(st.rhs) if isinstance(x, Reduce) for r in x.ranges)):
            ext = sympy.sympify(r.hi - r.lo).subs(subs)
            n *= float(ext) if ext.is_number else 1e6
        total += n
    return total


def _synchronizer(device: str):
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def _progress(items: list, show: bool, name: str):
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=f"tuning {name}", unit="candidate")
