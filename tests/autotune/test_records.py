"""Stored tuning records are checked on load: a bad one is ignored with a warning (it used to give
all-zero outputs for "threads": -1 and start 3000 threads for "threads": 3000)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import tensorc
from tensorc.autotune import records, tuner
from tensorc.errors import TensorcWarning
from tensorc.schedule.schedule import Schedule, default_schedule

SOURCE = "def mm(float(N,K) a, float(K,M) b) -> (c) { c(i,j) = a(i,k) * b(k,j) }"
SIZES = {"N": 6, "K": 5, "M": 4}


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tuner, "_MEMORY", {})
    monkeypatch.setattr(tuner, "_WARNED", set())
    fn = tensorc.compile(SOURCE, backend="cpu").mm
    backend = tensorc.backends.get_backend("cpu")
    return fn, backend


def _record(fn, schedule: Schedule | None = None, **config) -> dict:
    schedule = schedule or default_schedule(fn.def_, "cpu", SIZES)
    return {
        "schedule": schedule.to_json(),
        "config": {"threads": 1, **config},
        "seconds": 1e-3,
        "reference": "the TensorIR interpreter",
    }


def _store(fn, backend, entry) -> None:
    key = tuner._key(fn.def_, backend, SIZES)
    payload = entry if isinstance(entry, bytes) else json.dumps(entry).encode()
    tuner.store.write("tune", key, payload, ".json")


def test_a_good_record_is_used(setup):
    fn, backend = setup
    _store(fn, backend, _record(fn, threads=2))
    found = tuner.lookup(fn.def_, backend, SIZES)
    assert found is not None and found.config == {"threads": 2}


def _bad_records(fn):
    base = default_schedule(fn.def_, "cpu", SIZES)

    def sched(**kw) -> Schedule:
        from dataclasses import replace

        return replace(base, **kw)

    many = (os.cpu_count() or 1) * 4 + 1
    return {
        "threads -1": (_record(fn, threads=-1), "threads = -1"),
        "threads 3000": (_record(fn, threads=max(3000, many)), "threads"),
        "threads str": (_record(fn, threads="4"), "threads"),
        "threads bool": (_record(fn, threads=True), "threads"),
        "unknown key": (_record(fn, BLOCK=128), "unknown cpu config key"),
        "tile 3": (_record(fn, sched(tiles=(("i", 3),))), "tile i=3"),
        "tile name": (_record(fn, sched(tiles=(("q", 8),))), "tile q=8"),
        "specialise": (_record(fn, sched(specialise=(("N", 7),))), "specialise N=7"),
        "order": (_record(fn, sched(order=("z",))), "loop order"),
        "target": (_record(fn, sched(target="gpu")), "target 'gpu'"),
        "flash": (_record(fn, sched(flash_blocks=(12, 64))), "flash_blocks"),
        "split": (
            {**_record(fn), "schedule": json.dumps({**json.loads(base.to_json()), "split_j": -3})},
            "split_j",
        ),
        "knob": ({**_record(fn), "schedule": '{"no_such_knob": 1}'}, "unknown schedule knobs"),
        "fields": ({"schedule": base.to_json(), "config": {}}, "fields"),
        "types": ({**_record(fn), "config": [1]}, "config"),
        "not a dict": ([1, 2], "fields"),
    }


@pytest.mark.parametrize("case", sorted(_bad_records(tensorc.compile(SOURCE).mm)))
def test_a_bad_record_is_ignored_with_a_warning(setup, case):
    fn, backend = setup
    entry, words = _bad_records(fn)[case]
    _store(fn, backend, entry)
    with pytest.warns(TensorcWarning, match="ignoring the stored tuning record") as caught:
        assert tuner.lookup(fn.def_, backend, SIZES) is None
    assert words in str(caught[0].message)
    a = np.arange(30, dtype=np.float32).reshape(6, 5)
    b = np.arange(20, dtype=np.float32).reshape(5, 4)
    np.testing.assert_allclose(fn(a, b), a @ b)  # the default runs instead, right


def test_bad_json_is_removed(setup):
    fn, backend = setup
    _store(fn, backend, b"{not json")
    path = tuner.store._path("tune", tuner._key(fn.def_, backend, SIZES), ".json")
    assert path.exists()
    assert tuner.lookup(fn.def_, backend, SIZES) is None and not path.exists()


def test_triton_config_rules():
    good = {
        "BLOCK": 256,
        "num_warps": 8,
        "num_stages": 3,
        "allow_tf32": False,
        "FLASH_BLOCK_I": 128,
        "TILE_INTERIOR": True,
        "OUT_WARPS": 4,
    }
    assert records.check_config(good, "triton") == good
    for bad in (
        {"num_warps": 3},
        {"BLOCK": 100},
        {"num_stages": 0},
        {"allow_tf32": 1},
        {"BLOCK": -128},
        {"rm -rf": 1},
    ):
        with pytest.raises(records.RecordError):
            records.check_config(bad, "triton")


def test_every_triton_config_the_backend_makes_passes_the_rules():
    """A new config key or value range must get a rule, or tuned records of it are ignored."""
    pytest.importorskip("triton")
    from tensorc.backends.triton import backend as tb
    from tensorc.backends.triton.values import DEFAULT_CONFIG

    configs = [{**DEFAULT_CONFIG, **tb.GPU_DEFAULTS, **tb.IEEE_DEFAULTS, "allow_tf32": True}]
    for kind, tiles in (
        ("FLASH", tb.FLASH_TILES),
        ("TILE", tb.STREAM_TILES),
        ("OUT", tb.OUT_TILES),
    ):
        keys = (f"{kind}_BLOCK_I", f"{kind}_BLOCK_J", f"{kind}_WARPS", f"{kind}_STAGES")
        configs += [{**DEFAULT_CONFIG, **dict(zip(keys, t))} for t in tiles]
    configs += [{**DEFAULT_CONFIG, "BLOCK": b, "num_warps": w} for b, w in tb.GENERIC_BLOCKS]
    gemm = ("BM", "BN", "BK", "num_warps", "num_stages")
    configs += [{**DEFAULT_CONFIG, **dict(zip(gemm, t))} for t in tb.GEMM_TILES]
    for config in [DEFAULT_CONFIG, *configs]:
        assert records.check_config(dict(config), "triton") == config
