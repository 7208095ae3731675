"""The fused competitors for kernel sums: numba prange loops and pykeops LazyTensors.

Both stream over j without storing the N x M matrix, which is what tensorc does, so they are the
comparison that matters for W1-W3 and W8. numba is written as a user would: one `prange` over i,
plain loops inside, `fastmath=True` (so no -inf sentinels: fastmath assumes finite values).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.spec import Env, Impl, Inputs, Sizes, Skip

_BIG = np.float32(3.0e38)

# ----------------------------------------------------------------------------------------------
# numba


@functools.cache
def _numba_kernels() -> dict[str, Callable]:
    try:
        from numba import njit, prange
    except Exception as err:  # noqa: BLE001 - ImportError, or a numba/llvmlite clash
        raise Skip(f"numba unavailable ({type(err).__name__}: {err})") from None

    @njit(parallel=True, fastmath=True, cache=True)
    def ksum(x, y, b, c):
        n, dim = x.shape
        m, e_dim = y.shape[0], b.shape[1]
        out = np.zeros((n, e_dim), np.float32)
        for i in prange(n):
            for j in range(m):
                d2 = np.float32(0.0)
                for d in range(dim):
                    t = x[i, d] - y[j, d]
                    d2 += t * t
                k = np.exp(-d2 * c)
                for e in range(e_dim):
                    out[i, e] += k * b[j, e]
        return out

    @njit(parallel=True, fastmath=True, cache=True)
    def nn(x, y):
        n, dim = x.shape
        m = y.shape[0]
        out = np.empty(n, np.int64)
        for i in prange(n):
            best = _BIG
            arg = -1
            for j in range(m):
                d2 = np.float32(0.0)
                for d in range(dim):
                    t = x[i, d] - y[j, d]
                    d2 += t * t
                if d2 < best:
                    best = d2
                    arg = j
            out[i] = arg
        return out

    @njit(parallel=True, fastmath=True, cache=True)
    def softmin(x, y, g, eps):
        # two passes over j (max, then sum of exp): both vectorise, unlike an online rescale
        n, dim = x.shape
        m = y.shape[0]
        inv = np.float32(1.0) / eps
        out = np.empty(n, np.float32)
        for i in prange(n):
            mx = -_BIG
            for j in range(m):
                d2 = np.float32(0.0)
                for d in range(dim):
                    t = x[i, d] - y[j, d]
                    d2 += t * t
                mx = max(mx, (g[j] - d2) * inv)
            s = np.float32(0.0)
            for j in range(m):
                d2 = np.float32(0.0)
                for d in range(dim):
                    t = x[i, d] - y[j, d]
                    d2 += t * t
                s += np.exp((g[j] - d2) * inv - mx)
            out[i] = -eps * (mx + np.log(s))
        return out

    @njit(parallel=True, fastmath=True, cache=True)
    def kmean(x, y, gamma):
        n, dim = x.shape
        m = y.shape[0]
        total = 0.0
        for i in prange(n):
            row = np.float32(0.0)
            for j in range(m):
                d2 = np.float32(0.0)
                for d in range(dim):
                    t = x[i, d] - y[j, d]
                    d2 += t * t
                row += np.exp(-gamma * d2)
            total += row
        return total / (n * m)

    return {"ksum": ksum, "nn": nn, "softmin": softmin, "kmean": kmean}


def _numba_impl(name: str, make: Callable[[dict, Inputs], Callable[[], Any]], note: str) -> Impl:
    def setup(inputs: Inputs, sizes: Sizes, env: Env) -> Callable[[], Any]:
        if env.target != "cpu":
            raise Skip("numba CPU loops are benchmarked on --target cpu only")
        return make(_numba_kernels(), inputs)

    return Impl(name, setup, note)


def numba_ksum() -> Impl:
    def make(k, inp):
        c = np.float32(1.0 / (2 * inp["sigma"] ** 2))
        return lambda: k["ksum"](inp["x"], inp["y"], inp["b"], c)

    return _numba_impl("numba", make, "@njit(parallel, fastmath) prange over i")


def numba_nn() -> Impl:
    return _numba_impl(
        "numba", lambda k, inp: lambda: k["nn"](inp["x"], inp["y"]), "prange over i, running min"
    )


def numba_softmin() -> Impl:
    def make(k, inp):
        eps = np.float32(inp["eps"])
        return lambda: k["softmin"](inp["x"], inp["y"], inp["g"], eps)

    return _numba_impl("numba", make, "prange over i, two-pass logsumexp")


def numba_mmd() -> Impl:
    def make(k, inp):
        gamma = np.float32(inp["gamma"])
        x, y, km = inp["x"], inp["y"], k["kmean"]
        return lambda: np.float32(km(x, x, gamma) + km(y, y, gamma) - 2 * km(x, y, gamma))

    return _numba_impl("numba", make, "three prange kernel means")


# ----------------------------------------------------------------------------------------------
# pykeops


def _keops(env: Env):
    """LazyTensor class for the target (pykeops.numpy on CPU, pykeops.torch on GPU)."""
    try:
        if env.target == "gpu":
            from pykeops.torch import LazyTensor
        else:
            from pykeops.numpy import LazyTensor
    except Exception as err:  # noqa: BLE001 - pykeops fails in many ways without a toolchain
        raise Skip(f"pykeops unavailable ({type(err).__name__}: {err})") from None
    return LazyTensor


def _keops_impl(name: str, make: Callable[[Any, dict[str, Any]], Callable[[], Any]]) -> Impl:
    def setup(inputs: Inputs, sizes: Sizes, env: Env) -> Callable[[], Any]:
        lt = _keops(env)
        if env.target == "gpu":
            from benchmarks.comparators import torch_args

            names = [n for n in inputs if isinstance(inputs[n], np.ndarray)]
            args = dict(zip(names, torch_args(inputs, names, env)))
            args.update({n: v for n, v in inputs.items() if n not in args})
        else:
            args = dict(inputs)
        return make(lt, args)

    return Impl("pykeops", setup, name)


def _sqd(lt, x, y):
    return ((lt(x[:, None, :]) - lt(y[None, :, :])) ** 2).sum(-1)


def keops_ksum() -> Impl:
    def make(lt, a):
        c = 1.0 / (2 * a["sigma"] ** 2)
        x, y, b = a["x"], a["y"], a["b"]
        return lambda: ((-_sqd(lt, x, y) * c).exp() * lt(b[None, :, :])).sum(1)

    return _keops_impl("LazyTensor sum reduction", make)


def keops_nn() -> Impl:
    def make(lt, a):
        x, y = a["x"], a["y"]
        return lambda: _sqd(lt, x, y).argmin(1)[:, 0].astype(np.int64)

    return _keops_impl("LazyTensor argmin", make)


def keops_softmin() -> Impl:
    def make(lt, a):
        x, y, g, eps = a["x"], a["y"], a["g"], a["eps"]
        return lambda: -eps * ((lt(g[None, :, None]) - _sqd(lt, x, y)) / eps).logsumexp(1)[:, 0]

    return _keops_impl("LazyTensor logsumexp", make)


def keops_mmd() -> Impl:
    def make(lt, a):
        x, y, gamma = a["x"], a["y"], a["gamma"]

        def kmean(p, q):
            return float(np.sum((-gamma * _sqd(lt, p, q)).exp().sum(1), dtype=np.float64)) / (
                p.shape[0] * q.shape[0]
            )

        return lambda: np.float32(kmean(x, x) + kmean(y, y) - 2 * kmean(x, y))

    return _keops_impl("three LazyTensor sums", make)
