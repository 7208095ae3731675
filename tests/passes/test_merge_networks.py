"""One plan per mathematics: networks written in steps are planned whole, and a Gemm temp that
feeds a Gemm is stored (issue 11, items 1-2)."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.tensor_ir import Access, Reduce
from tensorc.ir.tir_utils import walk
from tensorc.passes import run_pipeline
from tensorc.passes.inline_temps import inline_temps, not_inlined
from tensorc.passes.merge_networks import merge_networks, product_factors

SOURCE = """
def tucker_one(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G) {
    G(a,b,c) = T(i,j,k) * U1(i,a) * U2(j,b) * U3(k,c)
}
def tucker_steps(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G) {
    t1(a,j,k) = sum(i: T(i,j,k) * U1(i,a))
    t2(a,b,k) = sum(j: t1(a,j,k) * U2(j,b))
    G(a,b,c) = sum(k: t2(a,b,k) * U3(k,c))
}
def tucker_nested(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G) {
    G(a,b,c) = sum(k: sum(j: sum(i: T(i,j,k) * U1(i,a)) * U2(j,b)) * U3(k,c))
}
def mps_pairs(float(P,X) A1, float(X,P,X) A2, float(X,P) A3,
              float(P,Y) B1, float(Y,P,Y) B2, float(Y,P) B3) -> (z) {
    E1(a,e) = sum(p: A1(p,a) * B1(p,e))
    F1(e,q,b) = sum(a: E1(a,e) * A2(a,q,b))
    E2(b,f) = sum(e,q: F1(e,q,b) * B2(e,q,f))
    z() = sum(b,f,r: E2(b,f) * A3(b,r) * B3(f,r))
}
def linatt_A(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    A(i,j) = sum(d: q(i,d) * k(j,d))
    o(i,e) = sum(j: A(i,j) * v(j,e)) / sum(j: A(i,j))
}
def capture(float(R,K) X, float(K) Y, float(N,R) Z, float(K) W) -> (o) {
    t(a) = sum(k: X(a,k) * Y(k))
    o(i) = sum(a, k: t(a) * Z(i,a) * W(k))
}
def mlp(float(B,K) x, float(K,H) W1, float(H) b1, float(H,O) W2, float(O) b2) -> (y) {
    h(b,j) = relu(sum(k: x(b,k) * W1(k,j)) + b1(j))
    y(b,o) = sum(j: h(b,j) * W2(j,o)) + b2(o)
}
def gemm_ba(float(M,K) A, float(K,N) B) -> (C) {
    C(m,n) = sum(k: B(k,n) * A(m,k))
}
def nonlinear_nested(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    o(i,e) = sum(j: exp(sum(d: q(i,d) * k(j,d))) * v(j,e))
}
"""
PROGRAM = parse_program(SOURCE)
SMALL = {"I": 3, "J": 4, "K": 5, "R": 2, "S": 3, "P": 2, "X": 3, "Y": 2, "N": 5, "M": 6,
         "D": 3, "E": 2, "B": 4, "H": 5, "O": 3}  # fmt: skip
BIG = SMALL | {"B": 4, "K": 32, "H": 24, "O": 20}  # the MLP's h keeps its Gemm


def _networks(def_):
    """(statement count, operand counts of the network sums) after the pipeline."""
    return [
        sum(isinstance(f, Access) and bool(f.indices) for f in product_factors(r.body))
        for st in def_.body
        for r in walk(st.rhs)
        if isinstance(r, Reduce)
    ]


@pytest.mark.parametrize("name", ["tucker_steps", "tucker_nested"])
def test_tucker_spellings_become_one_network(name):
    after = run_pipeline(PROGRAM.get(name))
    assert len(after.body) == 1 and after.temps == ()
    assert _networks(after) == [4] == _networks(run_pipeline(PROGRAM.get("tucker_one")))


def test_mps_pairwise_environments_become_one_network():
    after = run_pipeline(PROGRAM.get("mps_pairs"))
    assert len(after.body) == 1 and _networks(after) == [6]


def test_linear_attention_through_A_is_reassociated():
    """A(i,j) is inlined and merged; presum_factors then sums k over j for the normaliser, and
    the numerator is a 3-operand network the planner orders as q (k^T v)."""
    after = run_pipeline(PROGRAM.get("linatt_A"))
    assert "A" not in {t.name for t in after.temps}
    assert sorted(_networks(after)) == [1, 2, 3]


def test_merge_renames_a_captured_index():
    inlined = inline_temps(PROGRAM.get("capture"))
    merged = merge_networks(inlined)
    (r,) = [x for x in walk(merged.body[-1].rhs) if isinstance(x, Reduce)]
    assert len({g.index for g in r.ranges}) == 3  # a, k and the inner k under a new name
    assert merge_networks(merged) == merged


def test_nonlinear_factor_is_not_merged():
    def_ = PROGRAM.get("nonlinear_nested")
    assert merge_networks(def_) == def_


def test_mlp_hidden_layer_keeps_its_gemm_at_big_sizes():
    def_ = PROGRAM.get("mlp")
    kept = run_pipeline(def_, BIG)
    assert [t.name for t in kept.temps] == ["h"]
    assert "is an operand of a Gemm" in not_inlined(kept, BIG)[0]
    small = run_pipeline(def_, SMALL)  # K = 5, O = 3: the fused loop nest is cheaper
    assert small.temps == ()


def test_gemm_factor_order_does_not_change_the_gemm():
    from tensorc.ir import loop_ir as L
    from tensorc.pipeline import to_loops

    prog = to_loops(PROGRAM.get("gemm_ba"), "cpu", {"M": 64, "N": 64, "K": 64})
    (g,) = [s for k in prog.kernels for s in k.body if isinstance(s, L.Gemm)]
    assert g.a.buffer == "A" and g.b.buffer == "B"  # C is written along its rows, not transposed


def _args(fn, sizes, rng):
    out = []
    for decl in fn.def_.inputs:
        shape = tuple(sizes[str(d)] for d in decl.shape)
        out.append(rng.standard_normal(shape).astype(np.float32) + 0.5)
    return out


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize("sizes", [SMALL, BIG], ids=["small", "big"])
def test_spellings_match_the_interpreter(backend, sizes):
    require_backend(backend)
    got_mod = tensorc.compile(SOURCE, backend=backend)
    ref_mod = tensorc.compile(SOURCE, backend="interp")
    for fn in got_mod:
        args = _args(fn, sizes, np.random.default_rng(1))
        want = ref_mod[fn.__name__](*args)
        got = fn(*args)
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-3, err_msg=fn.__name__)
