"""A 0-d temporary read as a scalar factor (e.g. a pre-summed `z(a,a)` scaling a Gemm) is passed to
the kernels that read it (found by hypothesis: `einsum('b,,b,aa', ...)` failed on the cpu backend)."""

import numpy as np
import pytest
from support import BACKENDS, require_backend

import tensorc

SOURCE = "def f(double(B) x, double s, double(B) y, double(A,A) z) -> (o) { o = x(b)*s*y(b)*z(a,a) }"


@pytest.mark.parametrize("backend", [*BACKENDS, "triton"])
@pytest.mark.parametrize("b, a", [(1, 1), (3, 2), (7, 5)])
def test_scalar_temp_scales_a_contraction(backend, b, a):
    require_backend(backend)
    rng = np.random.default_rng(b * 10 + a)
    x, y, z = rng.standard_normal(b), rng.standard_normal(b), rng.standard_normal((a, a))
    got = tensorc.compile(SOURCE, backend=backend).f(x, 1.5, y, z)
    np.testing.assert_allclose(got, np.einsum("b,,b,aa", x, 1.5, y, z), rtol=1e-12)


@pytest.mark.parametrize("backend", ["cpu", "triton"])
def test_einsums_found_by_hypothesis(backend):
    require_backend(backend)
    one = np.ones(1)
    assert tensorc.einsum("b,,b,aa", one, 2.0, one, np.ones((1, 1)), backend=backend) == 2.0
    three = np.arange(3.0)
    got = tensorc.einsum(",a,a,b->", 2.0, three, three, np.ones(2), backend=backend)
    assert got == np.einsum(",a,a,b->", 2.0, three, three, np.ones(2))
