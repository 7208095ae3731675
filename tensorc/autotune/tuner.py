"""The autotuner: try every legal (schedule, backend config) for one call's sizes, keep the fastest
that computes the right answer, and remember it on disk.

    fn = tensorc.load("examples/w01_gauss_ksum.tc").gauss_ksum
    result = tensorc.tune(fn, x, y, w)      # prints nothing; result.table() tells what was tried
    fn(x, y, w)                             # now runs the tuned schedule (this and later processes)

`fn` is anything tensorc compiled: a `Function` (`tensorc.compile(...).name`), a `@tensorc.jit`
function, or `tensorc.einsum` itself followed by its subscripts (`tune(tensorc.einsum, "ij,jk",
a, b)`). Candidates run in a worker process (worker.py), each within `timeout` seconds: one that
crashes or hangs scores infinity and the search goes on.

Every candidate is checked before it is timed: its outputs must match a reference (the TensorIR
interpreter when the call is small enough, otherwise the default schedule, which the test suite
checks against the interpreter) within the output dtype's tolerance. A candidate that raises, or
disagrees, is recorded as rejected and never chosen. The default candidate is always tried first,
so tuning can only keep or improve the default.

Results live in the kernel store (`tensorc.cache.store`, kind "tune"), keyed by the def's
structural hash, the call sizes, the tensorc version, the backend, its toolchain and the host
target: a different machine or compiler version never reuses them. `TENSORC_CACHE_DIR=off` keeps
them in memory for this process only. A stored record is checked on load (records.py): a bad one
is ignored with a warning.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tensorc.autotune import records
from tensorc.autotune.records import Candidate, RecordError
from tensorc.autotune.timing import as_numpy
from tensorc.autotune.worker import Job, Outcome, Worker, run_candidate
from tensorc.cache import store
from tensorc.errors import ArgumentTypeError, TensorcError, warn
from tensorc.ir.hashing import structural_hash
from tensorc.ir.tensor_ir import Def
from tensorc.runtime import bounds

INTERP_WORK_MAX = 2e7  # loop iterations up to which the interpreter is the reference
_MEMORY: dict[str, dict] = {}  # tuning results of this process (also when the disk cache is off)
_WARNED: set[str] = set()  # keys of bad records already warned about


@dataclass
class Trial:
    candidate: Candidate
    status: str  # "ok" | "wrong" | "error" | "crash" | "timeout" (the last two score inf)
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
        first = self.trials[0] if self.trials else None
        if not times or first is None or first.status != "ok" or not first.seconds:
            return 1.0
        return first.seconds / min(times)

    def table(self) -> str:
        default = self.trials[0].candidate if self.trials else None
        lines = [f"reference: {self.reference}"]
        for t in self.trials:
            mark = "*" if t.candidate == self.best else " "
            took = f"{t.seconds * 1e3:10.3f} ms" if t.status == "ok" else f"{t.status:>13}"
            lines.append(f"{mark} {took}  {t.candidate.label(default)}  {t.detail}".rstrip())
        return "\n".join(lines)


def _key(def_: Def, backend, sizes: dict[str, int]) -> str:
    from tensorc import __version__

    return store.cache_key(
        def_=structural_hash(def_),
        sizes=json.dumps(sorted(sizes.items())),
        tensorc=__version__,
        backend=backend.name,
        toolchain=backend.hash(),
        target=backend.target(),
    )


def lookup(def_: Def, backend, sizes: dict[str, int]) -> Candidate | None:
    """The stored winner for this def, backend and sizes, or None (also for a record that
    fails its checks, with a warning once per process)."""
    key = _key(def_, backend, sizes)
    entry = _MEMORY.get(key)
    if entry is None:
        entry = store.read("tune", key, ".json", decode=json.loads)  # bad JSON: removed
        if entry is None:
            return None
    try:
        candidate = records.check(entry, def_, backend.name, sizes)
    except RecordError as err:
        if key not in _WARNED:
            _WARNED.add(key)
            warn(
                f"ignoring the stored tuning record of {def_.name} at sizes "
                f"{dict(sorted(sizes.items()))} on {backend.name}: {err.message}",
                hint="tune again (tensorc.tune), or remove the records: "
                "tensorc cache clear --kind tune",
            )
        return None
    _MEMORY[key] = entry
    return candidate


def _remember(def_: Def, backend, sizes: dict[str, int], result: TuneResult) -> None:
    key = _key(def_, backend, sizes)
    best = next(t for t in result.trials if t.candidate == result.best)
    entry = {
        "schedule": result.best.schedule.to_json(),
        "config": result.best.config,
        "seconds": best.seconds,
        "reference": result.reference,
    }
    _MEMORY[key] = entry
    meta = {"def": def_.name, "sizes": sizes, "backend": backend.name}
    store.write("tune", key, json.dumps(entry, sort_keys=True).encode(), ".json", meta)


def candidates(fn, backend_name: str, sizes: dict[str, int]) -> list[Candidate]:
    """Every schedule of `schedule.space` crossed with every backend config (defaults first)."""
    from tensorc import backends as registry
    from tensorc.passes import run_pipeline
    from tensorc.pipeline import to_loops
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
    return {
        "float16": (2e-2, 2e-3),
        "bfloat16": (5e-2, 1e-2),
        "float32": (1e-4, 1e-5),
        "float64": (1e-9, 1e-12),
    }.get(dtype, (0.0, 0.0))


def _mismatch(got: dict, want: dict, def_: Def) -> str:
    """'' when every output matches, else which output differs and by how much."""
    for decl in def_.outputs:
        a = np.asarray(as_numpy(got[decl.name]), dtype=np.float64)
        b = np.asarray(as_numpy(want[decl.name]), dtype=np.float64)
        rtol, atol = tolerance(decl.dtype)
        scale = float(np.max(np.abs(b), initial=0.0)) if b.size else 0.0
        same_nan = np.isnan(a) == np.isnan(b)
        close = np.isclose(a, b, rtol=rtol, atol=atol * scale, equal_nan=True)
        if a.shape != b.shape or not (same_nan.all() and close.all()):
            worst = float(np.nanmax(np.abs(a - b))) if a.shape == b.shape and a.size else math.nan
            return f"output {decl.name} differs from the reference (max abs error {worst:.3g})"
    return ""


def tune(
    fn,
    *args: Any,
    backend: str | None = None,
    budget: float = 1.0,
    repeats: int = 10,
    progress: bool = False,
    timeout: float | None = None,
    isolate: bool = True,
) -> TuneResult:
    """Tune `fn` for these arguments; store and return the result.

    Args:
        fn: a `Function` (`tensorc.compile(src).name`), a `@tensorc.jit` function, or
            `tensorc.einsum` (then `args` starts with the subscripts).
        budget: the timing budget per candidate in seconds.
        timeout: seconds a candidate may take to build, run and time (default max(60, 30 x
            budget)); a candidate past it, or one that crashes its worker, scores infinity.
        isolate: run candidates in a worker process (default); False runs them here.
        progress: show a tqdm bar (with each candidate's outcome).

    The winner is used by every later call of this def with the same sizes on this backend and
    machine, in this process and later ones.

    Example:
        >>> result = tensorc.tune(mod.gauss_ksum, x, y, w, budget=0.2)
        >>> print(result.table())
    """
    from tensorc import backends as registry

    fn, args = resolve(fn, args)
    infos = fn._check_args(args)
    sizes = fn._bind_sizes(infos, args)
    guard = bounds.check(fn.def_, sizes, [i.shape for i in infos])  # as a call: no candidate
    if guard is not None:  # may read outside an array
        guard({d.name: a for d, a in zip(fn.def_.inputs, args)})
    device = next((i.device for i in infos if i.kind == "torch"), "cpu")
    name = backend or fn._pick_backend(device)
    if name == registry.REFERENCE or name == "loops":
        raise TensorcError(f"backend {name!r} has nothing to tune", hint="tune 'cpu' or 'triton'")
    if _work(fn.def_, sizes) <= INTERP_WORK_MAX:
        reference, want = "the TensorIR interpreter", fn._run_interpreter(args, sizes)
    else:
        reference, want = "the default schedule", None
    timeout = max(60.0, 30 * budget) if timeout is None else timeout
    trials: list[Trial] = []
    cands = candidates(fn, name, sizes)
    with Worker() as worker:
        bar = _progress(cands, progress, fn.def_.name)
        for index, cand in enumerate(bar):
            job = Job(index, fn.def_, name, sizes, cand, tuple(args), device, budget, repeats)
            if isolate:
                outcome = worker.run(run_candidate, job, timeout)
            else:
                outcome = run_candidate(job, fn)
            if want is None and outcome.status == "ok":
                want = outcome.outputs
            trials.append(_judge(cand, outcome, want, fn.def_))
            if progress:
                counts = Counter(t.status for t in trials)
                bar.set_postfix_str(", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
                if trials[-1].status in ("crash", "timeout"):
                    bar.write(
                        f"candidate {index} ({cand.label(cands[0])}): {trials[-1].status}: "
                        f"{trials[-1].detail}"
                    )
    ok = [t for t in trials if t.status == "ok"]
    if not ok:
        raise TensorcError(
            f"no candidate schedule of {fn.def_.name} computed the right result",
            hint="\n".join(f"{t.candidate.label()}: {t.detail}" for t in trials),
        )
    best = min(ok, key=lambda t: t.seconds).candidate
    result = TuneResult(best, reference, trials)
    _remember(fn.def_, registry.get_backend(name), sizes, result)
    fn._forget(name, sizes)
    return result


def _judge(cand: Candidate, outcome: Outcome, want: dict | None, def_: Def) -> Trial:
    """The trial of one candidate: its outcome, and its outputs checked against `want`."""
    if outcome.status in ("crash", "timeout"):
        return Trial(cand, outcome.status, math.inf, outcome.detail)
    if outcome.status != "ok":
        return Trial(cand, outcome.status, detail=outcome.detail)
    wrong = _mismatch(outcome.outputs, want, def_)
    if wrong:
        return Trial(cand, "wrong", detail=wrong)
    return Trial(cand, "ok", outcome.seconds)


def resolve(fn: Any, args: tuple) -> tuple[Any, tuple]:
    """The `Function` that `fn(*args)` runs, and its arguments: `fn` itself, a one-def module's
    def, a `@tensorc.jit` function's def for these arguments (`JitFunction.function`), or for
    `tensorc.einsum` the def of its subscripts and operands (`tensorc.api.einsum_function`)."""
    from tensorc import api
    from tensorc.runtime.module import Function, Module

    if isinstance(fn, Module) and len(fn.functions) == 1:
        fn = next(iter(fn))
    if isinstance(fn, Function):
        return fn, args
    if isinstance(fn, api.JitFunction):
        return fn.function(*args), args
    if fn is api.einsum:
        if not args or not isinstance(args[0], str):
            raise ArgumentTypeError(
                "tune(tensorc.einsum, ...): the first argument after einsum must be its subscripts",
                hint='tensorc.tune(tensorc.einsum, "ij,jk->ik", a, b)',
            )
        return api.einsum_function(args[0], *args[1:]), args[1:]
    raise ArgumentTypeError(
        f"tensorc.tune: expected a function tensorc compiled, got {type(fn).__name__}",
        hint="pass tensorc.compile(src).NAME, a @tensorc.jit function, or tensorc.einsum "
        "followed by its subscripts",
    )


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
        reduced = (r for x in walk(st.rhs) if isinstance(x, Reduce) for r in x.ranges)
        for r in (*st.domain, *reduced):
            ext = sympy.sympify(r.hi - r.lo).subs(subs)
            n *= float(ext) if ext.is_number else 1e6
        total += n
    return total


def _progress(items: list, show: bool, name: str):
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=f"tuning {name}", unit="candidate")
