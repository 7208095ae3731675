"""distribute_sums: a sum of plain tensor products over a difference with one side outside the
sum splits into a row sum and a contraction (the RBF Gram gradient); nonlinear factors keep the
sum whole (W1's gradient), and so does a difference with both sides inside."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.printer import print_def
from tensorc.ir.tensor_ir import Reduce
from tensorc.ir.tir_utils import walk
from tensorc.passes.distribute_sums import distribute_sums, expand_squares

SOURCE = """
def split(float(N,M) w, float(N,M) k, float(N,D) x, float(M,D) y) -> (o) {
    o(i,d) = sum(j: w(i,j) * k(i,j) * (x(i,d) - y(j,d)))
}
def transposed(float(M,N) w, float(N,D) x, float(M,D) y) -> (o) {
    o(i,d) = sum(j: w(j,i) * (y(j,d) + x(i,d)))
}
def nonlinear(float(N,M) w, float(N,D) x, float(M,D) y) -> (o) {
    o(i,d) = sum(j: exp(w(i,j)) * (x(i,d) - y(j,d)))
}
def both_inside(float(N,M) w, float(M,D) x, float(M,D) y) -> (o) {
    o(i,d) = sum(j: w(i,j) * (x(j,d) - y(j,d)))
}
def square(float(N,M) w, float(N,D) x, float(M,D) y) -> (o) {
    o = sum(i, j: w(i,j) * sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))
}
"""
DEFS = {d.name: d for d in parse_program(SOURCE).defs}


def _sums(d) -> int:
    return sum(isinstance(x, Reduce) for st in d.body for x in walk(st.rhs))


@pytest.mark.parametrize("name, sums", [("split", 2), ("transposed", 2), ("nonlinear", 1),
                                        ("both_inside", 1), ("square", 2)])  # fmt: skip
def test_which_sums_split(name, sums):
    assert _sums(distribute_sums(DEFS[name])) == sums


def test_expand_squares_nests_the_cross_term():
    """Three sums of W times |x_i|^2, |y_j|^2 and the cross term x_i . (W y)_i, nested so that
    share_sums can find W y where other statements read it."""
    d = expand_squares(DEFS["square"])
    assert _sums(d) == 6
    text = print_def(d)
    assert "sum(i, d: x(i, d) * sum(j: w(i, j) * y(j, d)))" in text, text


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_split_sums_match_numpy(backend):
    require_backend(backend)
    rng = np.random.default_rng(4)
    n, m, d = 37, 53, 19
    w, k = rng.random((n, m), dtype=np.float32), rng.random((n, m), dtype=np.float32)
    x, y = rng.random((n, d), dtype=np.float32), rng.random((m, d), dtype=np.float32)
    mod = tensorc.compile(SOURCE, backend=backend)
    want = (w * k).sum(1)[:, None] * x - (w * k) @ y
    np.testing.assert_allclose(mod.split(w, k, x, y), want, rtol=1e-4, atol=1e-5)
    wt = rng.random((m, n), dtype=np.float32)
    want = wt.T @ y + wt.sum(0)[:, None] * x
    np.testing.assert_allclose(mod.transposed(wt, x, y), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_expanded_square_matches_numpy(backend):
    """sum(i,j: W |x_i - y_j|^2) = sum W |x_i|^2 + sum W |y_j|^2 - 2 sum W x_i.y_j: row and
    column sums and one Gemm instead of N M D streamed terms (the RBF gradient's d_gamma)."""
    require_backend(backend)
    rng = np.random.default_rng(5)
    w = rng.random((41, 29), dtype=np.float32)
    x, y = rng.random((41, 7), dtype=np.float32), rng.random((29, 7), dtype=np.float32)
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    got = tensorc.compile(SOURCE, backend=backend).square(w, x, y)
    np.testing.assert_allclose(got, (w * d2).sum(), rtol=1e-4)
