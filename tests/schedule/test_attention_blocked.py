"""Blocked flash attention (tensorc/schedule/attention.py): recognition, switches, LoopIR semantics.

The LoopIR programs run through the numpy LoopIR interpreter ("loops" backend) and are compared
with the TensorIR interpreter ("interp"), the oracle.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from support import attention_inputs, attention_source

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir import loop_ir as L
from tensorc.ir.loop_printer import format_program
from tensorc.passes import run_pipeline
from tensorc.pipeline import to_loops
from tensorc.schedule import Schedule, default_schedule, lower

SRC = attention_source(band_width=3) + """
def shared_kv(float(H,N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    s(h,i,j) = q(h,i,d) * k(j,d)
    o(h,i,e) = softmax(j: s(h,i,j)) * v(j,e)
}
"""

DEFS = {d.name: d for d in parse_program(SRC, "<test>").defs}
SIZES = [
    {"B": 1, "H": 1, "N": 1, "M": 1, "D": 16, "E": 16},
    {"B": 1, "H": 2, "N": 7, "M": 7, "D": 16, "E": 16},
    {"B": 2, "H": 1, "N": 33, "M": 20, "D": 16, "E": 8},
    {"B": 1, "H": 1, "N": 100, "M": 130, "D": 64, "E": 32},
]


def _has_flash(prog: L.LoopProgram) -> bool:
    return "local S" in format_program(prog)


@pytest.mark.parametrize("name", ["causal", "full", "strict", "band"])
def test_recognised_on_cpu_only(name):
    def_ = DEFS[name]
    assert _has_flash(to_loops(def_, "cpu", SIZES[1]))
    assert _has_flash(to_loops(def_, "cpu", None))
    assert not _has_flash(to_loops(def_, "gpu", SIZES[1]))


def test_switch_off_and_json():
    def_ = DEFS["causal"]
    base = default_schedule(run_pipeline(def_), "cpu", SIZES[2])
    assert base.flash_blocks is not None
    assert not _has_flash(to_loops(def_, "cpu", SIZES[2], replace(base, flash_blocks=None)))
    assert not _has_flash(lower(run_pipeline(def_), Schedule()))  # off unless asked for
    s = replace(base, flash_blocks=(32, 16))
    assert Schedule.from_json(s.to_json()) == s


def test_causal_skips_masked_blocks_by_bounds():
    def_ = DEFS["causal"]
    text = format_program(to_loops(def_, "cpu", None))
    assert "serial for j0 in [0, jhi) step" in text and "let jhi = min(M," in text


@pytest.mark.parametrize("name", ["causal", "full", "strict", "band"])
@pytest.mark.parametrize("blocks", [(96, 128), (8, 16), (5, 3)])
def test_loops_backend_matches_interpreter(name, blocks):
    rng = np.random.default_rng(1)
    def_ = DEFS[name]
    ref_mod = tensorc.compile(SRC, backend="interp")
    from tensorc.ir.loop_interpreter import run_loops

    for sz in SIZES[:3]:
        q, k, v = attention_inputs(sz, rng)
        ref = np.asarray(getattr(ref_mod, name)(q, k, v, np.float32(0.25)))
        sched = replace(default_schedule(run_pipeline(def_), "cpu", sz), flash_blocks=blocks)
        prog = to_loops(def_, "cpu", sz, sched)
        assert _has_flash(prog)
        o = np.zeros_like(ref)
        run_loops(prog, {"q": q, "k": k, "v": v, "scale": np.float32(0.25), "o": o}, sz)
        np.testing.assert_allclose(o, ref, rtol=2e-5, atol=2e-6)


def test_loops_default_backend_and_empty_rows():
    rng = np.random.default_rng(2)
    sz = SIZES[2]
    q, k, v = attention_inputs(sz, rng)
    ref = tensorc.compile(SRC, backend="interp")
    got = tensorc.compile(SRC, backend="loops")
    for name in ("causal", "full", "strict", "band"):
        r = np.asarray(getattr(ref, name)(q, k, v, np.float32(0.5)))
        g = np.asarray(getattr(got, name)(q, k, v, np.float32(0.5)))
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-6)
    out = np.asarray(got.strict(q, k, v, np.float32(0.5)))
    assert np.all(out[:, :, 0, :] == 0)  # row i = 0 sees no j < 0: the empty sum


def test_large_scores_stay_finite():
    rng = np.random.default_rng(3)
    sz = {"B": 1, "H": 1, "N": 20, "M": 20, "D": 16, "E": 8}
    q, k, v = attention_inputs(sz, rng, amp=1e3)  # scores of order +-1e4
    ref = tensorc.compile(SRC, backend="interp").causal(q, k, v, np.float32(1.0))
    got = tensorc.compile(SRC, backend="loops").causal(q, k, v, np.float32(1.0))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_broadcast_operands_and_no_scale():
    rng = np.random.default_rng(4)
    q = rng.standard_normal((2, 9, 16)).astype(np.float32)
    k = rng.standard_normal((11, 16)).astype(np.float32)
    v = rng.standard_normal((11, 5)).astype(np.float32)
    assert _has_flash(
        to_loops(DEFS["shared_kv"], "cpu", {"H": 2, "N": 9, "M": 11, "D": 16, "E": 5})
    )
    ref = tensorc.compile(SRC, backend="interp").shared_kv(q, k, v)
    got = tensorc.compile(SRC, backend="loops").shared_kv(q, k, v)
    np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-6)
