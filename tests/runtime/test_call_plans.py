"""Call plans: what a call decides from its arguments' signature (dtypes, shapes, strides, types,
integer size scalars) is decided once and reused; any argument that differs in one of those takes
the fully checked path again, so a warm function still rejects bad calls and converts odd arrays."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.errors import ArgumentError

SRC = """
def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, k) * B(k, n)
}
def band(float(N) x, int32 W) -> (y) {
    y(i) = x(j) where i in 0:N, abs(i - j) <= W
}
def scaled(float(N) x, float s) -> (y) {
    y(i) = x(i) * s
}
"""
rng = np.random.default_rng(1)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(params=["interp", "loops", "cpu"])
def mod(request):
    return tensorc.compile(SRC, backend=request.param)


def test_warm_function_still_checks_every_argument(mod):
    a, b = f32(5, 7), f32(7, 3)
    mod.matmul(a, b)  # the plan for this signature now exists
    with pytest.raises(ArgumentError, match=r"argument 'A': expected dtype float32, got float64"):
        mod.matmul(a.astype(np.float64), b)
    with pytest.raises(ArgumentError, match=r"argument 'B': expected rank 2 .* got rank 3"):
        mod.matmul(a, b[None])
    with pytest.raises(ArgumentError, match=r"size K .* 'A' dimension 1 gives K = 7.* 'B'"):
        mod.matmul(a, f32(6, 3))
    with pytest.raises(ArgumentError, match=r"takes 2 argument"):
        mod.matmul(a, b, b)
    with pytest.raises(ArgumentError, match=r"argument 'B': expected float32\(K, N\) B, got"):
        mod.matmul(a, [[1.0]])
    mod.band(f32(3), 1)
    with pytest.raises(ArgumentError, match=r"argument 'W': expected a int32 scalar, got float"):
        mod.band(f32(3), 1.5)
    with pytest.raises(ArgumentError, match=r"argument 's': expected float32 s, got .* str"):
        mod.scaled(f32(3), "2")
    np.testing.assert_allclose(mod.matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)


def test_same_shapes_other_layouts_are_converted(mod):
    """Strides and byte order are part of the signature: a transposed view or a big-endian array
    after a contiguous one is copied into a contiguous native buffer, not read as it is."""
    a, b = f32(4, 6), f32(6, 3)
    want = a @ b
    np.testing.assert_allclose(mod.matmul(a, b), want, rtol=1e-5, atol=1e-5)
    at = np.ascontiguousarray(a.T).T  # same shape, Fortran order
    np.testing.assert_allclose(mod.matmul(at, b), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mod.matmul(a, b.astype(">f4")), want, rtol=1e-5, atol=1e-5)
    wide = f32(4, 12)
    wide[:, ::2] = a
    np.testing.assert_allclose(mod.matmul(wide[:, ::2], b), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mod.matmul(a, b), want, rtol=1e-5, atol=1e-5)


def test_integer_scalar_sizes_rebind_per_value(mod):
    x = f32(9)
    for w in (0, 2, 0, 20, 2, np.int32(3)):
        want = [x[max(0, i - w): i + w + 1].sum() for i in range(9)]
        np.testing.assert_allclose(mod.band(x, w), want, rtol=1e-5, atol=1e-5)


def test_float_scalars_are_read_per_call(mod):
    x = f32(5)
    for s in (2.0, -1.5, 3, np.float32(0.5), True):
        np.testing.assert_allclose(mod.scaled(x, s), x * np.float32(s), rtol=1e-6)


def test_torch_and_numpy_with_the_same_shapes(mod):
    torch = pytest.importorskip("torch")
    a, b = f32(3, 4), f32(4, 2)
    for _ in range(2):
        got = mod.matmul(torch.from_numpy(a), torch.from_numpy(b))
        assert isinstance(got, torch.Tensor)
        np.testing.assert_allclose(got.numpy(), a @ b, rtol=1e-5, atol=1e-5)
        got = mod.matmul(a, b)
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)
    ta = torch.from_numpy(a).t().contiguous().t()  # non-contiguous, same shape
    np.testing.assert_allclose(mod.matmul(ta, torch.from_numpy(b)).numpy(), a @ b, rtol=1e-5,
                               atol=1e-5)
    grad = torch.from_numpy(a).requires_grad_()
    out = mod.matmul(grad, torch.from_numpy(b))  # issue 12: never silently detached
    assert out.grad_fn is not None
    np.testing.assert_allclose(out.detach().numpy(), a @ b, rtol=1e-5, atol=1e-5)


def test_outputs_are_fresh_per_call(mod):
    a, b = f32(2, 2), f32(2, 2)
    c1, c2 = mod.matmul(a, b), mod.matmul(a, b)
    assert c1 is not c2 and not np.shares_memory(c1, c2)


def test_a_plan_is_reused_and_checks_run_once():
    mod = tensorc.compile(SRC, backend="cpu")
    a, b = f32(5, 7), f32(7, 3)
    mod.matmul(a, b)
    checks = []
    real = mod.matmul._check_args
    mod.matmul._check_args = lambda args: checks.append(1) or real(args)
    for _ in range(3):
        np.testing.assert_allclose(mod.matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)
    assert checks == []
    mod.matmul(f32(2, 7), b)  # a new signature is checked
    assert checks == [1]


def test_backend_from_the_environment_is_part_of_the_plan(monkeypatch):
    mod = tensorc.compile(SRC)
    a, b = f32(2, 3), f32(3, 2)
    for backend in ("interp", "loops", "interp"):
        monkeypatch.setenv("TENSORC_BACKEND", backend)
        np.testing.assert_allclose(mod.matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)
        assert mod.matmul.last_backend == backend


def test_einsum_and_jit_recheck_new_signatures():
    a, b = f32(3, 4), f32(4, 5)
    np.testing.assert_allclose(tensorc.einsum("ij,jk->ik", a, b), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tensorc.einsum("ij,jk->ik", a, b.astype(">f4")), a @ b,
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ArgumentError, match=r"einsum operand 1: unsupported dtype complex64"):
        tensorc.einsum("ij,jk->ik", a, b.astype(np.complex64))

    @tensorc.jit
    def gram(x):
        "g(i, j) = x(i, d) * x(j, d)"

    np.testing.assert_allclose(gram(a), a @ a.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gram(a.T), a.T @ a, rtol=1e-5, atol=1e-5)
    with pytest.raises(ArgumentError, match=r"gram\(\) takes 1 argument"):
        gram(a, a)


@pytest.mark.parametrize("shape,dtype", [((5, 3), np.float32), ((2048, 2048 + 7), np.float32),
                                         ((1 << 21, 2), np.float64), ((0, 1 << 23), np.float32)])
def test_zeros_numpy_gives_zeroed_writable_buffers(shape, dtype):
    """Big fresh buffers are populated mappings (arrays.zeros_numpy), small ones np.zeros: both
    zero, writable, of the shape and dtype asked for; a second plan call reuses its temps but
    returns fresh outputs."""
    from tensorc.runtime.arrays import zeros_numpy

    a = zeros_numpy(shape, dtype)
    assert a.shape == shape and a.dtype == dtype and a.flags.writeable and not a.any()
    a[...] = 1
    assert a.all() or a.size == 0


def test_outputs_are_fresh_and_temps_reused():
    src = """def f(float(N,N) g, float(N,N) k, float(N,D) x) -> (o) {
        o(i,d) = sum(j: g(i,j) * k(i,j) * x(j,d)) + sum(j: k(j,i) * g(j,i) * x(j,d))
    }"""  # g * k is a stored temp (share_products), zeroed and reused by the second call
    mod = tensorc.compile(src, backend="cpu")
    assert "temp float32 g_k_prod" in tensorc.explain(src, "f", sizes={"N": 9, "D": 2})
    rng = np.random.default_rng(0)
    g, k, x = (rng.random(s, dtype=np.float32) for s in ((9, 9), (9, 9), (9, 2)))
    first, second = mod.f(g, k, x), mod.f(g, k, x)
    assert first is not second and not np.shares_memory(first, second)
    np.testing.assert_allclose(first, (g * k) @ x + (g * k).T @ x, rtol=1e-5)
    np.testing.assert_array_equal(first, second)
