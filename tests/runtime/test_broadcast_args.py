"""Broadcast views as arguments (runtime/broadcast.py): an input with stride 0 along a dimension
(`np.broadcast_to`, `torch.expand`, the cotangent of `out.sum()`) runs a def specialised to read
the smaller array. Every result is compared with the same call on contiguous copies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensorc
from tensorc.errors import ArgumentShapeError
from tensorc.runtime import broadcast

SRC = """
def rowscale(float(N, M) a, float(N) b) -> (s) {
    s(i) = sum(j: a(i, j)) * b(i)
}
def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, k) * B(k, n)
}
def mul(float(N, M) a, float(N, M) w) -> (p) {
    p(i, j) = a(i, j) * w(i, j)
}
def gather(float(N) t, int64(M, K) idx) -> (o) {
    o(m, k) = t(idx(m, k))
}
def attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)
}
"""
rng = np.random.default_rng(7)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.fixture(params=["interp", "loops", "cpu"])
def mod(request):
    return tensorc.compile(SRC, backend=request.param)


def _same(fn, *args, narrowed=True):
    """`fn(*args)` equals `fn` on contiguous copies, and the call ran the narrowed def (or, for
    views with no dimension longer than 1, did not)."""
    got = fn(*args)
    want = fn(*[np.ascontiguousarray(a) if isinstance(a, np.ndarray) else a for a in args])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    dims = broadcast.pattern(args)
    assert (fn._narrowed.get(dims) is not None) == narrowed


@pytest.mark.parametrize("n, m", [(1, 1), (3, 4), (17, 65)])
def test_a_view_broadcast_along_a_reduced_dimension(mod, n, m):
    a = np.broadcast_to(f32(1, m), (n, m))  # stride 0 along i: a(i, j) reads a(j)
    _same(mod.rowscale, a, f32(n), narrowed=n > 1)


def test_a_view_broadcast_along_every_dimension_is_a_scalar(mod):
    _same(mod.mul, np.broadcast_to(np.float32(2.5), (5, 7)), f32(5, 7))
    spec = mod.mul._narrowed[((0, 1), ())].def_
    assert spec.inputs[0].shape == ()


def test_a_size_only_a_broadcast_dimension_binds_becomes_a_parameter(mod):
    # a along j and b along i: M is bound by nothing else, N by nothing at all
    _same(mod.rowscale, np.broadcast_to(np.float32(2), (5, 6)), np.broadcast_to(np.float32(3), 5))
    spec = mod.rowscale._narrowed[((0, 1), (0,))].def_
    assert [(t.name, t.dtype, t.shape) for t in spec.inputs] == [
        ("a", "float32", ()), ("b", "float32", ()), ("N", "int64", ()), ("M", "int64", ())]
    _same(mod.rowscale, np.broadcast_to(f32(5, 1), (5, 6)), f32(5))


def test_a_broadcast_index_tensor(mod):
    idx = np.broadcast_to(rng.integers(0, 9, size=(1, 4)), (6, 4))
    _same(mod.gather, f32(9), idx)


def test_an_empty_array_with_stride_0_is_no_broadcast(mod):
    a = np.empty((2, 0), np.float32)
    a = np.lib.stride_tricks.as_strided(a, (2, 0), (0, 4))
    assert broadcast.pattern((a, f32(2))) is None
    np.testing.assert_array_equal(mod.rowscale(a, f32(2)), np.zeros(2, np.float32))


def test_the_shape_is_still_checked_against_the_def(mod):
    a = np.broadcast_to(f32(1, 4), (5, 4))
    with pytest.raises(ArgumentShapeError, match="argument 'b'"):
        mod.rowscale(a, f32(6))
    with pytest.raises(ArgumentShapeError, match="size K"):
        mod.matmul(np.broadcast_to(np.float32(1), (5, 7)), f32(6, 3))


def test_out_buffers_with_a_broadcast_view(mod):
    out = np.empty(5, np.float32)
    a = np.broadcast_to(f32(1, 4), (5, 4))
    b = f32(5)
    assert mod.rowscale(a, b, out=out) is out
    np.testing.assert_allclose(out, mod.rowscale(np.ascontiguousarray(a), b), rtol=1e-5)


def test_grouped_query_attention_reads_shared_keys_once():
    torch = pytest.importorskip("torch")
    mod = tensorc.compile(SRC, backend="cpu")
    q = torch.randn(2, 4, 9, 8)
    k, v = torch.randn(2, 1, 11, 8), torch.randn(2, 1, 11, 8)
    got = mod.attention(q, k.expand(2, 4, 11, 8), v.expand(2, 4, 11, 8), 0.3)
    want = torch.softmax(q @ k.transpose(-1, -2) * 0.3, -1) @ v
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    spec = mod.attention._narrowed[((), (1,), (1,), ())].def_
    assert [len(t.shape) for t in spec.inputs] == [4, 3, 3, 0]  # k(b, j, d), v(b, j, e)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 6), k=st.integers(1, 6), m=st.integers(1, 6),
       a_dims=st.sets(st.integers(0, 1)), b_dims=st.sets(st.integers(0, 1)))
def test_random_broadcast_dims_match_contiguous(n, k, m, a_dims, b_dims):
    mod = _cpu()
    a = np.broadcast_to(f32(*[1 if i in a_dims else s for i, s in enumerate((n, k))]), (n, k))
    b = np.broadcast_to(f32(*[1 if i in b_dims else s for i, s in enumerate((k, m))]), (k, m))
    np.testing.assert_allclose(mod.matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)


_MODS: dict = {}


def _cpu():
    if "cpu" not in _MODS:
        _MODS["cpu"] = tensorc.compile(SRC, backend="cpu")
    return _MODS["cpu"]


def test_length_one_dimensions_of_a_broadcast_view_are_dropped_too():
    mod = _cpu()
    a = np.broadcast_to(np.float32(2.5), (1, 7))  # length 1 along i, stride 0 along j
    _same(mod.mul, a, f32(1, 7))
    assert mod.mul._narrowed[((0, 1), ())].def_.inputs[0].shape == ()


GRAD_SRC = """
def attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
}
def rbf(float(N,D) x, float gamma) -> (k) {
    k(i,j) = exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))
}
"""


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_sum_backward_reads_its_cotangent_as_a_scalar(backend):
    """`out.sum().backward()` hands the backward a stride-0 cotangent: the same gradients as a
    full cotangent of ones."""
    torch = pytest.importorskip("torch")
    mod = tensorc.compile(GRAD_SRC, backend=backend)
    cases = [(mod.attention, [torch.randn(1, 2, 7, 16), torch.randn(1, 2, 7, 16),
                              torch.randn(1, 2, 7, 16)], (0.25,)),
             (mod.rbf, [torch.randn(9, 3), torch.tensor(0.3)], ())]
    for fn, leaves, rest in cases:
        grads = []
        for full in (False, True):
            xs = [t.clone().requires_grad_() for t in leaves]
            out = fn(*xs, *rest)
            (out.backward(torch.ones_like(out)) if full else out.sum().backward())
            grads.append([x.grad for x in xs])
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
