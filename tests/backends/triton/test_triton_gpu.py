"""Real-size checks on a CUDA GPU (skipped without one, and under TRITON_INTERPRET=1).

Run on a GPU machine with `TRITON_INTERPRET=0 pytest -m gpu tests/backends/triton`.
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
