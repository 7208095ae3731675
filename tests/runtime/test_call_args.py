"""Calls of compiled defs with keyword arguments and `out=` buffers (runtime/call_args.py), and
the builtin exception kinds of call errors."""

from __future__ import annotations

import numpy as np
import pytest
from support import BACKENDS

import tensorc
from tensorc.errors import ArgumentShapeError, ArgumentTypeError, TensorcError

SOURCE = """
def mm(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) = sum(k: A(m, k) * B(k, n))
}
def two(float(N) x) -> (s, d) {
    s(i) = x(i) + 1
    d(i) = x(i) * 2
}
def acc(float(N, K) x) -> (t) {
    t(i) +=! x(i, k)
}
"""
rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keywords_and_out(backend):
    mod = tensorc.compile(SOURCE, backend=backend)
    a, b = f32(4, 3), f32(3, 5)
    np.testing.assert_allclose(mod.mm(B=b, A=a), a @ b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mod.mm(a, B=b), a @ b, rtol=1e-5, atol=1e-6)
    c = np.full((4, 5), np.nan, np.float32)  # garbage in the buffer must not leak into the result
    assert mod.mm(a, b, out=c) is c
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-6)
    strided = np.full((5, 4), 7, np.float32).T  # not C-contiguous: the result is copied in
    assert mod.mm(a, b, out=strided) is strided
    np.testing.assert_allclose(strided, a @ b, rtol=1e-5, atol=1e-6)
    t = np.full(4, 100, np.float32)  # `+=!` starts from zero, not from the buffer's contents
    x = f32(4, 6)
    mod.acc(x, out=t)
    np.testing.assert_allclose(t, x.sum(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", ["interp", "cpu"])
def test_out_tuple_for_several_outputs(backend):
    mod = tensorc.compile(SOURCE, backend=backend)
    x = f32(6)
    s, d = np.empty(6, np.float32), np.empty(6, np.float32)
    got = mod.two(x=x, out=(s, d))
    assert got[0] is s and got[1] is d
    np.testing.assert_allclose(s, x + 1, rtol=1e-6)
    np.testing.assert_allclose(d, x * 2, rtol=1e-6)
    with pytest.raises(ArgumentTypeError, match=r"out= has 1 buffer\(s\), the def has 2"):
        mod.two(x, out=s)
    with pytest.raises(ArgumentShapeError, match="'d' shares memory with the out= buffer of"):
        mod.two(x, out=(s, s))


def test_keyword_errors_are_type_errors():
    mod = tensorc.compile(SOURCE, backend="interp")
    a, b = f32(4, 3), f32(3, 5)
    cases = [
        ({"A": a, "Bee": b}, r"unexpected keyword argument 'Bee'(.|\n)*did you mean 'B'"),
        ({"A": a}, r"missing argument\(s\) 'B'"),
    ]
    for kwargs, match in cases:
        with pytest.raises(TypeError, match=match):
            mod.mm(**kwargs)
    with pytest.raises(TypeError, match="multiple values for argument 'A'"):
        mod.mm(a, b, A=a)
    with pytest.raises(TypeError, match=r"takes 2 argument\(s\)"):
        mod.mm(a, b, a)


def test_out_errors_name_the_buffer():
    mod = tensorc.compile(SOURCE, backend="cpu")
    a, b = f32(4, 3), f32(3, 5)
    with pytest.raises(TypeError, match="output 'C': expected dtype float32, got float64"):
        mod.mm(a, b, out=np.empty((4, 5)))
    with pytest.raises(ValueError, match=r"output 'C': expected shape \(4, 5\), got \(5, 4\)"):
        mod.mm(a, b, out=np.empty((5, 4), np.float32))
    with pytest.raises(TypeError, match="expected a numpy array float32\\[4, 5\\], got list"):
        mod.mm(a, b, out=[[0.0] * 5] * 4)
    ro = np.empty((4, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        mod.mm(a, b, out=ro)
    sq = f32(4, 4)
    with pytest.raises(ValueError, match="shares memory with input 'A'"):
        mod.mm(sq, f32(4, 4), out=sq)
    with pytest.raises(ValueError, match="shares memory with input 'B'"):
        mod.mm(f32(4, 4), sq.T, out=sq)  # a view of the same memory
    half = np.zeros((8, 5), np.float32)
    mod.mm(a, b, out=half[4:])  # disjoint parts of one array are fine
    np.testing.assert_allclose(half[4:], a @ b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(half[:4], 0)


def test_argument_errors_are_builtin_kinds():
    mod = tensorc.compile(SOURCE, backend="interp")
    with pytest.raises(TypeError, match="expected dtype float32, got float64"):
        mod.mm(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="expected rank 2"):
        mod.mm(f32(2), f32(3, 2))
    with pytest.raises(ValueError, match="size K is bound twice"):
        mod.mm(f32(2, 3), f32(4, 2))
    with pytest.raises(TypeError, match="expected float32\\(M, K\\) A"):
        mod.mm("A", f32(3, 2))
    with pytest.raises(TensorcError):  # still tensorc's own
        mod.mm(f32(2), f32(3, 2))


def test_jit_keywords_and_out():
    @tensorc.jit(backend="interp")
    def scale(x, w):
        "y(i) = x(i) * w(i)"

    x, w = f32(5), f32(5)
    np.testing.assert_allclose(scale(w=w, x=x), x * w, rtol=1e-6)
    y = np.empty(5, np.float32)
    assert scale(x, w=w, out=y) is y
    np.testing.assert_allclose(y, x * w, rtol=1e-6)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        scale(x, z=w)


def test_torch_out():
    torch = pytest.importorskip("torch")
    mod = tensorc.compile(SOURCE, backend="cpu")
    a, b = torch.randn(4, 3), torch.randn(3, 5)
    c = torch.full((4, 5), float("nan"))
    assert mod.mm(a, b, out=c) is c
    torch.testing.assert_close(c, a @ b, rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="expected a torch tensor"):
        mod.mm(a, b, out=np.empty((4, 5), np.float32))
    with pytest.raises(ValueError, match="shares memory with input 'A'"):
        sq = torch.randn(4, 4)
        mod.mm(sq, torch.randn(4, 4), out=sq)


def test_out_refuses_autograd():
    torch = pytest.importorskip("torch")
    mod = tensorc.compile(SOURCE, backend="interp")
    a = torch.randn(4, 3, requires_grad=True)
    with pytest.raises(TypeError, match="out= cannot be used with tensors that require grad"):
        mod.mm(a, torch.randn(3, 5), out=torch.empty(4, 5))
    got = mod.mm(a, B=torch.randn(3, 5))  # keywords keep autograd
    assert got.requires_grad


def test_an_input_named_out_is_an_input():
    mod = tensorc.compile(
        "def f(float(N) out, float(N) y) -> (z) { z(i) = out(i) - y(i) }", backend="interp"
    )
    x, y = f32(3), f32(3)
    np.testing.assert_allclose(mod.f(y=y, out=x), x - y, rtol=1e-6)


def test_out_on_triton():
    """The triton backend writes torch tensors: a torch out= is written in place, a numpy one
    (numpy inputs) gets the result copied in (TRITON_INTERPRET=1 without a GPU)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("triton")
    if not tensorc.backends.get_backend("triton").available():
        pytest.skip("triton backend unavailable (no CUDA and TRITON_INTERPRET unset)")
    mod = tensorc.compile(SOURCE, backend="triton")
    a, b = torch.randn(4, 3), torch.randn(3, 5)
    c = torch.full((4, 5), float("nan"))
    assert mod.mm(a, B=b, out=c) is c
    torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)
    cn = np.full((4, 5), np.nan, np.float32)
    assert mod.mm(a.numpy(), b.numpy(), out=cn) is cn
    np.testing.assert_allclose(cn, a.numpy() @ b.numpy(), rtol=1e-4, atol=1e-4)
