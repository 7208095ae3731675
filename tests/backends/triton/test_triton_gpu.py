"""Real-size checks on a CUDA GPU (skipped without one, and under TRITON_INTERPRET=1).

Run on a GPU machine with `TRITON_INTERPRET=0 pytest -m gpu tests/backends/triton`; timings are
`python -m benchmarks --target gpu` (never here).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from test_triton_workloads import _attention_prog, _gemm, _matmul_buffers, w1_prog
from triton_loops import V

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1",
        reason="needs a CUDA GPU (and TRITON_INTERPRET unset)",
    ),
]


def _compile(prog, config=None):
    from tensorc.backends import get_backend

    return get_backend("triton").compile(prog, config)


def test_attention_fp16_causal_vs_sdpa():
    n, d = 4096, 128
    q, k, v = (torch.randn(n, d, device="cuda", dtype=torch.float16) for _ in range(3))
    o = torch.zeros_like(q)
    exe = _compile(_attention_prog(d, "float16"))
    exe({"q": q, "k": k, "v": v, "scale": d**-0.5, "o": o}, {"N": n, "D": d})
    ref = torch.nn.functional.scaled_dot_product_attention(
        q[None], k[None], v[None], is_causal=True
    )[0]
    torch.testing.assert_close(o, ref, rtol=2e-2, atol=2e-2)


def test_w1_kernel_sum_one_million():
    n = m = 1_000_000
    x = torch.rand(n, 3, device="cuda")
    y = torch.rand(m, 3, device="cuda")
    b = torch.randn(m, 1, device="cuda")
    out = torch.zeros(n, 1, device="cuda")
    exe = _compile(w1_prog())
    exe({"x": x, "y": y, "b": b, "sigma": 0.1, "out": out}, {"N": n, "M": m, "D": 3})
    rows = torch.arange(0, n, 9973, device="cuda")
    d2 = torch.cdist(x[rows].double(), y.double()) ** 2
    ref = torch.exp(-d2 / (2 * 0.1**2)) @ b.double()
    torch.testing.assert_close(out[rows].double(), ref, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_gemm_large(dtype):
    m, n, k = 1024, 768, 512
    a = torch.randn(m, k, device="cuda", dtype=dtype)
    b = torch.randn(k, n, device="cuda", dtype=dtype)
    c = torch.zeros(m, n, device="cuda", dtype=torch.float32)
    names = {torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float32: "float32"}
    exe = _compile(_matmul_buffers(names[dtype]).program(_gemm(V("M"), V("N"), V("K"))))
    exe({"A": a, "B": b, "Cm": c}, {"M": m, "N": n, "K": k})
    torch.testing.assert_close(c, (a.float() @ b.float()), rtol=2e-2, atol=2e-1)


def test_bf16_arithmetic_elementwise():
    from test_triton_nodes import _unary_prog
    from triton_loops import C, call

    prog = _unary_prog(
        "bfloat16",
        "bfloat16",
        lambda x: call("add", call("mul", x, C(3.0, "bfloat16")), C(1.0, "bfloat16")),
    )
    x = torch.randn(1000, device="cuda", dtype=torch.bfloat16)
    y = torch.zeros_like(x)
    _compile(prog)({"x": x, "y": y}, {"N": 1000})
    torch.testing.assert_close(y, (x.float() * 3 + 1).bfloat16(), rtol=1e-2, atol=1e-2)
    assert np.isfinite(y.float().cpu().numpy()).all()


ATTN = """
def attention(T(B,H,N,D) q, T(B,H,N,D) k, T(B,H,N,D) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e) MASK
}
"""


def _attention_src(dtype: str, mask: str) -> str:
    return ATTN.replace("T(", dtype + "(").replace("MASK", mask)


def _sdpa(q, k, v, mask=None, causal=False):
    return torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=causal
    )


@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_flash_attention_vs_sdpa(d, causal, dtype):
    """The whole pipeline (front end -> flash template) at N = 4096 against torch SDPA."""
    import tensorc

    t = getattr(torch, dtype)
    q, k, v = (torch.randn(1, 4, 4096, d, device="cuda", dtype=t) for _ in range(3))
    fn = tensorc.compile(_attention_src(dtype, "where j <= i" if causal else ""), backend="triton")
    out = fn.attention(q, k, v, d**-0.5)
    torch.testing.assert_close(out, _sdpa(q, k, v, causal=causal), rtol=2e-2, atol=2e-2)


def test_window_attention_vs_masked_sdpa():
    import tensorc

    n, d, w = 2048, 64, 100
    q, k, v = (torch.randn(1, 2, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
    fn = tensorc.compile(
        _attention_src("float16", "where abs(i - j) <= W").replace(
            "float scale", "float scale, int32 W"
        ),
        backend="triton",
    )
    out = fn.attention(q, k, v, d**-0.5, w)
    i = torch.arange(n, device="cuda")
    mask = (i[:, None] - i[None, :]).abs() <= w
    torch.testing.assert_close(out, _sdpa(q, k, v, mask=mask), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("allow_tf32", [False, True])
def test_kernel_sum_d64_dot_path(allow_tf32):
    """W1 with D = 64: |x|^2 + |y|^2 - 2 x.y through tl.dot (TF32 when torch allows it)."""
    import tensorc

    src = (
        "def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {"
        " out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma))"
        " * b(j,e) }"
    )
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32
    try:
        x, y = torch.rand(20000, 64, device="cuda"), torch.rand(30000, 64, device="cuda")
        b = torch.rand(30000, 1, device="cuda")
        out = tensorc.compile(src, backend="triton").gauss_ksum(x, y, b, 2.0)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    rows = torch.arange(0, 20000, 97, device="cuda")
    ref = torch.exp(-(torch.cdist(x[rows].double(), y.double()) ** 2) / 8.0) @ b.double()
    tol = 1e-2 if allow_tf32 else 1e-4
    torch.testing.assert_close(out[rows].double(), ref, rtol=tol, atol=tol)


def test_nearest_neighbour_argmin():
    import tensorc

    src = (
        "def nn(float(N,D) x, float(M,D) y) -> (idx) {"
        " idx(i) = argmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) }"
    )
    x, y = torch.rand(50000, 3, device="cuda"), torch.rand(70000, 3, device="cuda")
    idx = tensorc.compile(src, backend="triton").nn(x, y)
    rows = torch.arange(0, 50000, 101, device="cuda")
    d2 = torch.cdist(x[rows].double(), y.double())
    got = d2.gather(1, idx[rows].long()[:, None])[:, 0]
    torch.testing.assert_close(got, d2.min(1).values, rtol=1e-5, atol=1e-6)


def test_launch_is_capturable_in_a_cuda_graph():
    """No host sync and no allocation in launch: it records into a CUDA graph and replays."""
    exe = _compile(w1_prog())
    n = m = 4096
    x, y = torch.rand(n, 3, device="cuda"), torch.rand(m, 3, device="cuda")
    b = torch.rand(m, 1, device="cuda")
    out = torch.zeros(n, 1, device="cuda")
    bufs = {"x": x, "y": y, "b": b, "sigma": 0.3, "out": out}
    sizes = {"N": n, "M": m, "D": 3}
    exe(bufs, sizes)  # compile outside the capture
    expect = out.clone()
    out.zero_()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        exe(bufs, sizes)
    g.replay()
    torch.cuda.synchronize()
    torch.testing.assert_close(out, expect)
