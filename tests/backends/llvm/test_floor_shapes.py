"""The cpu backend compiles buffer shapes with floor/ceil (strided convolution, pooling): no
fallback to the interpreter, and the same values as the interpreter at odd, even and empty sizes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy

from loopbuild import V, add, buf, c, cast, loop, mul, program, store

import tensorc
from tensorc.backends.llvm.backend import BACKEND

SOURCE = """
def conv_strided(float(N,C,H,W) I, float(M,C,KH,KW) W1) -> (O) {
    O(n, m, h, w) +=! I(n, c, 2 * h + kh, 2 * w + kw) * W1(m, c, kh, kw)
}
def maxpool(float(B,C,H,W) I) -> (O) {
    O(b, c, h, w) max=! I(b, c, 2 * h + kh, 2 * w + kw) where kh in 0:2, kw in 0:2
}
"""


@pytest.mark.parametrize("hw", [(7, 8), (6, 5), (2, 4)])
def test_strided_conv_and_pool_compile_on_cpu(hw):
    h, w = hw
    cpu, ref = tensorc.compile(SOURCE, backend="cpu"), tensorc.compile(SOURCE, backend="interp")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
    k = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback would warn
        conv, pool = cpu.conv_strided(x, k), cpu.maxpool(x)
    assert cpu.conv_strided.last_backend == "cpu" and cpu.maxpool.last_backend == "cpu"
    assert conv.shape == (2, 4, max(0, (h - 3) // 2 + 1), max(0, (w - 3) // 2 + 1))
    np.testing.assert_allclose(conv, ref.conv_strided(x, k), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(pool, ref.maxpool(x))


@pytest.mark.parametrize("n", [0, 1, 2, 5, 6, 7])
def test_floor_and_ceiling_row_strides_round_toward_minus_and_plus_infinity(n):
    """A (2, width) output whose width is floor((N-5)/2) + 3 or ceil(N/3 - 1) + 2: row 1 starts
    at the right element only if floor/ceil round as sympy does on negative numerators too (the
    machine's division alone truncates toward zero)."""
    N = sympy.Symbol("N", integer=True, nonnegative=True)
    for width in (sympy.floor((N - 5) / 2) + 3, sympy.ceiling(N / 3 - 1) + 2):
        wd = int(width.subs(N, n))
        out = buf("y", "float32", (2, width), "output")
        value = cast(add(mul(V("r"), c(100)), V("i")), "float32")
        body = [loop("r", 0, 2, [loop("i", 0, V("Wd"), [store("y", [V("r"), V("i")], value)])])]
        prog = program("rows", [], [out], ["N", "Wd"], body)
        y = np.full((2, wd), -1, np.float32)
        BACKEND.compile(prog, {"threads": 1})({"y": y}, {"N": n, "Wd": wd})
        want = np.arange(2)[:, None] * 100 + np.arange(wd)[None, :]
        np.testing.assert_array_equal(y, want, err_msg=f"{width} at N={n}")

