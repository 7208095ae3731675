"""The gradient defs render for the triton backend and run under TRITON_INTERPRET=1 (small
shapes; conftest sets the variable when there is no GPU)."""

from __future__ import annotations

import pathlib

import pytest

import tensorc
from tests.grad.harness import fd_check, float64_source

pytest.importorskip("triton")
ROOT = pathlib.Path(__file__).resolve().parents[2]

CASES = [
    ("w01_gauss_ksum", "gauss_ksum"),
    ("w03_softmin", "softmin"),
    ("w04_attention", "attention_full"),
    ("w04_attention", "attention"),  # causal: a mask over loop variables (int8 round trip)
    ("w07_gram", "rbf_gram"),
    ("w10_tc_classics", "fcrelu"),
    ("w10_tc_classics", "gather"),
    ("w10_tc_classics", "softmax"),
    ("w10_tc_classics", "maxpool"),  # the transposed strided window: uniform & per-lane bools
]


@pytest.mark.parametrize("file,name", CASES)
def test_gradient_on_triton(file, name):
    if not tensorc.backends.get_backend("triton").available():
        pytest.skip("triton backend unavailable (no CUDA and TRITON_INTERPRET unset)")
    src = float64_source((ROOT / "examples" / f"{file}.tc").read_text())
    # the triton backend runs float64 contractions through fp32 dots (about 1e-7 relative)
    fd_check(src, name, "triton", positive=True, rtol=2e-3, atol=2e-6)
