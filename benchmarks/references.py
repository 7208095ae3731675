"""float64 numpy references, computed on a random subsample of output rows for the huge cases.

Independent of every implementation under test: masks come from index arithmetic, not from the
`mask` input the dense comparators use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from benchmarks.spec import Inputs

_CHUNK = 1 << 24  # float64 elements per temporary block


def _f64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def sqdist_blocks(x: np.ndarray, y: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """Exact float64 |x_i - y_j|^2 in row blocks (direct differences for small D)."""
    x, y = _f64(x), _f64(y)
    n, d = x.shape
    rows = max(1, _CHUNK // max(1, y.shape[0] * (d if d <= 16 else 1)))
    yy = np.einsum("ij,ij->i", y, y)
    for s in range(0, n, rows):
        xs = x[s : s + rows]
        if d <= 16:
            d2 = ((xs[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        else:
            d2 = np.maximum(np.einsum("ij,ij->i", xs, xs)[:, None] + yy[None, :] - 2 * xs @ y.T, 0)
        yield slice(s, s + rows), d2


def ksum(inp: Inputs, rows: np.ndarray) -> np.ndarray:
    x, b = inp["x"][rows], _f64(inp["b"])
    c = 1.0 / (2 * float(inp["sigma"]) ** 2)
    out = np.empty((len(rows), b.shape[1]))
    for sl, d2 in sqdist_blocks(x, inp["y"]):
        out[sl] = np.exp(-d2 * c) @ b
    return out


def nn_distances(inp: Inputs, rows: np.ndarray) -> np.ndarray:
    """The whole float64 distance rows: the check accepts any index at the minimum (ties)."""
    return np.concatenate([d2 for _, d2 in sqdist_blocks(inp["x"][rows], inp["y"])])


def compare_argmin(res: np.ndarray, d2: np.ndarray, inp: Inputs, rows: Any) -> tuple[bool, float]:
    """ok when each chosen j is within fp32 rounding of the true minimum distance."""
    res = np.asarray(res)
    if res.shape != (d2.shape[0],) or not np.issubdtype(res.dtype, np.integer):
        raise AssertionError(
            f"expected int indices of shape {(d2.shape[0],)}, got {res.dtype}{res.shape}"
        )
    if np.any((res < 0) | (res >= d2.shape[1])):
        return False, float("inf")
    best = d2.min(axis=1)
    chosen = d2[np.arange(len(res)), res]
    scale = max(float(np.max(np.abs(_f64(inp["x"])))), 1.0) ** 2
    excess = float(np.max(chosen - best)) / scale
    return excess <= 1e-5, excess


def softmin(inp: Inputs, rows: np.ndarray) -> np.ndarray:
    g, eps = _f64(inp["g"]), float(inp["eps"])
    out = np.empty(len(rows))
    for sl, d2 in sqdist_blocks(inp["x"][rows], inp["y"]):
        z = (g[None, :] - d2) / eps
        m = z.max(axis=1)
        out[sl] = -eps * (m + np.log(np.exp(z - m[:, None]).sum(axis=1)))
    return out


def attention(inp: Inputs, rows: np.ndarray, causal: bool = False, W: int | None = None):
    q, k, v = inp["q"], inp["k"], inp["v"]
    scale = float(inp["scale"])
    i = rows[:, None]
    j = np.arange(k.shape[-2])[None, :]
    keep = np.ones((len(rows), k.shape[-2]), bool)
    if causal:
        keep &= j <= i
    if W is not None:
        keep &= np.abs(i - j) <= W
    out = np.empty(q.shape[:2] + (len(rows), v.shape[-1]))
    for b in range(q.shape[0]):  # one batch at a time bounds the float64 temporaries
        s = _f64(q[b][:, rows]) @ _f64(k[b]).swapaxes(-1, -2) * scale
        s = np.where(keep, s, -np.inf)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        out[b] = (s / s.sum(axis=-1, keepdims=True)) @ _f64(v[b])
    return out


def linear_attention(inp: Inputs, rows: np.ndarray) -> np.ndarray:
    q, k, v = (_f64(inp[n]) for n in ("q", "k", "v"))
    pq = np.where(q[:, :, rows] > 0, q[:, :, rows] + 1, np.exp(np.minimum(q[:, :, rows], 0)))
    pk = np.where(k > 0, k + 1, np.exp(np.minimum(k, 0)))
    num = np.einsum("bhid,bhjd,bhje->bhie", pq, pk, v, optimize=True)
    den = np.einsum("bhid,bhjd->bhi", pq, pk, optimize=True)
    return num / den[..., None]


def gram(inp: Inputs, rows: np.ndarray) -> np.ndarray:
    x = _f64(inp["x"])
    return x[rows] @ x.T


def rbf_gram(inp: Inputs, rows: np.ndarray) -> np.ndarray:
    gamma = float(inp["gamma"])
    return np.concatenate(
        [np.exp(-gamma * d2) for _, d2 in sqdist_blocks(inp["x"][rows], inp["x"])]
    )


def gemm(inp: Inputs, rows: np.ndarray) -> np.ndarray:
    return _f64(inp["A"][rows]) @ _f64(inp["B"])


def mmd(inp: Inputs, rows: None) -> np.ndarray:
    gamma = float(inp["gamma"])

    def kmean(a, b):
        return sum(float(np.exp(-gamma * d2).sum()) for _, d2 in sqdist_blocks(a, b)) / (
            len(a) * len(b)
        )

    x, y = inp["x"], inp["y"]
    return np.array(kmean(x, x) + kmean(y, y) - 2 * kmean(x, y))


def einsum(eq: str, args: tuple[str, ...]):
    def ref(inp: Inputs, rows: None) -> np.ndarray:
        import opt_einsum as oe

        return oe.contract(eq, *[_f64(inp[n]) for n in args], optimize="dp")

    return ref
