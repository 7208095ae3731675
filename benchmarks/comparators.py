"""What users would write instead of tensorc: numpy, torch (eager, SDPA, torch.compile), einsum libs.

Each comparator is a plain function over the case's named inputs; the builders below (`numpy_impl`,
`torch_impl`, ...) turn it into an `Impl` whose setup converts the inputs (numpy -> torch on the
target device, in the case's dtype) outside the timed region. The fused-loop competitors (numba,
pykeops) live in `fused.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.spec import Env, Impl, Inputs, Sizes, Skip

# ----------------------------------------------------------------------------------------------
# builders


def _torch():
    try:
        import torch
    except ImportError as err:
        raise Skip(f"torch not installed ({err})") from None
    return torch


def torch_args(inputs: Inputs, names: Sequence[str], env: Env) -> list[Any]:
    """numpy inputs -> torch tensors on the target device; floats cast to the case's dtype."""
    torch = _torch()
    device = "cuda" if env.target == "gpu" else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise Skip("no CUDA device")
    dtype = getattr(torch, env.dtype) if env.dtype else None
    out = []
    for n in names:
        a = inputs[n]
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(a)).to(device)
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            out.append(t)
        else:
            out.append(a)
    return out


def numpy_impl(
    name: str, fn: Callable, args: Sequence[str], note: str = "", mem: Callable | None = None
) -> Impl:
    def setup(inputs: Inputs, sizes: Sizes, env: Env) -> Callable[[], Any]:
        a = [inputs[n] for n in args]
        return lambda: fn(*a)

    return Impl(name, setup, note, mem)


def torch_impl(
    name: str,
    fn: Callable,
    args: Sequence[str],
    note: str = "",
    mem: Callable | None = None,
    compile: bool = False,
    sdpa_backend: str | None = None,
) -> Impl:
    """`compile=True` wraps fn in torch.compile (compiled during setup, not timed);
    `sdpa_backend` ("FLASH_ATTENTION", "CUDNN_ATTENTION", ...) pins SDPA to one kernel."""

    def setup(inputs: Inputs, sizes: Sizes, env: Env) -> Callable[[], Any]:
        torch = _torch()
        a = torch_args(inputs, args, env)
        f = torch.compile(fn, dynamic=False) if compile else fn
        if sdpa_backend is not None:
            from torch.nn.attention import SDPBackend, sdpa_kernel

            backend = getattr(SDPBackend, sdpa_backend)

            def call() -> Any:
                with torch.inference_mode(), sdpa_kernel(backend):
                    return f(*a)
        else:

            def call() -> Any:
                with torch.inference_mode():
                    return f(*a)

        if compile:
            call()  # compile now so the first checked call is not the compile
        return call

    return Impl(name, setup, note, mem)


def einsum_impls(eq: str, args: Sequence[str], torch_too: bool = True) -> list[Impl]:
    """opt_einsum (optimal path, precomputed) + numpy, numpy.einsum(optimize=True), torch.einsum."""

    def oe_setup(inputs: Inputs, sizes: Sizes, env: Env) -> Callable[[], Any]:
        try:
            import opt_einsum as oe
        except ImportError as err:
            raise Skip(f"opt_einsum not installed ({err})") from None
        ops = [inputs[n] for n in args]
        # 'optimal' is exhaustive (factorial); dp is optimal in flops too and scales to chains
        how = "optimal" if len(ops) <= 5 else "dp"
        if env.target == "gpu":
            ops = torch_args(inputs, args, env)
        expr = oe.contract_expression(eq, *[tuple(o.shape) for o in ops], optimize=how)
        return lambda: expr(*ops)

    impls = [
        Impl("opt_einsum", oe_setup, "opt_einsum.contract_expression, optimal/dp path, numpy BLAS"),
    ]
    impls.append(
        numpy_impl(
            "numpy.einsum",
            lambda *ops: np.einsum(eq, *ops, optimize=True),
            args,
            "numpy.einsum(optimize=True): greedy path per call",
        )
    )
    if torch_too:
        impls.append(
            torch_impl("torch.einsum", lambda *ops: _torch().einsum(eq, *ops), args, "torch.einsum")
        )
    return impls


def cpu_only(impl: Impl) -> Impl:
    """numpy runs on the host only: skipped for --target gpu."""

    def setup(inputs: Inputs, sizes: Sizes, env: Env) -> Callable[[], Any]:
        if env.target != "cpu":
            raise Skip("host-only library")
        return impl.setup(inputs, sizes, env)

    return Impl(impl.name, setup, impl.note, impl.mem_bytes)


# ----------------------------------------------------------------------------------------------
# numpy: dense, materialising the N x M matrix, as a numpy user writes it


def np_sqdist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|x_i - y_j|^2 via one GEMM, in place: the N x M float32 matrix is the only big temporary."""
    d2 = x @ y.T
    d2 *= -2
    d2 += np.einsum("ij,ij->i", x, x)[:, None]
    d2 += np.einsum("ij,ij->i", y, y)[None, :]
    np.maximum(d2, 0, out=d2)
    return d2


def np_ksum(x, y, b, sigma):
    k = np_sqdist(x, y)
    k *= -1.0 / (2 * sigma * sigma)
    np.exp(k, out=k)
    return k @ b


def np_nn(x, y):
    return np.argmin(np_sqdist(x, y), axis=1)


def np_softmin(x, y, g, eps):
    z = np_sqdist(x, y)
    np.subtract(g[None, :], z, out=z)
    z /= eps
    m = z.max(axis=1, keepdims=True)
    z -= m
    np.exp(z, out=z)
    return -eps * (m[:, 0] + np.log(z.sum(axis=1)))


def np_kmean(a, b, gamma):
    k = np_sqdist(a, b)
    k *= -gamma
    np.exp(k, out=k)
    return k.mean(dtype=np.float64)


def np_mmd(x, y, gamma):
    return np.float32(np_kmean(x, x, gamma) + np_kmean(y, y, gamma) - 2 * np_kmean(x, y, gamma))


def np_attention(q, k, v, scale, mask=None):
    s = q @ k.swapaxes(-1, -2)
    s *= scale
    if mask is not None:
        s[..., ~mask] = -np.inf
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s @ v


def _np_elu1(x):
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))


def np_linear_attention(q, k, v):
    pq, pk = _np_elu1(q), _np_elu1(k)
    kv = pk.swapaxes(-1, -2) @ v  # (B,H,D,E): the cheap association
    den = pq @ pk.sum(axis=-2)[..., None]
    return (pq @ kv) / den


def np_gram(x):
    return x @ x.T


def np_rbf_gram(x, gamma):
    k = np_sqdist(x, x)
    k *= -gamma
    np.exp(k, out=k)
    return k


def np_gemm(a, b):
    return a @ b


# ----------------------------------------------------------------------------------------------
# torch eager: the idiomatic spelling (cdist, softmax, SDPA)


def th_ksum(x, y, b, sigma):
    torch = _torch()
    return torch.exp(torch.cdist(x, y).square_().mul_(-1.0 / (2 * sigma * sigma))) @ b


def th_ksum_chunked(x, y, b, sigma, rows=None):
    """Row blocks so that one block of the kernel matrix stays under ~1 GiB (GPU, huge N*M)."""
    torch = _torch()
    n, m = x.shape[0], y.shape[0]
    rows = rows or max(1, min(n, (1 << 28) // max(m, 1)))
    out = torch.empty((n, b.shape[1]), dtype=b.dtype, device=b.device)
    for s in range(0, n, rows):
        out[s : s + rows] = th_ksum(x[s : s + rows], y, b, sigma)
    return out


def th_nn(x, y):
    return _torch().cdist(x, y).argmin(dim=1)


def th_softmin(x, y, g, eps):
    torch = _torch()
    z = (g[None, :] - torch.cdist(x, y).square_()) / eps
    return -eps * torch.logsumexp(z, dim=1)


def th_mmd(x, y, gamma):
    torch = _torch()

    def kmean(a, b):
        return torch.exp(torch.cdist(a, b).square_().mul_(-gamma)).mean()

    return kmean(x, x) + kmean(y, y) - 2 * kmean(x, y)


def th_attention(q, k, v, scale, mask=None):
    torch = _torch()
    s = (q @ k.transpose(-1, -2)) * scale
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def th_sdpa(q, k, v, scale, mask=None):
    F = _torch().nn.functional
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)


def th_sdpa_causal(q, k, v, scale):
    F = _torch().nn.functional
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)


def th_local_attention(q, k, v, scale, W, block=256):
    """Blocked sliding-window attention: each query block sees only keys within W (a careful user)."""
    torch = _torch()
    n = q.shape[-2]
    out = torch.empty(q.shape[:-1] + (v.shape[-1],), dtype=q.dtype, device=q.device)
    for s in range(0, n, block):
        e = min(n, s + block)
        ks, ke = max(0, s - W), min(n, e + W)
        sc = (q[..., s:e, :] @ k[..., ks:ke, :].transpose(-1, -2)) * scale
        i = torch.arange(s, e, device=q.device)[:, None]
        j = torch.arange(ks, ke, device=q.device)[None, :]
        sc = sc.masked_fill((i - j).abs() > W, float("-inf"))
        out[..., s:e, :] = torch.softmax(sc, dim=-1) @ v[..., ks:ke, :]
    return out


def th_linear_attention(q, k, v):
    F = _torch().nn.functional
    pq, pk = F.elu(q) + 1, F.elu(k) + 1
    kv = pk.transpose(-1, -2) @ v
    den = pq @ pk.sum(dim=-2).unsqueeze(-1)
    return (pq @ kv) / den


def th_gram(x):
    return x @ x.T


def th_rbf_gram(x, gamma):
    torch = _torch()
    return torch.exp(torch.cdist(x, x).square_().mul_(-gamma))


def th_gemm(a, b):
    return a @ b


def flex_window_impl(args: Sequence[str], causal: bool = False) -> Impl:
    """torch flex_attention with a block mask (GPU): skips blocks outside the band, like tensorc."""

    def setup(inputs: Inputs, sizes: Sizes, env: Env) -> Callable[[], Any]:
        torch = _torch()
        if env.target != "gpu":
            raise Skip("flex_attention is benchmarked on GPU only")
        try:
            from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        except ImportError as err:
            raise Skip(f"torch.nn.attention.flex_attention unavailable ({err})") from None
        q, k, v, scale = torch_args(inputs, args[:4], env)
        W = inputs.get("W")
        n = q.shape[-2]

        def mask_mod(b, h, qi, kj):
            keep = (qi - kj).abs() <= W if W is not None else qi >= kj
            return keep & (qi >= kj) if (causal and W is not None) else keep

        bm = create_block_mask(mask_mod, B=None, H=None, Q_LEN=n, KV_LEN=n, device="cuda")
        f = torch.compile(flex_attention, dynamic=False)

        def call() -> Any:
            with torch.inference_mode():
                return f(q, k, v, block_mask=bm, scale=scale)

        call()
        return call

    return Impl("torch flex_attention", setup, "torch.compile(flex_attention) + block mask")


def attention_flops(B: int, H: int, pairs: float, d: int, e: int | None = None) -> float:
    """QK^T and PV: 2*pairs*d + 2*pairs*e per head (4*pairs*d for d == e)."""
    e = d if e is None else e
    return 2.0 * B * H * pairs * (d + e)


def band_pairs(n: int, w: int) -> int:
    """Number of (i, j) in [0,n)^2 with |i - j| <= w."""
    w = min(w, n - 1)
    return n * (2 * w + 1) - w * (w + 1)


def causal_pairs(n: int) -> int:
    return n * (n + 1) // 2
