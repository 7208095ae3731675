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


def test_small_constant_range_does_not_widen():
    """sum(e, j: ...) with E = 1 (W1's d/dx) has M terms: float32 accumulators, as for one range
    (float64 halves the SIMD width and converts every term); E symbolic keeps float64."""
    from tensorc.frontend import parse_program
    from tensorc.ir.loop_printer import format_program
    from tensorc.pipeline import to_loops

    src = """def f(float(N,E) g, float(M,E) b, float(N,D) x, float(M,D) y) -> (o) {
        o(i,c) = sum(e, j: g(i,e) * b(j,e) * exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) * (x(i,c) - y(j,c)))
    }"""
    d = parse_program(src).defs[0]
    small = format_program(to_loops(d, "cpu", {"N": 100, "M": 100, "D": 3, "E": 1}))
    assert "local float64 acc" not in small and "local float32 acc" in small
    big = format_program(to_loops(d, "cpu", {"N": 100, "M": 100, "D": 3, "E": 100}))
    assert "local float64 acc" in big
