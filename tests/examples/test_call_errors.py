"""Calling a compiled kernel wrongly raises ArgumentError with a message that says what is wrong;
an unknown backend raises BackendError listing the choices."""

from __future__ import annotations

import numpy as np
import pytest

tensorc = pytest.importorskip("tensorc")
from tensorc.errors import ArgumentError, BackendError, TensorcError

SRC = """
def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, k) * B(k, n)
}
def scaled(float(N) x, float s) -> (y) {
    y(i) = x(i) * s
}
"""

from support import BACKENDS


@pytest.fixture(params=BACKENDS)
def mod(request):
    if not tensorc.backends.get_backend(request.param).available():
        pytest.skip(f"backend {request.param!r} is not available on this machine")
    return tensorc.compile(SRC, backend=request.param)


def f32(*shape):
    return np.ones(shape, dtype=np.float32)


def test_argument_error_is_a_tensorc_error():
    assert issubclass(ArgumentError, TensorcError)
    assert issubclass(BackendError, TensorcError)


def test_wrong_argument_count(mod):
    with pytest.raises(ArgumentError) as err:
        mod.matmul(f32(2, 3))
    msg = str(err.value)
    assert "2" in msg and "1" in msg, msg  # expected 2, got 1
    with pytest.raises(ArgumentError):
        mod.matmul(f32(2, 3), f32(3, 4), f32(4, 5))


def test_wrong_rank(mod):
    with pytest.raises(ArgumentError) as err:
        mod.matmul(f32(2, 3, 1), f32(3, 4))
    msg = str(err.value)
    assert "A" in msg and "2" in msg and "3" in msg, msg  # A has rank 3, declared rank 2


def test_mismatched_sizes_name_symbol_and_both_arguments(mod):
    with pytest.raises(ArgumentError) as err:
        mod.matmul(f32(2, 3), f32(4, 5))
    msg = str(err.value)
    assert "K" in msg, msg
    assert "A" in msg and "B" in msg, msg
    assert "3" in msg and "4" in msg, msg


def test_unsupported_dtype(mod):
    a = np.ones((2, 3), dtype=np.complex128)
    with pytest.raises(ArgumentError) as err:
        mod.matmul(a, f32(3, 4))
    assert "complex128" in str(err.value), str(err.value)


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.float16])
def test_wrong_dtype_for_declared_float(mod, dtype):
    with pytest.raises(ArgumentError) as err:
        mod.matmul(np.ones((2, 3), dtype=dtype), f32(3, 4))
    msg = str(err.value)
    assert np.dtype(dtype).name in msg and "float32" in msg and "A" in msg, msg


def test_scalar_param_rejects_an_array(mod):
    with pytest.raises(ArgumentError):
        mod.scaled(f32(4), f32(4))


def test_non_array_argument(mod):
    with pytest.raises(ArgumentError):
        mod.matmul("not an array", f32(3, 4))


def test_good_call_still_works(mod):
    out = mod.matmul(f32(2, 3), f32(3, 4))
    np.testing.assert_allclose(out, np.full((2, 4), 3.0))


def test_unknown_backend_lists_choices():
    with pytest.raises(BackendError) as err:
        tensorc.compile(SRC, backend="nope")
    msg = str(err.value)
    assert "nope" in msg
    for name in tensorc.backends.CHOICES:
        assert name in msg, msg


def test_choices_include_the_tested_backends():
    for name in BACKENDS + ["triton"]:
        assert name in tensorc.backends.CHOICES
