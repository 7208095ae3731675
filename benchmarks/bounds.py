"""The cost of the call-time bounds check (issue 13): W10's gather and a 2-D gather, each timed in
one process with the per-call index-tensor check and without it (the same compiled kernel), plus
the check alone. Results as JSON.

    python -m benchmarks.bounds [--out benchmarks/results/bounds-check.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import tensorc

GATHER_2D = "def g(float(E,W) T, int32(L,K) idx) -> (O) { O(l, k, w) = T(idx(l, k), w) }"
# (E rows, W columns, L indices): the W10 example's scale and two larger ones
SIZES = [(1000, 16, 1024), (10_000, 64, 10_000), (100_000, 64, 100_000), (100_000, 16, 1_000_000)]


def _functions(kind: str):
    if kind == "w10-gather":
        return (tensorc.load("examples/w10_tc_classics.tc", backend="cpu").gather for _ in range(2))
    return (tensorc.compile(GATHER_2D, backend="cpu").g for _ in range(2))


def _median(fn, args, calls: int) -> float:
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def measure(kind: str, e: int, w: int, n: int, rng: np.random.Generator) -> dict:
    table = rng.random((e, w), dtype=np.float32)
    idx = rng.integers(0, e, n, dtype=np.int32)
    if kind != "w10-gather":
        idx = idx.reshape(n // 4, 4)
    on, off = _functions(kind)
    on(table, idx)
    off(table, idx)
    key = next(iter(off._plans))
    guard = on._plans[next(iter(on._plans))].guard
    assert guard is not None, "the gather has no per-call check"
    off._plans[key] = replace(off._plans[key], guard=None)  # the same kernel, unchecked
    calls = max(5, min(2000, int(2e8 / (n * w + 1))))
    with_check, without = [], []
    for _ in range(5):  # interleaved rounds: drift hits both alike
        with_check.append(_median(on, (table, idx), calls))
        without.append(_median(off, (table, idx), calls))
    check_alone = _median(lambda b: guard(b), ({"T": table, "idx": idx},), 200)
    call = float(np.median(without))
    return {
        "case": kind, "E": e, "W": w, "L": n,
        "with_check_s": float(np.median(with_check)), "without_check_s": call,
        "check_alone_s": check_alone, "check_share": check_alone / call,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bounds", description=__doc__)
    p.add_argument("--out", default="benchmarks/results/bounds-check.json")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = [measure(kind, *size, rng) for kind in ("w10-gather", "gather-2d") for size in SIZES]
    for r in rows:
        print(f"{r['case']:11} E={r['E']:>7} W={r['W']:>3} L={r['L']:>8}: "
              f"call {r['without_check_s'] * 1e6:9.1f} us, with check "
              f"{r['with_check_s'] * 1e6:9.1f} us, check alone {r['check_alone_s'] * 1e6:6.1f} us "
              f"= {100 * r['check_share']:5.1f}%")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
