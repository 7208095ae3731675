"""Independent numpy references for every def in examples/*.tc, written by hand in float64.

One function per def, named after it, taking the def's inputs positionally (arrays already
converted to float64 where they are floats, index arrays as they are) and returning the outputs
in declared order (a tuple when there are several). Nothing here imports tensorc: these are the
oracle the compiler is checked against, so they must not share its code.
"""

from __future__ import annotations

import numpy as np


def _sqdist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|x_i - y_j|^2 for all pairs, by explicit differences (no expansion, no cancellation)."""
    diff = x[:, None, :] - y[None, :, :]
    return np.sum(diff * diff, axis=-1)


def _softmax_masked(s: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Softmax over the last axis restricted to `mask` (masked entries get weight 0)."""
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    p = np.exp(s - m)
    return p / np.sum(p, axis=-1, keepdims=True)


# --- W1 ------------------------------------------------------------------------------------
def gauss_ksum(x, y, b, sigma):
    k = np.exp(-_sqdist(x, y) / (2.0 * sigma * sigma))
    return k @ b


# --- W2 ------------------------------------------------------------------------------------
def nn(x, y):
    return np.argmin(_sqdist(x, y), axis=1).astype(np.int64)


def knn(x, y, k=5):
    # stable sort: equal distances keep increasing j (ties -> smallest index first)
    return np.argsort(_sqdist(x, y), axis=1, kind="stable")[:, :k].astype(np.int64)


def knn_dist(x, y, k=5):
    return np.sort(_sqdist(x, y), axis=1)[:, :k]


# --- W3 ------------------------------------------------------------------------------------
def softmin(x, y, g, eps):
    z = (g[None, :] - _sqdist(x, y)) / eps
    m = np.max(z, axis=1, keepdims=True)
    return -eps * (m[:, 0] + np.log(np.sum(np.exp(z - m), axis=1)))


# --- W4 / W5 -------------------------------------------------------------------------------
def _attention(q, k, v, scale, mask_fn=None):
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    n, m = s.shape[-2:]
    i = np.arange(n)[:, None]
    j = np.arange(m)[None, :]
    mask = None if mask_fn is None else mask_fn(i, j)
    p = _softmax_masked(s, mask)
    return np.einsum("bhij,bhje->bhie", p, v)


def attention(q, k, v, scale):
    return _attention(q, k, v, scale, lambda i, j: j <= i)


def attention_full(q, k, v, scale):
    return _attention(q, k, v, scale)


def window_attention(q, k, v, scale, W):
    return _attention(q, k, v, scale, lambda i, j: np.abs(i - j) <= W)


def causal_window_attention(q, k, v, scale, W):
    return _attention(q, k, v, scale, lambda i, j: (j <= i) & (i - j <= W))


# --- W6 ------------------------------------------------------------------------------------
def _elu1(x):
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def linear_attention(q, k, v):
    # quadratic form on purpose: an independent association from the one the compiler picks
    a = np.einsum("bhid,bhjd->bhij", _elu1(q), _elu1(k))
    return np.einsum("bhij,bhje->bhie", a, v) / np.sum(a, axis=-1)[..., None]


def linear_attention_relu(q, k, v):
    a = np.einsum("bhid,bhjd->bhij", np.maximum(q, 0), np.maximum(k, 0))
    return np.einsum("bhij,bhje->bhie", a, v) / (np.sum(a, axis=-1)[..., None] + 1e-6)


# --- W7 ------------------------------------------------------------------------------------
def gram(x):
    return x @ x.T


def rbf_gram(x, gamma):
    return np.exp(-gamma * _sqdist(x, x))


# --- W8 ------------------------------------------------------------------------------------
def mmd2(x, y, gamma):
    kxx = np.exp(-gamma * _sqdist(x, x)).mean()
    kyy = np.exp(-gamma * _sqdist(y, y)).mean()
    kxy = np.exp(-gamma * _sqdist(x, y)).mean()
    return np.asarray(kxx + kyy - 2.0 * kxy)


# --- W9 ------------------------------------------------------------------------------------
def tucker_core(T, U1, U2, U3):
    # mode products one at a time, by tensordot
    G = np.tensordot(T, U1, axes=([0], [0]))  # (J, K, R)
    G = np.tensordot(G, U2, axes=([0], [0]))  # (K, R, S)
    G = np.tensordot(G, U3, axes=([0], [0]))  # (R, S, P)
    return G


def _mps_state(cores):
    """Dense state vector of an open MPS: cores (P,X1), (X1,P,X2), ..., (Xn,P)."""
    psi = cores[0]  # (P, X1): physical indices so far x bond
    for core in cores[1:-1]:
        psi = np.einsum("...a,apb->...pb", psi, core)
    return np.einsum("...a,ap->...p", psi, cores[-1])


def mps_overlap(A1, A2, A3, A4, B1, B2, B3, B4):
    a = _mps_state([A1, A2, A3, A4])
    b = _mps_state([B1, B2, B3, B4])
    return np.asarray(np.sum(a * b))


def mps_norm6(A1, A2, A3, A4, A5, A6):
    a = _mps_state([A1, A2, A3, A4, A5, A6])
    return np.asarray(np.sum(a * a))


def batched_bilinear(x, W, y):
    return np.matmul(np.matmul(x, W), y)


# --- W10 -----------------------------------------------------------------------------------
def conv_strided(I, W1, sh=2, sw=2):
    n, _, h, w = I.shape
    m, _, kh, kw = W1.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, m, ho, wo))
    for y in range(ho):
        for x in range(wo):
            patch = I[:, :, y * sh : y * sh + kh, x * sw : x * sw + kw]  # (n, c, kh, kw)
            out[:, :, y, x] = np.tensordot(patch, W1, axes=([1, 2, 3], [1, 2, 3]))
    return out


def maxpool(I, k=2, s=2):
    b, c, h, w = I.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    out = np.full((b, c, ho, wo), -np.inf)
    for y in range(ho):
        for x in range(wo):
            out[:, :, y, x] = I[:, :, y * s : y * s + k, x * s : x * s + k].max(axis=(2, 3))
    return out


def softmax(I):
    e = np.exp(I - I.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fcrelu(I, W1, B1):
    return np.maximum(I @ W1.T + B1, 0.0)


def group_norm(I, gamma, beta):
    mean = I.mean(axis=(2, 3, 4), keepdims=True)
    var = I.var(axis=(2, 3, 4), keepdims=True)
    return (
        gamma[None, :, :, None, None] * (I - mean) / np.sqrt(var + 1e-5)
        + beta[None, :, :, None, None]
    )


def gather(T, idx):
    return T[idx.astype(np.int64)]
