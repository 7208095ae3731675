"""Score terms on the flash path (issue 11, item 3): ALiBi, a bias tensor, soft-capping and a
temperature stay in the blocked online-softmax kernel (tensorc/schedule/attention.py)."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.loop_printer import format_program
from tensorc.pipeline import to_loops

HEAD = ("(float(B,H,N,D) q, float(B,H,N,D) k, float(B,H,N,E) v, float scale, float(H) slope, "
        "float(H,N,N) bias) -> (o)")  # fmt: skip
DOT = "sum(d: q(b,h,i,d) * k(b,h,j,d))"
SCORES = {
    "alibi_causal": (f"{DOT} * scale - slope(h) * float32(i - j)", "where j <= i"),
    "alibi_window": (f"{DOT} * scale - slope(h) * float32(abs(i - j))", "where abs(i - j) <= 3"),
    "bias_tensor": (f"{DOT} * scale + bias(h,i,j)", ""),
    "softcap": (f"5.0 * tanh({DOT} * scale / 5.0)", "where j <= i"),
    "temperature": (f"{DOT} / (slope(h) + 1.0)", ""),
}
SOURCE = "\n".join(
    f"def {name}{HEAD} {{\n"
    f"    s(b,h,i,j) = {score}\n"
    f"    o(b,h,i,e) = sum(j: softmax(j: s(b,h,i,j)) * v(b,h,j,e))  {mask}\n}}"
    for name, (score, mask) in SCORES.items()
)
DEFS = {d.name: d for d in parse_program(SOURCE).defs}
SIZES = [
    {"B": 1, "H": 2, "N": 7, "D": 16, "E": 8},
    {"B": 2, "H": 1, "N": 130, "D": 16, "E": 8},
]


@pytest.mark.parametrize("name", sorted(SCORES))
def test_score_term_is_on_the_flash_path(name):
    text = format_program(to_loops(DEFS[name], "cpu", SIZES[1]))
    assert "local S" in text and text.count("gemm") == 2, name


def test_score_reading_e_is_not_a_score_term():
    src = f"""def bad{HEAD} {{
        o(b,h,i,e) = sum(j: softmax(j: {DOT} + v(b,h,i,e)) * v(b,h,j,e))
    }}"""
    text = format_program(to_loops(parse_program(src).get("bad"), "cpu", SIZES[1]))
    assert "local S" not in text


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: f"N{s['N']}")
def test_score_terms_match_the_interpreter(backend, sizes):
    require_backend(backend)
    got_mod, ref_mod = tensorc.compile(SOURCE, backend=backend), tensorc.compile(SOURCE, "interp")
    rng = np.random.default_rng(5)
    b, h, n, d, e = (sizes[x] for x in "BHNDE")
    args = [
        rng.standard_normal(s).astype(np.float32)
        for s in ((b, h, n, d), (b, h, n, d), (b, h, n, e))
    ]
    args += [
        0.25,
        rng.random(h).astype(np.float32),
        rng.standard_normal((h, n, n)).astype(np.float32),
    ]
    for name in SCORES:
        want = ref_mod[name](*args)
        np.testing.assert_allclose(got_mod[name](*args), want, rtol=2e-4, atol=2e-5, err_msg=name)
