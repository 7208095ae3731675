"""Isolated tuning: a candidate that segfaults or hangs scores inf and tuning goes on; tune takes
`@jit` functions and `tensorc.einsum`. The tuning runs in a subprocess, so that a broken isolation
fails the test instead of killing the test run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tensorc
from tensorc.autotune import tuner

HERE = Path(__file__).parent


def test_a_crashing_and_a_hanging_candidate_score_inf(tmp_path):
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorc
        sys.path.insert(0, {str(HERE)!r})
        import crashers
        from tensorc.autotune import tuner
        tuner.run_candidate = crashers.crash_one_hang_two
        src = "def f(float(N,K) a, float(K,M) b) -> (c) {{ c(i,j) = a(i,k) * b(k,j) }}"
        fn = tensorc.compile(src, backend="cpu").f
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        r = tensorc.tune(fn, a, a.T.copy(), budget=0.01, repeats=1, timeout=20, progress=True)
        status = [t.status for t in r.trials]
        assert status[1] == "crash" and status[2] == "timeout", status
        assert r.trials[1].seconds == float("inf") and r.trials[2].seconds == float("inf")
        assert "SIGSEGV" in r.trials[1].detail, r.trials[1].detail
        assert status.count("ok") == len(status) - 2, status
        assert r.best not in (r.trials[1].candidate, r.trials[2].candidate)
        assert "crash" in r.table() and "timeout" in r.table()
        np.testing.assert_allclose(fn(a, a.T.copy()), a @ a.T)
        print("OK")
    """)
    env = {**os.environ, "TENSORC_CACHE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
    assert "crash" in done.stderr and "timeout" in done.stderr  # the progress bar says so


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tuner, "_MEMORY", {})
    return tmp_path


def _one_candidate(monkeypatch):
    real = tuner.candidates
    monkeypatch.setattr(tuner, "candidates", lambda *a: real(*a)[:2])


def test_tune_takes_a_jit_function(cache, monkeypatch):
    _one_candidate(monkeypatch)

    @tensorc.jit(backend="cpu")
    def gram(x):
        "g(i, j) = x(i, d) * x(j, d)"

    x = np.random.default_rng(0).standard_normal((9, 3)).astype(np.float32)
    result = tensorc.tune(gram, x, budget=0.01, repeats=1, isolate=False)
    assert result.trials[0].status == "ok"
    fn = gram.function(x)
    backend = tensorc.backends.get_backend("cpu")
    assert tuner.lookup(fn.def_, backend, {"S0": 9, "S1": 3}) == result.best
    np.testing.assert_allclose(gram(x), x @ x.T, rtol=1e-5, atol=1e-5)


def test_tune_takes_einsum(cache, monkeypatch):
    _one_candidate(monkeypatch)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 6))
    result = tensorc.tune(
        tensorc.einsum, "ij,jk->ik", a, b, backend="cpu", budget=0.01, repeats=1, isolate=False
    )
    assert result.trials[0].status == "ok"
    fn = tensorc.api.einsum_function("ij,jk->ik", a, b)
    sizes = fn._bind_sizes(fn._check_args((a, b)), (a, b))
    assert tuner.lookup(fn.def_, tensorc.backends.get_backend("cpu"), sizes) == result.best
    np.testing.assert_allclose(tensorc.einsum("ij,jk->ik", a, b), a @ b)


def test_tune_refuses_other_callables():
    from tensorc.errors import ArgumentTypeError

    with pytest.raises(ArgumentTypeError, match="expected a function tensorc compiled"):
        tensorc.tune(np.einsum, "ij", np.ones((2, 2)))
    with pytest.raises(ArgumentTypeError, match="subscripts"):
        tensorc.tune(tensorc.einsum, np.ones((2, 2)))
