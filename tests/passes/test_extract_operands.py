"""extract_operands and the Gemm price (tensorc/passes/costs.py): an operand of a big Gemm that a
spelling computes inline becomes a stored temp; small or non-Gemm ones stay fused (issue 11)."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir import loop_ir as L
from tensorc.passes import run_pipeline
from tensorc.passes.extract_operands import extract_operands
from tensorc.pipeline import to_loops

SOURCE = """
def mlp_one_statement(float(B,K) x, float(K,H) W1, float(H) b1, float(H,O) W2, float(O) b2) -> (y) {
    y(b,o) = sum(j: relu(sum(k: x(b,k) * W1(k,j)) + b1(j)) * W2(j,o)) + b2(o)
}
def mlp_preact_temp(float(B,K) x, float(K,H) W1, float(H) b1, float(H,O) W2, float(O) b2) -> (y) {
    a(b,j) = sum(k: x(b,k) * W1(k,j)) + b1(j)
    y(b,o) = sum(j: relu(a(b,j)) * W2(j,o)) + b2(o)
}
def linear_relu_inline(float(N,D) q, float(N,D) k, float(N,E) v) -> (o) {
    o(i,e) = sum(j: sum(d: relu(q(i,d)) * relu(k(j,d))) * v(j,e))
}
def ksum(float(N,D) x, float(N,D) y, float(N,E) w) -> (o) {
    o(i,e) = sum(j: exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) * w(j,e))
}
"""
PROGRAM = parse_program(SOURCE)
BIG = {"B": 8, "K": 32, "H": 24, "O": 20, "N": 24, "D": 16, "E": 16}
SMALL = {"B": 3, "K": 4, "H": 5, "O": 2, "N": 6, "D": 3, "E": 1}


def _gemms(name: str, sizes: dict) -> int:
    prog = to_loops(PROGRAM.get(name), "cpu", sizes)
    return sum(isinstance(s, L.Gemm) for k in prog.kernels for s in _walk(k.body))


def _walk(stmts):
    for s in stmts:
        yield s
        yield from _walk(getattr(s, "body", ()))


@pytest.mark.parametrize("name", ["mlp_one_statement", "mlp_preact_temp"])
def test_mlp_spellings_get_two_gemms(name):
    assert _gemms(name, BIG) == 2
    assert len(run_pipeline(PROGRAM.get(name), BIG).body) == 2


def test_inline_feature_maps_become_a_planned_network():
    after = run_pipeline(PROGRAM.get("linear_relu_inline"), BIG)
    assert [t.name for t in after.temps] == ["o_op", "o_op1"]
    assert _gemms("linear_relu_inline", BIG) == 2  # k^T v first, then q times it


def test_small_or_non_gemm_operands_stay_fused():
    assert extract_operands(PROGRAM.get("ksum"), BIG) == PROGRAM.get("ksum")
    assert extract_operands(PROGRAM.get("mlp_one_statement"), SMALL) == PROGRAM.get(
        "mlp_one_statement"
    )
    assert extract_operands(PROGRAM.get("mlp_one_statement")) == PROGRAM.get("mlp_one_statement")


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize("sizes", [SMALL, BIG], ids=["small", "big"])
def test_matches_the_interpreter(backend, sizes):
    require_backend(backend)
    got_mod, ref_mod = tensorc.compile(SOURCE, backend=backend), tensorc.compile(SOURCE, "interp")
    rng = np.random.default_rng(2)
    for fn in got_mod:
        args = [rng.standard_normal(tuple(sizes[str(d)] for d in p.shape)).astype(np.float32)
                for p in fn.def_.inputs]  # fmt: skip
        want = ref_mod[fn.__name__](*args)
        np.testing.assert_allclose(fn(*args), want, rtol=2e-4, atol=2e-3, err_msg=fn.__name__)
