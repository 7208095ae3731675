"""Smoke tests of the benchmark harness: it runs end to end and writes valid JSON.

Tiny sizes, one repeat, numpy / opt_einsum and tensorc's reference interpreter only. No timing
thresholds: performance lives in `python -m benchmarks`, not in unit tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main
from benchmarks.runner import run_case, sample_rows
from benchmarks.spec import Case, Check, Env, Impl, Metric, Skip, allclose

STATUSES = {"ok", "mismatch", "error", "skipped"}


def _run(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "bench.json"
    rc = main(
        [
            "--target",
            "cpu",
            "--size",
            "tiny",
            "--repeats",
            "1",
            "--budget",
            "0",
            "--backend",
            "interp",
            "--no-progress",
            "--out",
            str(out),
            *extra,
        ]
    )
    assert rc == 0
    return json.loads(out.read_text())  # strict JSON: no NaN / Infinity


def test_end_to_end_writes_json_with_reasons(tmp_path):
    # --mem-budget 0 skips every dense comparator: each skip must come back with its reason
    doc = _run(
        tmp_path,
        "--only",
        "W1,W9",
        "--impls",
        "tensorc,numpy,numpy.einsum,opt_einsum",
        "--mem-budget",
        "0",
        "--no-chart",
    )
    assert doc["schema"] == 1 and doc["target"] == "cpu" and doc["size"] == "tiny"
    assert {"cpu", "versions", "host"} <= set(doc["machine"])
    assert "numpy" in doc["machine"]["versions"]
    names = [c["name"] for c in doc["cases"]]
    assert names == ["W1-ksum", "W1-mem", "W1-smallN", "W9-tucker", "W9-mps", "W9-bilinear"]
    for case in doc["cases"]:
        assert case["sizes"] and case["metric_unit"]
        impls = {r["name"]: r for r in case["results"]}
        assert "tensorc" in impls  # recorded even while the compiler errors
        for r in case["results"]:
            assert r["status"] in STATUSES
            if r["status"] == "skipped":
                assert r["reason"]
            if r["status"] == "error":
                assert r["error"]
            if r["status"] == "ok":
                assert r["time_s"] > 0 and r["metric"]["value"] > 0
    w1 = {r["name"]: r for r in doc["cases"][0]["results"]}
    assert w1["numpy"]["status"] == "skipped" and "mem-budget" in w1["numpy"]["reason"]
    tucker = {r["name"]: r for r in doc["cases"][names.index("W9-tucker")]["results"]}
    assert tucker["opt_einsum"]["status"] == "ok"
    assert tucker["numpy.einsum"]["status"] == "ok"


def test_chart_and_default_sizes(tmp_path):
    pytest.importorskip("matplotlib")
    doc = _run(tmp_path, "--only", "GEMM-1024", "--impls", "tensorc,numpy")
    gemm = {r["name"]: r for r in doc["cases"][0]["results"]}
    assert gemm["numpy"]["status"] == "ok"
    assert doc["chart"] and Path(doc["chart"]).stat().st_size > 0
    if gemm["tensorc"]["status"] == "ok":
        assert gemm["numpy"]["speedup"] > 0


def _toy_case(impls: tuple[Impl, ...]) -> Case:
    def make(s, rng):
        return {"x": rng.random((s["N"], 3), dtype=np.float32)}

    return Case(
        "toy",
        "W0",
        "row sums",
        {"tiny": {"N": 40}},
        make,
        "def toy(float(N,D) x) -> (s) { s(i) = x(i,d) }",
        "toy",
        ("x",),
        impls,
        Check(lambda inp, rows: inp["x"][rows].astype(np.float64).sum(1), allclose(), ("N", 0), 8),
        Metric("G elems/s", lambda s: s["N"] * 3, 1e9),
    )


def _impl(name, fn):
    return Impl(name, lambda inp, sizes, env: lambda: fn(inp["x"]))


def _skip(inp, sizes, env):
    raise Skip("not installed here")


def test_statuses_of_comparators():
    case = _toy_case(
        (
            _impl("good", lambda x: x.sum(1)),
            _impl("wrong", lambda x: x.sum(1) + 1),
            _impl("boom", lambda x: 1 / 0),
            Impl("absent", _skip),
            Impl("huge", lambda i, s, e: lambda: 0, mem_bytes=lambda s: 1 << 50),
        )
    )
    rec = run_case(case, "tiny", Env("cpu", "interp", 1 << 30), budget_s=0, max_repeats=1)
    by = {r["name"]: r for r in rec["results"]}
    assert by["good"]["status"] == "ok" and by["good"]["max_err"] < 1e-6
    assert by["wrong"]["status"] == "mismatch" and "time_s" not in by["wrong"]
    assert by["boom"]["status"] == "error" and "ZeroDivisionError" in by["boom"]["error"]
    assert by["absent"] == {
        "name": "absent",
        "note": "",
        "status": "skipped",
        "reason": "not installed here",
        "speedup": None,
    }
    assert by["huge"]["status"] == "skipped" and "GiB" in by["huge"]["reason"]
    assert by["tensorc"]["status"] in STATUSES


def test_sample_rows_keeps_ends():
    rows = sample_rows(1000, 16, seed=3)
    assert len(rows) == 16 and rows[0] == 0 and rows[-1] == 999
    assert np.all(np.diff(rows) > 0)
    assert list(sample_rows(5, 16, seed=3)) == [0, 1, 2, 3, 4]
