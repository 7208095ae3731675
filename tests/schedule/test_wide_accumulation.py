"""A float32 double sum over N*M terms (MMD^2 to a scalar) must not lose precision with N*M."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc

SRC = """
def ksum2(float(N,D) x, float(M,D) y, float gamma) -> (s) {
    s = sum(i, j: exp(-gamma * sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))))
}
"""


@pytest.mark.parametrize("backend", ["cpu", "loops"])
def test_double_sum_to_scalar_is_accurate(backend):
    rng = np.random.default_rng(3)
    n = 1500 if backend == "cpu" else 40
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = rng.standard_normal((n + 17, 3)).astype(np.float32)
    got = tensorc.compile(SRC, backend=backend).ksum2(x, y, 0.1)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    want = np.exp(-0.1 * ((x64[:, None] - y64[None]) ** 2).sum(-1)).sum()
    # float32 sequential accumulation of ~2e6 terms drifts ~1e-4; the float64 accumulator does not
    np.testing.assert_allclose(float(got), want, rtol=2e-7)
