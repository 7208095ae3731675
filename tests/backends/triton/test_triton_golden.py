"""Golden Triton source for a few kernels (render is pure: no triton, no GPU).

Rewrite the files with `TENSORC_ACCEPT_GOLDEN=1 pytest tests/backends/triton/test_triton_golden.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tensorc.backends.triton.program import render_program
from test_triton_workloads import _attention_prog, _gemm, _matmul_buffers, argmin_prog, w1_prog
from triton_loops import V

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "triton"

PROGRAMS = {
    "gauss_ksum": w1_prog,  # 2-D tile path
    "gauss_ksum_generic": (w1_prog, {"fast_paths": False}),
    "nn_argmin": argmin_prog,
    "attention_causal": lambda: _attention_prog(4),  # flash template
    "gemm": lambda: _matmul_buffers().program(_gemm(V("M"), V("N"), V("K"))),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_golden_source(name):
    make, config = PROGRAMS[name] if isinstance(PROGRAMS[name], tuple) else (PROGRAMS[name], None)
    src = render_program(make(), config)
    assert src == render_program(make(), config), "render is not deterministic"
    path = GOLDEN / f"{name}.py.txt"
    if os.environ.get("TENSORC_ACCEPT_GOLDEN") == "1" or not path.exists():
        if os.environ.get("TENSORC_ACCEPT_GOLDEN") != "1":
            pytest.fail(f"missing golden file {path}; run with TENSORC_ACCEPT_GOLDEN=1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(src)
    assert src == path.read_text(), f"{path} differs; TENSORC_ACCEPT_GOLDEN=1 to accept"
