"""Random einsum equations through `tensorc.einsum` on every compiled backend match numpy.einsum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_einsum import _operand, equations

import tensorc
from tensorc.errors import TensorcError


def _check(eq, backend, **kw):
    subscripts, shapes, dtypes = eq
    ops = [_operand(s, d) for s, d in zip(shapes, dtypes)]
    try:
        ref = np.einsum(subscripts, *ops)
    except ValueError:
        with pytest.raises(TensorcError):
            tensorc.einsum(subscripts, *ops, backend=backend, **kw)
        return
    out = tensorc.einsum(subscripts, *ops, backend=backend, **kw)
    assert out.shape == np.shape(ref) and out.dtype == np.asarray(ref).dtype
    if out.dtype.kind == "f":
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_array_equal(out, ref)


@settings(max_examples=40, deadline=None)
@given(equations())
def test_random_einsum_cpu(eq):
    _check(eq, "cpu")


@settings(max_examples=25, deadline=None)
@given(equations())
def test_random_einsum_loops(eq):
    _check(eq, "loops")


@settings(max_examples=60, deadline=None)
@given(equations(), st.sampled_from([True, False, "optimal", "dp"]))
def test_random_einsum_planned_paths(eq, optimize):
    """optimize= other than "auto": the planner's path, one compiled def per step (diagonals
    first, broadcast dims, bool and int dtypes wrapping like numpy)."""
    _check(eq, "interp", optimize=optimize)


@settings(max_examples=10, deadline=None)
@given(equations())
def test_random_einsum_triton_interpreter(eq):
    pytest.importorskip("torch")
    pytest.importorskip("triton")
    if not tensorc.backends.get_backend("triton").available():
        pytest.skip("triton backend unavailable (no CUDA and TRITON_INTERPRET unset)")
    _check(eq, "triton")
