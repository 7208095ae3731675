"""The public API contract (LANGUAGE.md §6): modules, argument checks, array types, jit, einsum."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.errors import ArgumentError, BackendError, TensorcError

MATMUL = """
def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, k) * B(k, n)
}
def two(float(N) x) -> (s, d) {
    s(i) = x(i) + 1
    d(i) = x(i) * 2
}
def total(float(N) x) -> (t) {
    t = x(i)
}
"""
BACKENDS = ["interp", "loops", "cpu"]
rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_module_contract(backend):
    mod = tensorc.compile(MATMUL, backend=backend)
    a, b = f32(5, 7), f32(7, 3)
    a0, b0 = a.copy(), b.copy()
    c = mod.matmul(a, b)
    assert isinstance(c, np.ndarray) and c.dtype == np.float32 and c.shape == (5, 3)
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a, a0)  # inputs never modified
    np.testing.assert_array_equal(b, b0)
    s, d = mod.two(np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(s, np.arange(4) + 1)
    np.testing.assert_array_equal(d, np.arange(4) * 2)
    t = mod.total(np.arange(5, dtype=np.float32))
    assert t.shape == () and float(t) == 10.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_in_torch_out(backend):
    torch = pytest.importorskip("torch")
    mod = tensorc.compile(MATMUL, backend=backend)
    a, b = torch.randn(4, 6), torch.randn(6, 2)
    c = mod.matmul(a, b)
    assert isinstance(c, torch.Tensor) and c.dtype == torch.float32
    torch.testing.assert_close(c, a @ b, rtol=1e-5, atol=1e-5)


def test_argument_errors():
    mod = tensorc.compile(MATMUL, backend="interp")
    with pytest.raises(ArgumentError, match=r"takes 2 argument\(s\).*got 1"):
        mod.matmul(f32(2, 2))
    with pytest.raises(ArgumentError, match=r"'A'.*rank 2.*rank 1"):
        mod.matmul(f32(3), f32(3, 3))
    with pytest.raises(ArgumentError, match=r"size K.*'A'.*K = 3.*'B'.*K = 4"):
        mod.matmul(f32(2, 3), f32(4, 5))
    with pytest.raises(ArgumentError, match=r"'A'.*expected dtype float32, got float64"):
        mod.matmul(np.zeros((2, 2)), f32(2, 2))
    with pytest.raises(ArgumentError, match=r"unsupported dtype complex128"):
        mod.matmul(np.zeros((2, 2), np.complex128), f32(2, 2))
    with pytest.raises(ArgumentError, match=r"'A'.*type str"):
        mod.matmul("A", f32(2, 2))
    assert issubclass(ArgumentError, TensorcError)


def test_unknown_backend_lists_choices():
    with pytest.raises(BackendError, match=r"(?s)unknown backend .nope.*cpu.*triton.*interp"):
        tensorc.compile(MATMUL, backend="nope")


@pytest.mark.parametrize("backend", BACKENDS)
def test_jit_docstring(backend):
    @tensorc.jit(backend=backend)
    def rbf(x, gamma):
        "k(i, j) = exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))"

    x = f32(9, 3)
    k = rbf(x, 0.5)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(k, np.exp(-0.5 * d2), rtol=1e-5, atol=1e-6)
    assert k.dtype == np.float32


def test_jit_temporaries_and_named_outputs():
    @tensorc.jit(outputs=("mx", "o"), backend="interp")
    def softmax_rows(x):
        """
        mx(n) max=! x(n, d)
        e(n, d) = exp(x(n, d) - mx(n))
        o(n, d) = e(n, d) / sum(k: e(n, k))
        """

    x = f32(4, 6)
    mx, o = softmax_rows(x)
    np.testing.assert_allclose(mx, x.max(1), rtol=1e-6)
    ref = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(o, ref / ref.sum(1, keepdims=True), rtol=1e-5)


def test_jit_size_mismatch_intersects_with_a_warning():
    """Different sizes meeting at one index follow TC's rule (LANGUAGE.md 5): the index ranges
    over their intersection, and a TensorcWarning names both extents."""
    @tensorc.jit(backend="interp")
    def inner(a, b):
        "s = a(i) * b(i)"

    assert float(inner(f32(5), f32(5))) == pytest.approx(0, abs=100)
    a, b = f32(5), f32(6)
    with pytest.warns(tensorc.TensorcWarning, match="index 'i'"):
        got = inner(a, b)
    assert float(got) == pytest.approx(float(a @ b[:5]), rel=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_einsum_matches_numpy(backend):
    a, b, c = f32(2, 3, 4), f32(4, 5), f32(2, 5, 6)
    got = tensorc.einsum("bij,jk,bkl->bil", a, b, c, backend=backend)
    np.testing.assert_allclose(got, np.einsum("bij,jk,bkl->bil", a, b, c), rtol=1e-4, atol=1e-5)
    m = f32(5, 5)
    np.testing.assert_allclose(tensorc.einsum("ii", m, backend=backend), np.trace(m), rtol=1e-5)
    np.testing.assert_allclose(tensorc.einsum("...ij->...ji", a, backend=backend),
                               np.swapaxes(a, -1, -2))


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_repeated_calls_rebind_and_recheck(backend):
    """Sizes and launch plans are remembered per shapes: other shapes still bind afresh, and
    every call is checked again (a bad call after good ones with the same shapes still fails)."""
    mod = tensorc.compile(MATMUL, backend=backend)
    for m, k, n in [(5, 7, 3), (1, 1, 1), (5, 7, 3), (13, 2, 17), (1, 1, 1)]:
        a, b = f32(m, k), f32(k, n)
        np.testing.assert_allclose(mod.matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)
        with pytest.raises(ArgumentError, match=r"size K"):
            mod.matmul(a, f32(k + 1, n))
        with pytest.raises(ArgumentError, match=r"expected dtype float32"):
            mod.matmul(a.astype(np.float64), b)
    assert mod.matmul(f32(0, 4), f32(4, 2)).shape == (0, 2)


def test_explain_stays_callable():
    """`tensorc.explain` is the function, also after its module `tensorc.explain` was imported."""
    import tensorc.explain

    for _ in range(2):
        assert "kernel" in tensorc.explain(MATMUL, "matmul")


def test_concurrent_calls_from_threads():
    """One Function called from several threads at once, with two sets of shapes: every call gets
    its own outputs and temps (W9's Tucker core has temps), and each result is right."""
    from concurrent.futures import ThreadPoolExecutor

    src = """
    def tucker_core(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G) {
        G(a,b,c) = T(i,j,k) * U1(i,a) * U2(j,b) * U3(k,c)
    }
    """
    fn = tensorc.compile(src, backend="cpu").tucker_core
    calls = []
    for i, r in [(9, 2), (5, 3)] * 4:
        args = [f32(i, i + 1, i + 2), f32(i, r), f32(i + 1, r + 1), f32(i + 2, r + 2)]
        calls.append((args, np.einsum("ijk,ia,jb,kc->abc", *args)))
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda c: fn(*c[0]), calls * 3))
    for out, (_, want) in zip(got, calls * 3):
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
