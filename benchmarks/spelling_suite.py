"""`python -m benchmarks --suite spelling [--size quick] [--only mlp,tucker]`: one plan per
mathematics.

For each family of `benchmarks.spellings`, every spelling is compiled with tensorc (cpu backend
unless --backend), checked against the family's float64 reference, then timed in this process
(median of interleaved rounds: `interleaved`); the table gives each spelling's ratio to the fastest
spelling of its family (issue 11's target: every ratio <= 1.3) and each comparator's time
against the fastest spelling (numpy's MLP, plain causal attention for ALiBi). Writes
benchmarks/results/spelling-<host>[-<size>].json.
"""

from __future__ import annotations

import json
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import machine_info
from benchmarks.spellings import Family, families

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_RATIO = 1.3


def _check(got: Any, want: np.ndarray, rtol: float) -> tuple[bool, float]:
    got = np.asarray(got[0] if isinstance(got, tuple) else got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"shape {got.shape} != reference {want.shape}")
    scale = float(np.max(np.abs(want))) or 1.0
    err = float(np.max(np.abs(got - want))) / scale if want.size else 0.0
    return bool(np.all(np.isfinite(got))) and err <= rtol, err


def interleaved(fns: dict[str, Any], budget_s: float, repeats: int) -> dict[str, list[float]]:
    """Wall times of each callable, timed in rounds (one call of each per round, after one
    warm-up call each) until `budget_s` per callable is spent or `repeats` rounds: a machine
    shared with other work then slows every spelling alike instead of whichever ran at the time."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    spent = 0.0
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            times[k].append(dt)
            spent += dt
        if spent >= budget_s * len(fns) and len(next(iter(times.values()), [])) >= 3:
            break
    return times


def run_family(fam: Family, size: str, backend: str, budget_s: float, repeats: int) -> dict:
    import tensorc

    sizes = fam.sizes[size]
    inputs = fam.make(sizes, np.random.default_rng(0))
    want = fam.reference(inputs)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    try:
        mod = tensorc.compile(fam.source, backend=backend)
    except Exception as err:  # noqa: BLE001 - reported per family, the suite goes on
        return {"family": fam.name, "sizes": sizes, "error": f"{type(err).__name__}: {err}"}
    args = [inputs[a] for a in fam.args]
    timed: dict[str, Any] = {}  # label -> zero-argument callable, checked
    for name in fam.spellings:
        row: dict[str, Any] = {"spelling": name}
        try:
            fn = mod[name]
            c0 = time.perf_counter()
            ok, err = _check(fn(*args), want, fam.rtol)
            row |= {"first_call_s": round(time.perf_counter() - c0, 3), "max_rel_error": err}
            row["status"] = "ok" if ok else "mismatch"
            if ok:
                timed[name] = lambda f=fn: f(*args)
        except Exception as err:  # noqa: BLE001
            row |= {"status": "error", "error": f"{type(err).__name__}: {err}"[:800]}
        rows.append(row)
    comps = []
    for label, make in fam.comparators.items():
        c: dict[str, Any] = {"comparator": label}
        try:
            timed[label] = make(inputs)
            c["status"] = "ok"
        except Exception as err:  # noqa: BLE001
            c |= {"status": "error", "error": f"{type(err).__name__}: {err}"[:800]}
        comps.append(c)
    times = interleaved(timed, budget_s, repeats)
    for r in (*rows, *comps):
        label = r.get("spelling", r.get("comparator"))
        if label in times:
            r |= {"median_s": statistics.median(times[label]), "min_s": min(times[label]),
                  "repeats": len(times[label])}  # fmt: skip
    fastest = min((r["median_s"] for r in rows if "median_s" in r), default=None)
    fastest_min = min((r["min_s"] for r in rows if "min_s" in r), default=None)
    for r in rows:
        if fastest and "median_s" in r:
            r["ratio_to_fastest"] = r["median_s"] / fastest
            r["min_ratio"] = r["min_s"] / fastest_min  # steadier on a machine shared with others
    for c in comps:
        if fastest and "median_s" in c:
            c["fastest_spelling_vs_it"] = fastest / c["median_s"]
    return {"family": fam.name, "sizes": sizes, "spellings": rows, "comparators": comps,
            "elapsed_s": round(time.perf_counter() - t0, 1)}  # fmt: skip


def table(doc: dict) -> str:
    lines = [
        f"{'family':<20} {'spelling':<24} {'median':>10} {'ratio':>6} {'min ratio':>9}  status"
    ]
    worst = []
    for fam in doc["families"]:
        if "error" in fam:
            lines.append(f"{fam['family']:<20} (compile failed) {fam['error'][:80]}")
            continue
        for r in fam["spellings"]:
            t = f"{r['median_s'] * 1e3:.3f} ms" if "median_s" in r else "-"
            ratio = f"{r['ratio_to_fastest']:.2f}" if "ratio_to_fastest" in r else "-"
            mratio = f"{r['min_ratio']:.2f}" if "min_ratio" in r else "-"
            flag = "" if r.get("ratio_to_fastest", 0) <= TARGET_RATIO else "  > 1.3"
            why = r["status"] + (f" ({r.get('error', r.get('max_rel_error'))})"
                                 if r["status"] != "ok" else "")  # fmt: skip
            lines.append(f"{fam['family']:<20} {r['spelling']:<24} {t:>10} {ratio:>6} {mratio:>9}  "
                         f"{why}{flag}")  # fmt: skip
            if r["status"] != "ok" or r.get("ratio_to_fastest", 0) > TARGET_RATIO:
                worst.append(f"{fam['family']}/{r['spelling']}")
        for c in fam["comparators"]:
            t = f"{c['median_s'] * 1e3:.3f} ms" if "median_s" in c else "-"
            vs = c.get("fastest_spelling_vs_it")
            lines.append(f"{'':<20} vs {c['comparator']:<21} {t:>10}   fastest spelling takes "
                         + (f"{vs:.2f}x its time" if vs else c.get("error", "-")))  # fmt: skip
    lines.append(f"over {TARGET_RATIO}x of the fastest or failed: {', '.join(worst) or 'none'}")
    return "\n".join(lines)


def main(args) -> int:
    size = args.size or ("quick" if args.quick else "full")
    fams = families()
    if args.only:
        keys = {k.strip().lower() for k in args.only.split(",")}
        fams = [f for f in fams if f.name in keys or f.name.split("-")[0] in keys]
    if args.list:
        for f in fams:
            print(f"{f.name:<18} {', '.join(f.spellings)}  sizes[{size}]={f.sizes[size]}")
        return 0
    budget = args.budget if args.budget is not None else {"full": 2.0, "quick": 0.5,
                                                          "tiny": 0.02}[size]  # fmt: skip
    host = socket.gethostname().split(".")[0]
    out = args.out or RESULTS / (
        f"spelling-{host}" + ("" if size == "full" else f"-{size}") + ".json"
    )
    doc: dict[str, Any] = {"suite": "spelling", "size": size, "backend": args.backend or "cpu",
                           "command": "python -m benchmarks --suite spelling" +
                           (f" --size {size}" if size != "full" else ""),
                           "machine": machine_info("cpu"), "families": []}  # fmt: skip
    for fam in fams:
        doc["families"].append(run_family(fam, size, args.backend or "cpu", budget, args.repeats))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1, default=str))
        if not args.no_progress:
            print(f"{fam.name}: done", flush=True)
    print(table(doc))
    print(f"\nwrote {out}")
    return 0
