"""Natural spellings of the workload families, as a new user writes them under the revised rule.

Einstein's rule at the product term (LANGUAGE.md 2), masks that travel with temporaries, weak index
and literal types (5): kernel sums, nearest neighbours, softmin / Sinkhorn, attention (causal,
window, ALiBi, bias, padding), linear attention, Gram / RBF, MMD, tensor networks and the TC
classics (conv, pooling, softmax, layer / group norm, gather). Each runs on interp, loops and cpu
(a subset on triton under TRITON_INTERPRET=1) against numpy float64, with the output dtype checked.
Spellings whose implicit index sits only inside a nonlinear function are errors that show both
explicit spellings. Known bugs are xfail(strict=True) with a minimal program.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import tensorc
from tensorc.errors import StatementError, TensorcWarning

RTOL = 2e-4


@dataclass(frozen=True)
class Spelling:
    id: str
    src: str  # one def named f
    make: Callable  # rng -> arguments
    ref: Callable  # float64 arguments -> tuple of outputs
    dtypes: tuple = ("float32",)
    triton: bool = False


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def f64(a):
    a = np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def run(src: str, backend: str, *args):
    if backend == "triton":
        pytest.importorskip("triton")
    if not tensorc.backends.get_backend(backend).available():
        pytest.skip(f"backend {backend!r} is not available here")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TensorcWarning)  # the warnings have their own tests
        return tensorc.compile(src, backend=backend).f(*args)


def check(got, want, dtypes, what):
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want), what
    for g, w, dt in zip(got, want, dtypes):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
        assert g.dtype == np.dtype(dt), f"{what}: dtype {g.dtype}, expected {dt}"
        if g.dtype.kind in "iub":
            np.testing.assert_array_equal(g, w, err_msg=what)
        else:
            rtol = 2e-3 if g.dtype == np.float16 else RTOL
            scale = max(1.0, float(np.abs(w).max())) if w.size else 1.0
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale, err_msg=what)


# --- numpy references ----------------------------------------------------------------------------
def sqdist(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def softmax(s, mask=None):
    s = s if mask is None else np.where(mask, s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    return w / w.sum(-1, keepdims=True)


def logsumexp(s, axis):
    m = s.max(axis, keepdims=True)
    return (m + np.log(np.exp(s - m).sum(axis, keepdims=True))).squeeze(axis)


def tri(n, m=None):
    i, j = np.indices((n, m or n))
    return i, j


def conv2d(x, w, stride=1, pad=0):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kh, kw = w.shape[2:]
    ho, wo = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for y, z in itertools.product(range(ho), range(wo)):
        patch = x[:, :, y * stride : y * stride + kh, z * stride : z * stride + kw]
        out[:, :, y, z] = np.einsum("nchw,mchw->nm", patch, w)
    return out


def pool2d(x, k, stride, reduce):
    ho, wo = (x.shape[2] - k) // stride + 1, (x.shape[3] - k) // stride + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for y, z in itertools.product(range(ho), range(wo)):
        out[:, :, y, z] = reduce(x[:, :, y * stride : y * stride + k, z * stride : z * stride + k],
                                 axis=(2, 3))  # fmt: skip
    return out


def attn(q, k, v, scale, mask=None):
    return softmax(q @ k.T * scale, mask) @ v


def _xyb(r, n=6, m=7, d=3, e=2):
    return f32(r, n, d), f32(r, m, d), f32(r, m, e)


GAUSS = "exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma))"

# --- kernel sums, nearest neighbours, softmin / Sinkhorn ------------------------------------------
KERNELS = [
    Spelling("ksum-d2-temp", """def f(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
    d2(i,j) = (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))
    out(i,e) = exp(-d2(i,j) / (2 * sigma * sigma)) * b(j,e)
}""", lambda r: (*_xyb(r), np.float32(1.3)),
             lambda x, y, b, s: (np.exp(-sqdist(x, y) / (2 * s * s)) @ b,), triton=True),
    Spelling("ksum-pow", """def f(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
    out(i,e) = exp(-sum(d: pow(x(i,d) - y(j,d), 2)) / (2 * sigma * sigma)) * b(j,e)
}""", lambda r: (*_xyb(r), np.float32(1.3)),
             lambda x, y, b, s: (np.exp(-sqdist(x, y) / (2 * s * s)) @ b,)),
    Spelling("ksum-explicit-j", f"""def f(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {{
    out(i,e) = sum(j: {GAUSS} * b(j,e))
}}""", lambda r: (*_xyb(r), np.float32(0.8)),
             lambda x, y, b, s: (np.exp(-sqdist(x, y) / (2 * s * s)) @ b,)),
    Spelling("ksum-python-float-sigma", f"""def f(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {{
    out(i,e) = {GAUSS} * b(j,e)
}}""", lambda r: (*_xyb(r), 0.8),
             lambda x, y, b, s: (np.exp(-sqdist(x, y) / (2 * s * s)) @ b,)),
    Spelling("ksum-no-weights", """def f(float(N,D) x, float(M,D) y) -> (out) {
    d2(i,j) = (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))
    out(i) = sum(j: exp(-d2(i,j)))
}""", lambda r: _xyb(r)[:2], lambda x, y: (np.exp(-sqdist(x, y)).sum(1),)),
    Spelling("laplace", """def f(float(N,D) x, float(M,D) y, float(M,E) b) -> (out) {
    out(i,e) = exp(-sqrt(sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))) * b(j,e)
}""", _xyb, lambda x, y, b: (np.exp(-np.sqrt(sqdist(x, y))) @ b,)),
    # j on both sides of '/' warns (see test_cauchy_kernel_sum_warns) but means the kernel sum
    Spelling("cauchy", """def f(float(N,D) x, float(M,D) y, float(M,E) b) -> (out) {
    d2(i,j) = (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))
    out(i,e) = b(j,e) / (1 + d2(i,j))
}""", _xyb, lambda x, y, b: ((1 / (1 + sqdist(x, y))) @ b,)),
    Spelling("nn-argmin-implicit-d", """def f(float(N,D) x, float(M,D) y) -> (idx) {
    idx(i) = argmin(j: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))
}""", lambda r: _xyb(r)[:2], lambda x, y: (sqdist(x, y).argmin(1),), ("int64",), triton=True),
    Spelling("nn-dist-and-index", """def f(float(N,D) x, float(M,D) y) -> (dist, idx) {
    d2(i,j) = (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))
    dist(i) = sqrt(min(j: d2(i,j)))
    idx(i) = argmin(j: d2(i,j))
}""", lambda r: _xyb(r)[:2], lambda x, y: (np.sqrt(sqdist(x, y).min(1)), sqdist(x, y).argmin(1)),
             ("float32", "int64")),
    Spelling("knn", """def f(float(N,D) x, float(M,D) y) -> (nb, dk) {
    d2(i,j) = (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))
    nb(i,r) = argkmin(j: d2(i,j), 3)
    dk(i,r) = kmin(j: d2(i,j), 3)
}""", lambda r: _xyb(r)[:2],
             lambda x, y: (np.argsort(sqdist(x, y), 1, kind="stable")[:, :3],
                           np.sort(sqdist(x, y), 1)[:, :3]), ("int64", "float32")),
    Spelling("softmin-cost-temp", """def f(float(N,D) x, float(M,D) y, float(M) g, float eps) -> (fo) {
    C(i,j) = (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))
    fo(i) = -eps * logsumexp(j: (g(j) - C(i,j)) / eps)
}""", lambda r: (*_xyb(r)[:2], f32(r, 7), np.float32(0.5)),
             lambda x, y, g, e: (-e * logsumexp((g[None] - sqdist(x, y)) / e, 1),), triton=True),
    Spelling("softmin-log-weights", """def f(float(N,D) x, float(M,D) y, float(M) g, float(M) w, float eps) -> (fo) {
    fo(i) = -eps * logsumexp(j: log(w(j)) + (g(j) - sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) / eps)
}""", lambda r: (*_xyb(r)[:2], f32(r, 7), np.abs(f32(r, 7)) + np.float32(0.1), np.float32(0.5)),
             lambda x, y, g, w, e: (-e * logsumexp(np.log(w)[None] + (g[None] - sqdist(x, y)) / e, 1),)),
    Spelling("sinkhorn-scaling", """def f(float(N,M) K, float(M) v, float(N) a) -> (u) {
    u(i) = a(i) / sum(j: K(i,j) * v(j))
}""", lambda r: (np.exp(-np.abs(f32(r, 6, 7))), np.abs(f32(r, 7)) + np.float32(0.5),
                 np.abs(f32(r, 6)) + np.float32(0.5)),
             lambda K, v, a: (a / (K @ v),)),
]  # fmt: skip


def _qkv(r, n=7, m=7, d=4, e=3):
    return f32(r, n, d), f32(r, m, d), f32(r, m, e)


def _bqkv(r, b=2, h=2, n=6, d=4, e=3):
    return f32(r, b, h, n, d), f32(r, b, h, n, d), f32(r, b, h, n, e)


def _battn(q, k, v, scale, mask):
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    return np.einsum("bhij,bhje->bhie", softmax(s, mask), v)


CAUSAL = lambda q, k, v: tri(len(q), len(k))[1] <= tri(len(q), len(k))[0]

ATTENTION = [
    Spelling("attn-sqrt-D", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) / sqrt(D)) * v(j,e)
}""", _qkv, lambda q, k, v: (attn(q, k, v, 0.5),), triton=True),
    Spelling("attn-rsqrt-float-D-temp", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    s(i,j) = q(i,d) * k(j,d) * rsqrt(float(D))
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}""", _qkv, lambda q, k, v: (attn(q, k, v, 0.5),)),
    Spelling("attn-causal-on-reader", """def f(float(N,D) q, float(M,D) k, float(M,E) v, float scale) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) * scale) * v(j,e) where j <= i
}""", lambda r: (*_qkv(r), np.float32(0.5)),
             lambda q, k, v, s: (attn(q, k, v, s, CAUSAL(q, k, v)),), triton=True),
    Spelling("attn-causal-cross-offset", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) * 0.5) * v(j,e) where j <= i + M - N
}""", lambda r: _qkv(r, n=3),
             lambda q, k, v: (attn(q, k, v, 0.5, tri(3, 7)[1] <= tri(3, 7)[0] + 4),)),
    Spelling("attn-causal-minus-1e9", """def f(float(N,D) q, float(N,D) k, float(N,E) v) -> (o) {
    s(i,j) = j <= i ? q(i,d) * k(j,d) * 0.5 : -1e9
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}""", _qkv, lambda q, k, v: (attn(q, k, v, 0.5, CAUSAL(q, k, v)),)),
    Spelling("attn-window-on-temp", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    s(i,j) = q(i,d) * k(j,d) * 0.5 where abs(i - j) <= 2
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}""", _qkv, lambda q, k, v: (attn(q, k, v, 0.5, abs(tri(7)[0] - tri(7)[1]) <= 2),), triton=True),
    Spelling("attn-window-int-param", """def f(float(N,D) q, float(M,D) k, float(M,E) v, int32 w) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) * 0.5) * v(j,e) where abs(i - j) <= w
}""", lambda r: (*_qkv(r), 2), lambda q, k, v, w: (attn(q, k, v, 0.5, abs(tri(7)[0] - tri(7)[1]) <= 2),)),
    Spelling("attn-causal-window", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) * 0.5) * v(j,e) where j <= i, i - 2 <= j
}""", _qkv, lambda q, k, v: (attn(q, k, v, 0.5, (tri(7)[1] <= tri(7)[0]) & (tri(7)[0] - 2 <= tri(7)[1])),)),
    Spelling("alibi-float32-cast", """def f(float(N,D) q, float(M,D) k, float(M,E) v, float slope) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) * 0.5 - slope * float32(i - j)) * v(j,e) where j <= i
}""", lambda r: (*_qkv(r), np.float32(0.3)),
             lambda q, k, v, m: (softmax(q @ k.T * 0.5 - m * (tri(7)[0] - tri(7)[1]), CAUSAL(q, k, v)) @ v,)),
    Spelling("attn-bias-tensor", """def f(float(N,D) q, float(M,D) k, float(M,E) v, float(N,M) bias) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) * 0.5 + bias(i,j)) * v(j,e)
}""", lambda r: (*_qkv(r), f32(r, 7, 7)), lambda q, k, v, b: (softmax(q @ k.T * 0.5 + b) @ v,)),
    Spelling("attn-bias-temp", """def f(float(N,D) q, float(M,D) k, float(M,E) v, float(N,M) bias) -> (o) {
    s(i,j) = q(i,d) * k(j,d) * 0.5 + bias(i,j)
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}""", lambda r: (*_qkv(r), f32(r, 7, 7)), lambda q, k, v, b: (softmax(q @ k.T * 0.5 + b) @ v,)),
    Spelling("attn-key-padding-lengths", """def f(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, int32(B) len) -> (o) {
    o(b,h,i,e) = softmax(j: q(b,h,i,d) * k(b,h,j,d) * 0.5) * v(b,h,j,e) where j < len(b)
}""", lambda r: (*_bqkv(r), np.array([3, 6], np.int32)),
             lambda q, k, v, n: (_battn(q, k, v, 0.5, np.arange(6)[None, None, None] < n[:, None, None, None]),)),
    Spelling("attn-bool-keep-mask", """def f(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, bool(B,M) keep) -> (o) {
    o(b,h,i,e) = softmax(j: q(b,h,i,d) * k(b,h,j,d) * 0.5) * v(b,h,j,e) where keep(b,j)
}""", lambda r: (*_bqkv(r), np.array([[1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 0]], bool)),
             lambda q, k, v, m: (_battn(q, k, v, 0.5, m[:, None, None, :]),)),
    Spelling("attn-bh-causal-temp", """def f(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * 0.5 where j <= i
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)
}""", _bqkv, lambda q, k, v: (_battn(q, k, v, 0.5, tri(6)[1] <= tri(6)[0]),), triton=True),
    Spelling("attn-half", """def f(half(N,D) q, half(M,D) k, half(M,E) v) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) * 0.5) * v(j,e) where j <= i
}""", lambda r: tuple(a.astype(np.float16) for a in _qkv(r)),
             lambda q, k, v: (attn(q, k, v, 0.5, CAUSAL(q, k, v)),), ("float16",)),
    Spelling("attn-double", """def f(double(N,D) q, double(M,D) k, double(M,E) v) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d) * 0.5) * v(j,e) where j <= i
}""", lambda r: tuple(a.astype(np.float64) for a in _qkv(r)),
             lambda q, k, v: (attn(q, k, v, 0.5, CAUSAL(q, k, v)),), ("float64",)),
    # masks travel through a chain of temporaries (each read outside a reduction warns)
    Spelling("masked-temp-exp-temp-sum", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    s(i,j) = q(i,d) * k(j,d) * 0.5 where j <= i
    p(i,j) = exp(s(i,j))
    o(i,e) = p(i,j) * v(j,e)
}""", _qkv, lambda q, k, v: (np.where(CAUSAL(q, k, v), np.exp(q @ k.T * 0.5), 0) @ v,)),
    Spelling("masked-temp-scaled-temp-softmax", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    s(i,j) = q(i,d) * k(j,d) where j <= i
    t(i,j) = s(i,j) * 0.5
    o(i,e) = softmax(j: t(i,j)) * v(j,e)
}""", _qkv, lambda q, k, v: (attn(q, k, v, 0.5, CAUSAL(q, k, v)),)),
    Spelling("masked-temp-row-max", """def f(float(N,D) q, float(M,D) k) -> (m) {
    s(i,j) = q(i,d) * k(j,d) where j <= i
    m(i) = max(j: s(i,j))
}""", lambda r: _qkv(r)[:2], lambda q, k: (np.where(CAUSAL(q, k, None), q @ k.T, -np.inf).max(1),)),
    Spelling("attn-two-pass-temps", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    s(i,j) = q(i,d) * k(j,d) * 0.5 where j <= i
    mx(i) = max(j: s(i,j))
    l(i) = sum(j: exp(s(i,j) - mx(i)))
    o(i,e) = exp(s(i,j) - mx(i)) * v(j,e) / l(i)
}""", _qkv, lambda q, k, v: (attn(q, k, v, 0.5, CAUSAL(q, k, v)),)),
]  # fmt: skip


def _phi(a):
    return np.maximum(a, 0) + 1


def _linear_attention(q, k, v):
    pq, pk = _phi(q), _phi(k)
    return ((pq @ (pk.T @ v)) / (pq @ pk.sum(0))[:, None],)


def _rbf(x, y, gamma):
    return np.exp(-gamma * sqdist(x, y))


def _mmd(x, y, gamma):
    return (_rbf(x, x, gamma).mean() + _rbf(y, y, gamma).mean() - 2 * _rbf(x, y, gamma).mean(),)


KXX = "exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))"
KYY = "exp(-gamma * sum(d: (y(i,d) - y(j,d)) * (y(i,d) - y(j,d))))"
KXY = "exp(-gamma * sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))"
GRAM_FAMILY = [
    Spelling("linear-attention-temps", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    pq(i,d) = relu(q(i,d)) + 1
    pk(j,d) = relu(k(j,d)) + 1
    kv(d,e) = pk(j,d) * v(j,e)
    ks(d) = pk(j,d)
    num(i,e) = pq(i,d) * kv(d,e)
    den(i) = pq(i,d) * ks(d)
    o(i,e) = num(i,e) / den(i)
}""", lambda r: _qkv(r, n=6, m=5), _linear_attention, triton=True),
    Spelling("linear-attention-one-statement", """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    pq(i,d) = relu(q(i,d)) + 1
    pk(j,d) = relu(k(j,d)) + 1
    o(i,e) = sum(d, j: pq(i,d) * pk(j,d) * v(j,e)) / sum(d, j: pq(i,d) * pk(j,d))
}""", lambda r: _qkv(r, n=6, m=5), _linear_attention),
    Spelling("gram", "def f(float(N,D) x) -> (g) { g(i,j) = x(i,d) * x(j,d) }",
             lambda r: (f32(r, 6, 3),), lambda x: (x @ x.T,), triton=True),
    Spelling("rbf-via-norms", """def f(float(N,D) x, float gamma) -> (k) {
    n(i) = x(i,d) * x(i,d)
    g(i,j) = x(i,d) * x(j,d)
    k(i,j) = exp(-gamma * (n(i) + n(j) - 2 * g(i,j)))
}""", lambda r: (f32(r, 6, 3), np.float32(0.7)), lambda x, g: (_rbf(x, x, g),)),
    Spelling("rbf-d2-temp", """def f(float(N,D) x, float gamma) -> (k) {
    d2(i,j) = (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))
    k(i,j) = exp(-gamma * d2(i,j))
}""", lambda r: (f32(r, 6, 3), np.float32(0.7)), lambda x, g: (_rbf(x, x, g),)),
    Spelling("centered-gram", """def f(float(N,D) x) -> (gc) {
    g(i,j) = x(i,d) * x(j,d)
    gc(i,j) = g(i,j) - g(i,k) / N - g(l,j) / N + g(m,p) / (N * N)
}""", lambda r: (f32(r, 6, 3),),
             lambda x: ((g := x @ x.T) - g.mean(1, keepdims=True) - g.mean(0, keepdims=True) + g.mean(),)),
    Spelling("centering", "def f(float(N,D) x) -> (y) { y(i,e) = x(i,e) - x(i,c) / D }",
             lambda r: (f32(r, 5, 4),), lambda x: (x - x.mean(1, keepdims=True),), triton=True),
    Spelling("row-l2-normalise", """def f(float(N,D) x) -> (y) {
    y(i,e) = x(i,e) / sqrt(sum(c: x(i,c) * x(i,c)))
}""", lambda r: (f32(r, 5, 4),), lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True),)),
    Spelling("cosine-similarity", """def f(float(N,D) x, float(M,D) y) -> (c) {
    nx(i) = sqrt(sum(d: x(i,d) * x(i,d)))
    ny(j) = sqrt(sum(d: y(j,d) * y(j,d)))
    c(i,j) = x(i,d) * y(j,d) / (nx(i) * ny(j))
}""", lambda r: _xyb(r)[:2],
             lambda x, y: (x @ y.T / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)),)),
    Spelling("mmd-temps", f"""def f(float(N,D) x, float(M,D) y, float gamma) -> (mmd) {{
    kxx(i,j) = {KXX}
    kyy(i,j) = {KYY}
    kxy(i,j) = {KXY}
    mmd = kxx(i,j) / (N * N) + kyy(k,l) / (M * M) - 2 * kxy(a,b) / (N * M)
}}""", lambda r: (*_xyb(r)[:2], np.float32(0.7)), _mmd, triton=True),
    Spelling("mmd-one-statement", f"""def f(float(N,D) x, float(M,D) y, float gamma) -> (mmd) {{
    mmd = sum(i, j: {KXX}) / (N * N) + sum(i, j: {KYY}) / (M * M) - 2 * sum(i, j: {KXY}) / (N * M)
}}""", lambda r: (*_xyb(r)[:2], np.float32(0.7)), _mmd),
]  # fmt: skip

# --- tensor networks -----------------------------------------------------------------------------
NETWORKS = [
    Spelling("tucker-core", """def f(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G) {
    G(a,b,c) = T(i,j,k) * U1(i,a) * U2(j,b) * U3(k,c)
}""", lambda r: (f32(r, 3, 4, 2), f32(r, 3, 2), f32(r, 4, 3), f32(r, 2, 2)),
             lambda *a: (np.einsum("ijk,ia,jb,kc->abc", *a),), triton=True),
    Spelling("mps-overlap", """def f(float(L0,P,L1) A1, float(L1,P,L2) A2, float(L2,P,L3) A3,
        float(K0,P,K1) B1, float(K1,P,K2) B2, float(K2,P,K3) B3) -> (o) {
    o = A1(a,s,b) * B1(c,s,d) * A2(b,t,e) * B2(d,t,f) * A3(e,u,g) * B3(f,u,h)
}""", lambda r: (f32(r, 1, 2, 3), f32(r, 3, 2, 3), f32(r, 3, 2, 1),
                 f32(r, 1, 2, 3), f32(r, 3, 2, 3), f32(r, 3, 2, 1)),
             lambda a1, a2, a3, b1, b2, b3: (np.einsum("asb,csd,bte,dtf,eug,fuh->", a1, b1, a2, b2, a3, b3),)),
    Spelling("batched-bilinear", """def f(float(B,I,J) x, float(J,K) w, float(B,K,L) z) -> (y) {
    y(b,i,l) = x(b,i,j) * w(j,k) * z(b,k,l)
}""", lambda r: (f32(r, 2, 3, 4), f32(r, 4, 5), f32(r, 2, 5, 3)),
             lambda x, w, z: (np.einsum("bij,jk,bkl->bil", x, w, z),)),
    Spelling("matrix-chain-plus-bias", """def f(float(N,K) A, float(K,L) B, float(L,M) C, float(M) bias) -> (y) {
    y(i,m) = A(i,j) * B(j,k) * C(k,m) + bias(m)
}""", lambda r: (f32(r, 3, 4), f32(r, 4, 5), f32(r, 5, 2), f32(r, 2)),
             lambda a, b, c, bias: (a @ b @ c + bias,)),
    Spelling("trace", "def f(float(N,N) A) -> (t) { t = A(i,i) }", lambda r: (f32(r, 4, 4),),
             lambda a: (np.trace(a),)),
    Spelling("diagonal", "def f(float(N,N) A) -> (d) { d(i) = A(i,i) }", lambda r: (f32(r, 4, 4),),
             lambda a: (np.diag(a),)),
    Spelling("trace-of-product", "def f(float(N,M) A, float(M,N) B) -> (t) { t = A(i,j) * B(j,i) }",
             lambda r: (f32(r, 3, 4), f32(r, 4, 3)), lambda a, b: (np.trace(a @ b),)),
    Spelling("batched-matmul-bias", """def f(float(B,M,K) A, float(K,N) W, float(N) bias) -> (C) {
    C(b,m,n) = A(b,m,k) * W(k,n) + bias(n)
}""", lambda r: (f32(r, 2, 3, 4), f32(r, 4, 5), f32(r, 5)), lambda a, w, b: (a @ w + b,)),
    Spelling("residual-linear", "def f(float(N,D) x, float(D,D) W) -> (y) { y(i,e) = x(i,e) + x(i,d) * W(d,e) }",
             lambda r: (f32(r, 4, 3), f32(r, 3, 3)), lambda x, w: (x + x @ w,)),
    Spelling("affine-in-product", "def f(float(N,D) x, float(D,E) W) -> (y) { y(i,e) = (x(i,d) + 1) * W(d,e) }",
             lambda r: (f32(r, 4, 3), f32(r, 3, 5)), lambda x, w: ((x + 1) @ w,)),
    Spelling("bias-once-masked-contraction", """def f(float(M,K) A, float(K,N) B, float(N) bias) -> (C) {
    C(m,n) = A(m,k) * B(k,n) + bias(n) where k < 2
}""", lambda r: (f32(r, 3, 4), f32(r, 4, 5), f32(r, 5)), lambda a, b, c: (a[:, :2] @ b[:2] + c,)),
    Spelling("causal-linear-attention-implicit", """def f(float(N,D) q, float(N,D) k, float(N,E) v) -> (o) {
    o(i,e) = q(i,d) * k(j,d) * v(j,e) where j <= i
}""", lambda r: _qkv(r, n=5, m=5),
             lambda q, k, v: (np.where(tri(5)[1] <= tri(5)[0], q @ k.T, 0) @ v,)),
    Spelling("scalar-bias-once", "def f(float(N,D) x, float(D) w, float b) -> (y) { y(i) = x(i,j) * w(j) + b }",
             lambda r: (f32(r, 4, 3), f32(r, 3), np.float32(10.0)), lambda x, w, b: (x @ w + b,)),
]  # fmt: skip


def _layernorm(x, gamma, beta):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return ((x - mu) / np.sqrt(var + 1e-5) * gamma + beta,)


def _groupnorm(x, gamma, beta):
    axes = (2, 3, 4)
    mu = x.mean(axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axes, keepdims=True)
    return (
        (x - mu) / np.sqrt(var + 1e-5) * gamma[None, :, :, None, None]
        + beta[None, :, :, None, None],
    )


CLASSICS = [
    Spelling("conv-implicit-plus-bias", """def f(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) B) -> (O) {
    O(n,m,h,w) = I(n,c,h + kh,w + kw) * W1(m,c,kh,kw) + B(m)
}""", lambda r: (f32(r, 2, 3, 6, 7), f32(r, 4, 3, 3, 2), f32(r, 4)),
             lambda i, w, b: (conv2d(i, w) + b[None, :, None, None],), triton=True),
    Spelling("conv-strided-relu-explicit", """def f(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) B) -> (O) {
    O(n,m,h,w) = relu(sum(c, kh, kw: I(n,c,2*h + kh,2*w + kw) * W1(m,c,kh,kw)) + B(m))
}""", lambda r: (f32(r, 2, 3, 7, 7), f32(r, 4, 3, 3, 3), f32(r, 4)),
             lambda i, w, b: (np.maximum(conv2d(i, w, 2) + b[None, :, None, None], 0),)),
    Spelling("conv-padded-guard-with-ranges", """def f(float(N,C,H,W) I, float(M,C,KH,KW) Wt) -> (O) {
    O(n,m,h,w) = (h + kh - 1 >= 0 && h + kh - 1 < H && w + kw - 1 >= 0 && w + kw - 1 < W)
        ? I(n,c,h + kh - 1,w + kw - 1) * Wt(m,c,kh,kw) : 0.0
        where h in 0:H, w in 0:W, kh in 0:KH, kw in 0:KW
}""", lambda r: (f32(r, 1, 2, 5, 5), f32(r, 3, 2, 3, 3)), lambda i, w: (conv2d(i, w, pad=1),)),
    Spelling("conv-padded-temp", """def f(float(N,C,H,W) I, float(M,C,KH,KW) Wt) -> (O) {
    P(n,c,h,w) = (h >= 1 && h <= H && w >= 1 && w <= W) ? I(n,c,h - 1,w - 1) : 0.0
        where h in 0:H+2, w in 0:W+2
    O(n,m,h,w) = P(n,c,h + kh,w + kw) * Wt(m,c,kh,kw)
}""", lambda r: (f32(r, 1, 2, 5, 5), f32(r, 3, 2, 3, 3)), lambda i, w: (conv2d(i, w, pad=1),)),
    Spelling("maxpool-reduction", """def f(float(B,C,H,W) I) -> (O) {
    O(b,c,h,w) = max(kh, kw: I(b,c,2*h + kh,2*w + kw)) where kh in 0:2, kw in 0:2
}""", lambda r: (f32(r, 2, 3, 6, 7),), lambda i: (pool2d(i, 2, 2, np.max),), triton=True),
    Spelling("avgpool-implicit", """def f(float(B,C,H,W) I) -> (O) {
    O(b,c,h,w) = I(b,c,2*h + kh,2*w + kw) / 4 where kh in 0:2, kw in 0:2
}""", lambda r: (f32(r, 2, 3, 6, 7),), lambda i: (pool2d(i, 2, 2, np.mean),)),
    Spelling("avgpool-3x3-literal-product", """def f(float(B,C,H,W) I) -> (O) {
    O(b,c,h,w) = I(b,c,h + kh,w + kw) / (3 * 3) where kh in 0:3, kw in 0:3
}""", lambda r: (f32(r, 1, 2, 5, 6),), lambda i: (pool2d(i, 3, 1, np.mean),)),
    Spelling("softmax-one-statement", "def f(float(N,D) I) -> (O) { O(n,d) = softmax(d: I(n,d)) }",
             lambda r: (f32(r, 4, 6),), lambda i: (softmax(i),), triton=True),
    Spelling("softmax-max-exp-sum", """def f(float(N,D) I) -> (O) {
    mx(n) = max(d: I(n,d))
    O(n,d) = exp(I(n,d) - mx(n)) / sum(c: exp(I(n,c) - mx(n)))
}""", lambda r: (f32(r, 4, 6),), lambda i: (softmax(i),)),
    Spelling("log-softmax", "def f(float(N,D) I) -> (O) { O(n,d) = I(n,d) - logsumexp(c: I(n,c)) }",
             lambda r: (f32(r, 4, 6),), lambda i: (np.log(softmax(i)),)),
    Spelling("layernorm", """def f(float(T,B,C) x, float(C) gamma, float(C) beta) -> (y) {
    mean(t,b) = x(t,b,c) / C
    var(t,b) = (x(t,b,c) - mean(t,b)) * (x(t,b,c) - mean(t,b)) / C
    y(t,b,c) = (x(t,b,c) - mean(t,b)) * rsqrt(var(t,b) + 1e-5) * gamma(c) + beta(c)
}""", lambda r: (f32(r, 2, 3, 5), f32(r, 5), f32(r, 5)), _layernorm, triton=True),
    Spelling("groupnorm", """def f(float(N,G,D,H,W) x, float(G,D) gamma, float(G,D) beta) -> (y) {
    mean(n,g) = x(n,g,d,h,w) / (D * H * W)
    var(n,g) = (x(n,g,d,h,w) - mean(n,g)) * (x(n,g,d,h,w) - mean(n,g)) / (D * H * W)
    y(n,g,d,h,w) = (x(n,g,d,h,w) - mean(n,g)) * rsqrt(var(n,g) + 1e-5) * gamma(g,d) + beta(g,d)
}""", lambda r: (f32(r, 2, 3, 2, 3, 4), f32(r, 3, 2), f32(r, 3, 2)), _groupnorm),
    Spelling("gather-rows", "def f(float(V,D) T, int32(L) idx) -> (o) { o(l,d) = T(idx(l), d) }",
             lambda r: (f32(r, 6, 4), np.array([5, 0, 2, 2], np.int32)), lambda t, i: (t[i],), triton=True),
    Spelling("embedding-bag-sum", "def f(float(V,D) T, int32(B,L) idx) -> (o) { o(b,d) = T(idx(b,l), d) }",
             lambda r: (f32(r, 6, 4), r.integers(0, 6, (3, 4)).astype(np.int32)),
             lambda t, i: (t[i].sum(1),)),
    Spelling("embedding-bag-mean", "def f(float(V,D) T, int32(B,L) idx) -> (o) { o(b,d) = T(idx(b,l), d) / L }",
             lambda r: (f32(r, 6, 4), r.integers(0, 6, (3, 4)).astype(np.int32)),
             lambda t, i: (t[i].mean(1),)),
    Spelling("fcrelu-explicit", """def f(float(B,M) x, float(N,M) w, float(N) b) -> (y) {
    y(i,n) = fmax(sum(m: x(i,m) * w(n,m)) + b(n), 0)
}""", lambda r: (f32(r, 3, 4), f32(r, 5, 4), f32(r, 5)), lambda x, w, b: (np.maximum(x @ w.T + b, 0),)),
    Spelling("fc-bias-implicit", "def f(float(B,M) x, float(N,M) w, float(N) b) -> (y) { y(i,n) = x(i,m) * w(n,m) + b(n) }",
             lambda r: (f32(r, 3, 4), f32(r, 5, 4), f32(r, 5)), lambda x, w, b: (x @ w.T + b,)),
    Spelling("count-positive-explicit", "def f(float(N,M) x) -> (c) { c(i) = sum(j: x(i,j) > 0 ? 1 : 0) }",
             lambda r: (f32(r, 5, 6),), lambda x: ((x > 0).sum(1),), ("int32",)),
    Spelling("accuracy", """def f(float(N,C) logits, int64(N) label) -> (acc) {
    pred(i) = argmax(c: logits(i,c))
    acc = sum(i: pred(i) == label(i) ? 1.0 : 0.0) / N
}""", lambda r: (f32(r, 8, 4), r.integers(0, 4, 8)), lambda lg, lb: (np.mean(lg.argmax(1) == lb),)),
    Spelling("relu-sum-ternary", "def f(float(N,M) x) -> (s) { s(i) = x(i,j) > 0 ? x(i,j) : 0.0 }",
             lambda r: (f32(r, 5, 6),), lambda x: (np.maximum(x, 0).sum(1),)),
    Spelling("sum-where-value-mask", "def f(float(N,M) x) -> (s) { s(i) = x(i,j) where x(i,j) > 0 }",
             lambda r: (f32(r, 5, 6),), lambda x: (np.maximum(x, 0).sum(1),)),
]  # fmt: skip


def _scores(q, k):
    return q @ k.T


CAUSAL_TEMP = "    s(i,j) = q(i,d) * k(j,d) where j <= i\n"
MASKED_READERS = [
    Spelling("masked-temp-" + name, f"""def f(float(N,D) q, float(M,D) k, float(M,E) v) -> ({out}) {{
{CAUSAL_TEMP}    {body}
}}""", _qkv, ref, dtypes)
    for name, out, body, ref, dtypes in [
        ("argmax", "a", "a(i) = argmax(j: s(i,j))",
         lambda q, k, v: (np.where(CAUSAL(q, k, v), _scores(q, k), -np.inf).argmax(1),), ("int64",)),
        ("kmax-via-kmin", "a", "a(i,r) = kmin(j: -s(i,j), 2)",
         lambda q, k, v: (np.sort(np.where(CAUSAL(q, k, v), -_scores(q, k), np.inf), 1)[:, :2],),
         ("float32",)),
        ("tc-sum-reduction", "o", "o(i,e) +=! s(i,j) * v(j,e)",
         lambda q, k, v: (np.where(CAUSAL(q, k, v), _scores(q, k), 0) @ v,), ("float32",)),
        ("tc-max-reduction", "m", "m(i) max=! s(i,j)",
         lambda q, k, v: (np.where(CAUSAL(q, k, v), _scores(q, k), -np.inf).max(1),), ("float32",)),
        ("logsumexp", "m", "m(i) = logsumexp(j: s(i,j))",
         lambda q, k, v: (np.log(np.where(CAUSAL(q, k, v), np.exp(_scores(q, k)), 0).sum(1)),),
         ("float32",)),
        ("implicit-sum-plus-bias", "o", "o(i,e) = s(i,j) * v(j,e) + 1.5",
         lambda q, k, v: (np.where(CAUSAL(q, k, v), _scores(q, k), 0) @ v + 1.5,), ("float32",)),
    ]
]  # fmt: skip
MASKED_READERS.append(Spelling("masked-temp-value-condition", """def f(float(N,D) q, float(M,D) k) -> (c) {
    s(i,j) = q(i,d) * k(j,d) where q(i,0) * k(j,0) > 0
    c(i) = sum(j: s(i,j))
}""", lambda r: _qkv(r)[:2],
    lambda q, k: (np.where(np.outer(q[:, 0], k[:, 0]) > 0, _scores(q, k), 0).sum(1),)))  # fmt: skip

SPELLINGS = KERNELS + ATTENTION + GRAM_FAMILY + NETWORKS + CLASSICS + MASKED_READERS


def _check(s: Spelling, backend: str) -> None:
    args = s.make(np.random.default_rng(11))
    want = s.ref(*(f64(a) if isinstance(a, np.ndarray | np.floating) else a for a in args))
    check(run(s.src, backend, *args), want, s.dtypes, f"{s.id} on {backend}")


KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _params():
    for s, backend in itertools.product(SPELLINGS, ["interp", "loops", "cpu"]):
        reason = KNOWN_BUGS.get((s.id, backend))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(s, backend, marks=marks, id=f"{s.id}-{backend}")


@pytest.mark.parametrize("s, backend", list(_params()))
def test_natural_spelling(s, backend):
    _check(s, backend)


@pytest.mark.parametrize("s", [s for s in SPELLINGS if s.triton], ids=lambda s: s.id)
def test_natural_spelling_triton(s):
    _check(s, "triton")


# --- an implicit index only inside a nonlinear function asks which sum was meant -------------------
@pytest.mark.parametrize(
    "src, index, fn",
    [
        pytest.param("""def f(float(N,D) x, float(M,D) y) -> (out) {
    d2(i,j) = (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))
    out(i) = exp(-d2(i,j))
}""", "j", "exp", id="kernel-sum-without-weights"),
        pytest.param("""def f(float(N,D) x, float gamma) -> (k) {
    k(i,j) = exp(-gamma * (x(i,d) - x(j,d)) * (x(i,d) - x(j,d)))
}""", "d", "exp", id="rbf-gram-d-inside-exp"),
        pytest.param("""def f(float(B,M) x, float(N,M) w, float(N) b) -> (y) {
    y(i,n) = relu(x(i,m) * w(n,m) + b(n))
}""", "m", "relu", id="fcrelu-one-statement"),
        pytest.param("""def f(float(N,D) x) -> (y) {
    y(i,e) = x(i,e) / sqrt(x(i,c) * x(i,c))
}""", "c", "sqrt", id="l2-normalise"),
        pytest.param("""def f(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) B) -> (O) {
    O(n,m,h,w) = fmax(I(n,c,h + kh,w + kw) * W1(m,c,kh,kw) + B(m), 0)
}""", "c", "fmax", id="conv-relu-one-statement"),
    ],
)  # fmt: skip
def test_index_only_inside_a_nonlinearity_is_an_error(src, index, fn):
    with pytest.raises(StatementError) as info:
        tensorc.compile(src, backend="interp")
    text = str(info.value)
    assert f"implicit index '{index}'" in text and "^" in text and "<string>:" in text
    assert f"sum({index}: {fn}(" in text or f"sum({index}, " in text, text
    assert f"{fn}(sum(" in text, text


# --- weak scalars: indices, sizes and literals never widen a tensor's dtype ----------------------
WEAK_OK = [
    ("float32", "a(i) * (i - 2) * (i - 2)", "float32"), ("float32", "a(i) * (i % 2)", "float32"),
    ("float32", "a(i) * (i / 2)", "float32"), ("float32", "a(i) * sqrt(i)", "float32"),
    ("float32", "a(i) * exp(-0.5 * i)", "float32"), ("float32", "a(i) * float(i)", "float32"),
    ("float32", "a(i) * (i < 2 ? 1 : -1)", "float32"), ("float32", "a(i) / N", "float32"),
    ("float32", "a(i) + sum(j: 1) where j in 0:3", "float32"),
    ("float16", "a(i) * (i < 2 ? 1.0 : -1.0)", "float16"), ("float16", "a(i) * 0.5 + N", "float16"),
    ("float16", "a(i) / N", "float16"), ("float16", "a(i) - 1e-3 * i", "float16"),
    ("float64", "a(i) * (i < 2 ? 1.0 : -1.0)", "float64"), ("float64", "a(i) * sqrt(N)", "float64"),
    ("int32", "a(i) * 2 + i", "int32"), ("int32", "a(i) + N", "int32"), ("int32", "a(i) % 3", "int32"),
    ("int32", "abs(a(i) - 2)", "int32"), ("int32", "max(a(i), 2)", "int32"),
    ("int32", "a(i) * abs(i - 2)", "int32"), ("int8", "a(i) + i", "int8"),
    (None, "i * 2 + 1", "int32"), (None, "abs(i - 2)", "int32"), (None, "min(i, 2)", "int32"),
    (None, "N - i", "int32"), (None, "i * 0.5", "float32"), (None, "1.0 / (1 + i)", "float32"),
    (None, "exp(-0.5 * i)", "float32"), (None, "float32(i) * 0.5", "float32"),
]  # fmt: skip
WEAK_BUILTINS = [  # builtins of weak values stay weak (frontend/exprs.py)
    ("float32", "a(i) * abs(i - 2)", "float32"), ("float32", "a(i) * min(i, 2)", "float32"),
    ("float32", "a(i) * max(i, 2)", "float32"), ("float32", "a(i) * sign(i - 2)", "float32"),
    ("float32", "a(i) + clamp(i, 1, 3)", "float32"), ("float32", "a(i) * relu(i - 2)", "float32"),
    ("float32", "a(i) * fmax(i, 1)", "float32"), ("float32", "a(i) * pow(2, i)", "float32"),
    ("float32", "a(i) * abs(N - i)", "float32"), ("float16", "a(i) * sqrt(N)", "float16"),
    ("float16", "a(i) * exp(-0.5 * i)", "float16"),
]  # fmt: skip


def _weak_params():
    for dt, rhs, want in WEAK_OK:
        yield pytest.param(dt, rhs, want, id=f"{dt}:{rhs}")
    for dt, rhs, want in WEAK_BUILTINS:
        yield pytest.param(dt, rhs, want, id=f"{dt}:{rhs}")


@pytest.mark.parametrize("dtype, rhs, want", list(_weak_params()))
def test_weak_scalar_dtype(dtype, rhs, want):
    tc_type = {"float32": "float", "float16": "half", "float64": "double", "int32": "int32",
               "int8": "int8", None: "float"}[dtype]  # fmt: skip
    where = "" if "where" in rhs or dtype else " where i in 0:N"
    src = f"def f({tc_type}(N) a) -> (o) {{ o(i) = {rhs}{where} }}"
    a = (np.arange(5) - 2).astype(np.dtype(dtype or "float32"))
    for backend in ("interp", "cpu"):
        out = run(src, backend, a)
        assert out.dtype == np.dtype(want), f"{rhs} on {backend}: {out.dtype}, expected {want}"


def test_symmetric_alibi_stays_float32():
    """`slope * abs(i - j)` (symmetric ALiBi): the whole attention came back float64."""
    src = """def f(float(N,D) q, float(M,D) k, float(M,E) v, float slope) -> (o) {
    s(i,j) = q(i,d) * k(j,d) * 0.5 - slope * abs(i - j)
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}"""
    q, k, v = _qkv(np.random.default_rng(3))
    i, j = tri(7)
    want = softmax(f64(q) @ f64(k).T * 0.5 - 0.3 * abs(i - j)) @ f64(v)
    check(run(src, "interp", q, k, v, np.float32(0.3)), (want,), ("float32",), "alibi-abs")


# --- known bugs, each a minimal program --------------------------------------------------------
CAUSAL_CONV = """def f(float(T) x, float(K) w) -> (y) {
    y(t) = t - k >= 0 ? x(t - k) * w(k) : 0.0 where t in 0:T
}"""


def test_guarded_read_does_not_shrink_a_range():
    """The natural causal convolution. (TC's `+=!` form of it shrinks k the same way in TC
    itself, whose inference ignores conditions: a fix may keep that for `+=!` or warn.)"""
    x, w = np.arange(1, 9, dtype=np.float32), np.array([1, 10, 100], np.float32)
    want = np.array([sum(x[t - k] * w[k] for k in range(3) if t >= k) for t in range(8)])
    check(run(CAUSAL_CONV, "interp", x, w), (want,), ("float32",), "causal conv")


def test_sum_inside_a_guarded_branch_reads_in_bounds_on_loops():
    """passes/guard_reductions.py: a sum in a ?: branch runs only where the branch is taken."""
    src = """def f(float(C,T) x, float(C,K) w) -> (y) {
    y(t) = sum(k: t - k >= 0 ? sum(c: x(c, t - k) * w(c, k)) : 0.0) where t in 0:T, k in 0:K
}"""
    x, w = f32(np.random.default_rng(1), 2, 6), f32(np.random.default_rng(2), 2, 3)
    want = np.array(
        [sum(f64(x)[:, t - k] @ f64(w)[:, k] for k in range(3) if t >= k) for t in range(6)]
    )
    check(run(src, "loops", x, w), (want,), ("float32",), "guarded nested sum")


@pytest.mark.parametrize("rhs", ["x(i,j) > 0 ? 1 : 0", "int32(x(i,j) > 0)"])
def test_implicit_index_inside_a_comparison_asks(rhs):
    """`x(i,j) > 0 ? 1 : 0`: a count, or a test of the row sum? Either is written out."""
    with pytest.raises(StatementError, match="implicit index 'j'"):
        tensorc.compile(f"def f(float(N,M) x) -> (c) {{ c(i) = {rhs} }}", backend="interp")


# A hoisted accumulator over an LHS index beyond the specialised sizes (> 16): its width is a
# constexpr set at launch (it was "local array needs a constant shape").
def test_key_padding_attention_head_dim_17_on_triton():
    s = next(s for s in ATTENTION if s.id == "attn-key-padding-lengths")
    q, k, v = _bqkv(np.random.default_rng(4), n=5, d=4, e=17)
    lens = np.array([2, 5], np.int32)
    mask = np.arange(5)[None, None, None] < lens[:, None, None, None]
    want = _battn(f64(q), f64(k), f64(v), 0.5, mask)
    check(run(s.src, "triton", q, k, v, lens), (want,), ("float32",), "key padding E=17")


def test_centered_gram_n_17_on_triton():
    s = next(s for s in GRAM_FAMILY if s.id == "centered-gram")
    x = f32(np.random.default_rng(4), 17, 3)
    g = f64(x) @ f64(x).T
    want = g - g.mean(1, keepdims=True) - g.mean(0, keepdims=True) + g.mean()
    check(run(s.src, "triton", x), (want,), ("float32",), "centered gram N=17")


GUARDED_PROBE = '''
import ctypes, mmap, numpy as np, tensorc
page = mmap.PAGESIZE
buf = mmap.mmap(-1, 3 * page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
libc = ctypes.CDLL(None)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
assert libc.mprotect(base, page, 0) == 0  # the page just before x: any read there faults
x = np.frombuffer(buf, dtype=np.float32, count=8, offset=page).reshape(1, 8)
x[:] = 1
src = """def f(float(C,T) x, float(C,K) w) -> (y) {
    y(t) = sum(k: t - k >= 0 ? sum(c: x(c, t - k) * w(c, k)) : 0.0) where t in 0:T, k in 0:K
}"""
print(tensorc.compile(src, backend="cpu").f(x, np.ones((1, 3), np.float32)).tolist())
'''


def test_sum_inside_a_guarded_branch_reads_in_bounds_on_cpu():
    """x sits right after a page with no access: the cpu kernel must not read before x."""
    import subprocess
    import sys

    if not tensorc.backends.get_backend("cpu").available():
        pytest.skip("cpu backend not available")
    cmd = [sys.executable, "-c", GUARDED_PROBE]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"rc {proc.returncode} (SIGSEGV is -11): {proc.stderr[-300:]}"
    assert proc.stdout.strip() == "[1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]"


def test_exposing_a_masked_score_tensor_keeps_the_attention():
    """Listing the masked scores as an output changes neither them nor the attention."""
    src = """def f(float(N,D) q, float(N,D) k, float(N,E) v) -> (s, o) {
    s(i,j) = q(i,d) * k(j,d) where j <= i
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}"""
    q, k, v = _qkv(np.random.default_rng(5), n=5, m=5)
    i, j = tri(5)
    scores = f64(q) @ f64(k).T
    want = (np.where(j <= i, scores, 0), attn(f64(q), f64(k), f64(v), 1.0, j <= i))
    check(run(src, "interp", q, k, v), want, ("float32",) * 2, "exposed scores")


@pytest.mark.parametrize(
    "src",
    [
        "def f(float(N,M) K, float(M) v, float(N) a) -> (u) { u(i) = a(i) / (K(i,j) * v(j)) }",
        "def f(float(N,D) x) -> (y) { y(i,e) = x(i,e) / (x(i,c) * x(i,c)) }",
        (
            "def f(float(N,D) pq, float(D,E) kv, float(D) ks) -> (o) "
            "{ o(i,e) = pq(i,d) * kv(d,e) / (pq(i,c) * ks(c)) }"
        ),
    ],
    ids=["sinkhorn", "normalise", "linear-attention"],
)
def test_implicit_index_only_in_a_denominator_sums_the_quotient(src):
    """Decided (LANGUAGE.md 2, the spec's rule): an index only in a denominator sums the quotient,
    silently — `sum(j: q(i) / |x(i) - y(j)|)` is a Coulomb-style kernel sum, a spelling users mean.
    A ratio of sums is written with an explicit sum in the denominator."""
    import warnings

    from tensorc.frontend import parse_program
    from tensorc.ir.printer import print_def

    with warnings.catch_warnings():
        warnings.simplefilter("error", TensorcWarning)
        text = print_def(parse_program(src).defs[0])
    body = text.splitlines()[-2]
    assert " = sum(" in body and "/ sum(" not in body, body  # the quotient is summed


def test_index_valued_temporary_is_a_strong_int32_tensor():
    """Decided (LANGUAGE.md 5): only literals, indices and sizes are weak; a temporary holding
    index values (`dist(i,j) = abs(i - j)`) is an int32 tensor, and float32 * int32 tensors promote
    as in numpy (float64). Write `float32(abs(i - j))` or use the expression inline to stay float32."""
    src = """def f(float(N,D) q, float(N,D) k, float(N,E) v, float slope) -> (o) {
    dist(i,j) = abs(i - j) where i in 0:N, j in 0:N
    s(i,j) = q(i,d) * k(j,d) - slope * dist(i,j)
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}"""
    q, k, v = _qkv(np.random.default_rng(6), n=6, m=6)
    i, j = tri(6)
    want = softmax(f64(q) @ f64(k).T - 0.3 * abs(i - j)) @ f64(v)
    check(run(src, "interp", q, k, v, np.float32(0.3)), (want,), ("float64",), "dist temp")
    inline = src.replace("- slope * dist(i,j)", "- slope * abs(i - j)")
    check(run(inline, "interp", q, k, v, np.float32(0.3)), (want,), ("float32",), "inline dist")


@pytest.mark.parametrize("spelling", ["w4-reader-mask", "w4-temp-mask"])
def test_causal_attention_batch_17_head_dim_17_on_triton(spelling):
    """W4 with batch B = 17 and head dim E = 17 (both beyond the specialised sizes)."""
    from support import attention_source

    if spelling == "w4-reader-mask":
        src, name, extra = attention_source(2), "causal", (np.float32(0.5),)
    else:
        src = next(s for s in ATTENTION if s.id == "attn-bh-causal-temp").src
        name, extra = "f", ()
    q, k, v = _bqkv(np.random.default_rng(8), b=17, h=1, n=5, d=4, e=17)
    want = _battn(f64(q), f64(k), f64(v), 0.5, tri(5)[1] <= tri(5)[0])
    pytest.importorskip("triton")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TensorcWarning)
        got = getattr(tensorc.compile(src, backend="triton"), name)(q, k, v, *extra)
    check(got, (want,), ("float32",), f"{spelling} B=17 E=17")


# --- masks travel: every mask x every reader x read transposed or not --------------------------
_MT = np.random.default_rng(12)
MA, MB, MV = (_MT.standard_normal(s).astype(np.float32) for s in [(6, 3), (6, 3), (6, 2)])
_I, _J = tri(6)
TEMP_MASKS = {
    "j <= i": _J <= _I, "j >= i": _J >= _I, "abs(i - j) <= 1": abs(_I - _J) <= 1, "j < i": _J < _I,
    "A(i,0) * B(j,0) > 0": np.outer(MA[:, 0], MB[:, 0]) > 0,
}  # fmt: skip


def _masked_softmax(s, m):
    w = np.where(
        m, np.exp(np.where(m, s, -np.inf) - np.where(m, s, -np.inf).max(1, keepdims=True)), 0
    )
    return w / np.where(w.sum(1, keepdims=True) == 0, 1, w.sum(1, keepdims=True))


TEMP_READERS = {  # body with s(i,j), numpy of (scores, mask) in the reader's orientation
    "sum": ("o(i,e) = sum(j: s(i,j) * v(j,e))", lambda s, m: np.where(m, s, 0) @ f64(MV)),
    "implicit": ("o(i,e) = s(i,j) * v(j,e)", lambda s, m: np.where(m, s, 0) @ f64(MV)),
    "max": ("o(i) = max(j: s(i,j))", lambda s, m: np.where(m, s, -np.inf).max(1)),
    "min": ("o(i) = min(j: s(i,j))", lambda s, m: np.where(m, s, np.inf).min(1)),
    "logsumexp": ("o(i) = logsumexp(j: s(i,j))",
                  lambda s, m: np.log(np.where(m, np.exp(s), 0).sum(1))),
    "softmax": ("o(i,e) = softmax(j: s(i,j)) * v(j,e)", lambda s, m: _masked_softmax(s, m) @ f64(MV)),
    "argmax": ("o(i) = argmax(j: s(i,j))",
               lambda s, m: np.where(m.any(1), np.where(m, s, -np.inf).argmax(1), -1)),
    "tc-sum": ("o(i,e) +=! s(i,j) * v(j,e)", lambda s, m: np.where(m, s, 0) @ f64(MV)),
}  # fmt: skip


def _temp_mask_params():
    for (mask, reader, transposed), backend in itertools.product(
        itertools.product(TEMP_MASKS, TEMP_READERS, [False, True]), ["interp", "loops", "cpu"]
    ):
        if backend != "cpu" or not transposed:  # cpu: the plain orientation only (compile time)
            yield pytest.param(mask, reader, transposed, backend,
                               id=f"{reader}-{mask}-{'ji' if transposed else 'ij'}-{backend}")  # fmt: skip


@pytest.mark.parametrize("mask, reader, transposed, backend", list(_temp_mask_params()))
def test_mask_travels_from_a_temporary(mask, reader, transposed, backend):
    body, ref = TEMP_READERS[reader]
    body = body.replace("s(i,j)", "s(j,i)") if transposed else body
    src = f"""def f(float(N,D) A, float(N,D) B, float(N,E) v) -> (o) {{
    s(i,j) = A(i,d) * B(j,d) where {mask}
    {body}
}}"""
    s, m = f64(MA) @ f64(MB).T, TEMP_MASKS[mask]
    with np.errstate(all="ignore"):
        want = ref(s.T, m.T) if transposed else ref(s, m)
    got = np.asarray(run(src, backend, MA, MB, MV))
    assert got.shape == want.shape and got.dtype == (np.int64 if reader == "argmax" else np.float32)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(np.isfinite(got), finite)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-4)
