"""Workloads from .tc source through the whole pipeline (front end -> to_loops(target="gpu") ->
Triton backend under TRITON_INTERPRET=1), compared with the reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

tensorc = pytest.importorskip("tensorc")
if not hasattr(tensorc, "compile"):
    pytest.skip("tensorc.compile is not available yet", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def f32(*shape):
    return lambda r: r.standard_normal(shape).astype(np.float32)


CASES = {
    "gauss_ksum": (
        "def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out)"
        " { out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) /"
        " (2 * sigma * sigma)) * b(j,e) }",
        [f32(7, 3), f32(9, 3), f32(9, 2), lambda r: 0.8],
    ),
    "nn": (
        "def nn(float(N,D) x, float(M,D) y) -> (idx) {"
        " idx(i) = argmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) }",
        [f32(33, 3), f32(9, 3)],
    ),
    "softmin": (
        "def softmin(float(N,D) x, float(M,D) y, float(M) g, float eps) -> (f) {"
        " f(i) = -eps * logsumexp(j: (g(j) - sum(d: (x(i,d) - y(j,d)) *"
        " (x(i,d) - y(j,d)))) / eps) }",
        [f32(7, 3), f32(9, 3), f32(9), lambda r: 0.5],
    ),
    "attention": (
        """def attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v,
                                   float scale) -> (o) {
        s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
        o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
    }""",
        [f32(1, 2, 7, 4), f32(1, 2, 7, 4), f32(1, 2, 7, 3), lambda r: 0.5],
    ),
    "gram": ("def gram(float(N,D) x) -> (g) { g(i,j) = x(i,d) * x(j,d) }", [f32(33, 5)]),
    "matmul": (
        "def matmul(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, k) * B(k, n) }",
        [f32(33, 17), f32(17, 9)],
    ),
    "rbf_gram": (
        "def rbf_gram(float(N,D) x, float gamma) -> (k) { k(i,j) = exp(-gamma *"
        " sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d)))) }",
        [f32(7, 3), lambda r: 0.3],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_workload_matches_interpreter(name):
    src, makers = CASES[name]
    rng = np.random.default_rng(0)
    args = [m(rng) for m in makers]
    ref = getattr(tensorc.compile(src, backend="interp"), name)(*args)
    out = getattr(tensorc.compile(src, backend="triton"), name)(*args)
    np.testing.assert_allclose(
        np.asarray(out, np.float64), np.asarray(ref, np.float64), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    "eq, shapes", [("aa", [(3, 3)]), ("ij,jk->ik", [(3, 4), (4, 2)]), ("i->", [(5,)])]
)
def test_bool_einsum_sums_are_or(eq, shapes):
    """numpy: a sum of bools is `or`, a product `and` (int1 `+` wrapped True + True to False)."""
    ops = [np.ones(s, bool) for s in shapes]  # every sum has several True terms
    ops[0].flat[0] = False
    np.testing.assert_array_equal(tensorc.einsum(eq, *ops, backend="triton"), np.einsum(eq, *ops))
