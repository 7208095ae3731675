"""The autotuner: every candidate is validated, the fastest correct one is remembered and used."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tensorc
from tensorc import cli
from tensorc.autotune import tuner
from tensorc.errors import TensorcError, TensorcWarning
from tensorc.runtime.module import Function

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

SOURCE = """
def ksum(float(N,D) x, float(M,D) y, float(M) w) -> (b) {
  b(i) +=! exp(-(x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) * w(j)
}
"""


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tuner, "_MEMORY", {})
    return tmp_path


def _inputs(n=37, m=23, d=3):
    rng = np.random.default_rng(1)
    f = np.float32
    return (
        rng.standard_normal((n, d)).astype(f),
        rng.standard_normal((m, d)).astype(f),
        rng.standard_normal(m).astype(f),
    )


def _fn() -> Function:
    return tensorc.compile(SOURCE, backend="cpu").ksum


def _sizes(fn, args):
    return fn._bind_sizes(fn._check_args(args), args)


def test_tune_keeps_a_correct_candidate_and_uses_it(cache):
    fn, args = _fn(), _inputs()
    result = tensorc.tune(fn, *args, budget=0.01, repeats=2)
    assert result.reference == "the TensorIR interpreter"
    assert result.trials[0].candidate.label(result.trials[0].candidate) == "default"
    assert len(result.trials) > 2 and all(t.status == "ok" for t in result.trials)
    assert result.best in [t.candidate for t in result.trials]
    backend = tensorc.backends.get_backend("cpu")
    assert tuner.lookup(fn.def_, backend, _sizes(fn, args)) == result.best
    # a fresh process sees it too: forget the in-memory copy and read the store again
    tuner._MEMORY.clear()
    assert tuner.lookup(fn.def_, backend, _sizes(fn, args)) == result.best
    fresh = _fn()
    np.testing.assert_allclose(
        fresh(*args), Function(fresh.def_, "interp")(*args), rtol=1e-5, atol=1e-5
    )


def test_other_sizes_are_not_tuned(cache):
    fn = _fn()
    tensorc.tune(fn, *_inputs(), budget=0.01, repeats=1)
    other = _inputs(n=11)
    assert tuner.lookup(fn.def_, tensorc.backends.get_backend("cpu"), _sizes(fn, other)) is None


def _sabotage(fn, bad_index: int, how: str):
    """Make candidate number `bad_index` wrong (its first output shifted) or failing."""
    compile_ = fn._compile
    seen = []

    def compiled(name, sizes, schedule=None, config=None):
        seen.append((schedule, config))
        launch = compile_(name, sizes, schedule, config)
        if len(seen) - 1 != bad_index:
            return launch
        if how == "error":
            raise RuntimeError("this candidate does not build")

        def wrong(buffers, sizes):
            launch.exe(buffers, sizes)
            buffers[fn.def_.outputs[0].name][...] += 1.0

        return dataclasses.replace(launch, exe=wrong)

    fn._compile = compiled


@pytest.mark.parametrize("how, status", [("wrong", "wrong"), ("error", "error")])
def test_a_bad_candidate_is_rejected_and_never_chosen(cache, how, status):
    fn, args = _fn(), _inputs()
    _sabotage(fn, 1, how)  # in this process: not isolated
    result = tensorc.tune(fn, *args, budget=0.01, repeats=1, isolate=False)
    bad = result.trials[1]
    assert bad.status == status and bad.seconds is None and bad.detail
    assert result.best != bad.candidate
    assert status in result.table()


def test_no_correct_candidate_is_an_error(cache, monkeypatch):
    fn, args = _fn(), _inputs()
    default = tuner.candidates(fn, "cpu", _sizes(fn, args))[0]
    monkeypatch.setattr(tuner, "candidates", lambda *a: [default])
    _sabotage(fn, 0, "wrong")
    with pytest.raises(TensorcError, match="no candidate schedule of ksum"):
        tensorc.tune(fn, *args, budget=0.01, isolate=False)
    assert tuner.lookup(fn.def_, tensorc.backends.get_backend("cpu"), _sizes(fn, args)) is None


def test_large_calls_check_against_the_default_schedule(cache, monkeypatch):
    monkeypatch.setattr(tuner, "INTERP_WORK_MAX", 10)
    result = tensorc.tune(_fn(), *_inputs(), budget=0.01, repeats=1)
    assert result.reference == "the default schedule"


@pytest.mark.parametrize("backend", ["interp", "loops"])
def test_reference_backends_have_nothing_to_tune(backend):
    with pytest.raises(TensorcError, match="nothing to tune"):
        tensorc.tune(_fn(), *_inputs(), backend=backend)


def test_stale_entries_are_ignored(cache):
    fn, args = _fn(), _inputs()
    backend = tensorc.backends.get_backend("cpu")
    key = tuner._key(fn.def_, backend, _sizes(fn, args))
    bad = b'{"schedule": "{\\"no_such_knob\\": 1}", "config": {}}'
    tuner.store.write("tune", key, bad, ".json")
    with pytest.warns(TensorcWarning, match="ignoring the stored tuning record of ksum"):
        assert tuner.lookup(fn.def_, backend, _sizes(fn, args)) is None


def test_cli_tune_prints_the_table(cache, tmp_path, capsys):
    path = tmp_path / "ksum.tc"
    path.write_text(SOURCE)
    code = cli.main(
        [
            "tune",
            str(path),
            "--size",
            "N=19",
            "--size",
            "M=13",
            "--size",
            "D=2",
            "--budget",
            "0.01",
            "--backend",
            "cpu",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "ksum:" in out and "the default" in out and "reference: the TensorIR interpreter" in out
