"""Blocked flash attention on the cpu backend vs the TensorIR interpreter (odd sizes, masks,
block sizes, thread counts, large scores, Gemms on `Local` operands)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from support import attention_inputs, attention_source
from tensorc.backends.llvm.backend import BACKEND

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.loop_printer import format_program
from tensorc.passes import run_pipeline, to_loops
from tensorc.schedule import default_schedule

SRC = attention_source(band_width=40)

REF = tensorc.compile(SRC, backend="interp")
CPU = tensorc.compile(SRC, backend="cpu")
DEFS = {d.name: d for d in parse_program(SRC, "<test>").defs}
SIZES = [
    {"B": 1, "H": 1, "N": 1, "M": 1, "D": 16, "E": 16},
    {"B": 1, "H": 2, "N": 7, "M": 7, "D": 64, "E": 64},
    {"B": 2, "H": 3, "N": 33, "M": 33, "D": 16, "E": 24},
    {"B": 1, "H": 2, "N": 100, "M": 100, "D": 64, "E": 64},
    {"B": 1, "H": 2, "N": 100, "M": 37, "D": 64, "E": 48},
    {"B": 1, "H": 1, "N": 45, "M": 300, "D": 16, "E": 16},
]


def _inputs(sz, seed, amp=1.0):
    return attention_inputs(sz, np.random.default_rng(seed), amp)


@pytest.mark.parametrize("name", ["causal", "full", "strict", "band"])
@pytest.mark.parametrize("n", range(len(SIZES)))
def test_cpu_matches_interpreter(name, n):
    sz = SIZES[n]
    q, k, v = _inputs(sz, n)
    scale = np.float32(sz["D"] ** -0.5)
    ref = np.asarray(getattr(REF, name)(q, k, v, scale))
    got = np.asarray(getattr(CPU, name)(q, k, v, scale))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-6)
    if name == "strict":
        assert np.all(got[:, :, 0, :] == 0)  # a fully masked row is the empty sum


@pytest.mark.parametrize("blocks", [(6, 16), (7, 5), (64, 64), (200, 256)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocks_and_threads(blocks, threads):
    sz = {"B": 1, "H": 2, "N": 70, "M": 90, "D": 16, "E": 20}
    q, k, v = _inputs(sz, 7)
    for name in ("causal", "full", "band"):
        def_ = DEFS[name]
        sched = replace(default_schedule(run_pipeline(def_), "cpu", sz), flash_blocks=blocks)
        prog = to_loops(def_, "cpu", sz, sched)
        assert "local S" in format_program(prog)
        exe = BACKEND.compile(prog, {"threads": threads})
        o = np.full((1, 2, 70, 20), np.nan, np.float32)
        exe({"q": q, "k": k, "v": v, "scale": np.float32(0.3), "o": o}, sz)
        ref = np.asarray(getattr(REF, name)(q, k, v, np.float32(0.3)))
        np.testing.assert_allclose(o, ref, rtol=1e-4, atol=2e-6)


def test_large_scores_stay_finite():
    sz = {"B": 1, "H": 2, "N": 50, "M": 50, "D": 64, "E": 16}
    q, k, v = _inputs(sz, 11, amp=2e2)  # scores of order +-1e4
    for name in ("causal", "full"):
        ref = np.asarray(getattr(REF, name)(q, k, v, np.float32(1.0)))
        got = np.asarray(getattr(CPU, name)(q, k, v, np.float32(1.0)))
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_float64_and_float16_storage():
    sz = {"B": 1, "H": 1, "N": 20, "M": 20, "D": 16, "E": 8}
    q, k, v = _inputs(sz, 13)
    for dt, tol in ((np.float64, 1e-10), (np.float16, 2e-3)):
        src = SRC.replace("float(", "double(" if dt == np.float64 else "half(")
        src = src.replace("float scale", "double scale" if dt == np.float64 else "half scale")
        try:
            ref_mod, cpu_mod = tensorc.compile(src, "interp"), tensorc.compile(src, "cpu")
        except tensorc.TensorcError:
            pytest.skip("dtype keyword not supported by the front end")
        a = [x.astype(dt) for x in (q, k, v)]
        ref = np.asarray(ref_mod.causal(*a, dt(0.25)), dtype=np.float64)
        got = np.asarray(cpu_mod.causal(*a, dt(0.25)), dtype=np.float64)
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
