"""End to end: .tc source -> front end -> tensorc.passes.to_loops -> cpu backend, vs numpy."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

parse_program = pytest.importorskip("tensorc.frontend").parse_program
to_loops = pytest.importorskip("tensorc.passes").to_loops

from tensorc.backends.llvm.backend import BACKEND  # noqa: E402
from tensorc.ir.types import to_numpy  # noqa: E402

SOURCES = {
    "matmul": "def matmul(float(M, K) A, float(K, N) B) -> (C) {\n"
              "    C(m, n) +=! A(m, k) * B(k, n)\n}\n",
    "gauss_ksum": "def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {\n"
                  "    out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))"
                  " / (2 * sigma * sigma)) * b(j,e)\n}\n",
    "nn": "def nn(float(N,D) x, float(M,D) y) -> (idx) {\n"
          "    idx(i) = argmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))\n}\n",
}


def _run(name, args, sizes):
    d = parse_program(SOURCES[name]).defs[0]
    lp = to_loops(d, target="cpu", sizes=sizes)
    exe = BACKEND.compile(lp, {"threads": 2})
    bufs = dict(args)
    for b in (*lp.outputs, *lp.temps):
        shape = [int(sympy.sympify(s).subs({v: sizes[str(v)] for v in sympy.sympify(s).free_symbols}))
                 for s in b.shape]
        bufs[b.name] = np.zeros(shape, to_numpy(b.dtype))
    exe(bufs, sizes)
    return bufs


def test_matmul():
    rng = np.random.default_rng(0)
    a, b = rng.random((37, 23), np.float32), rng.random((23, 19), np.float32)
    out = _run("matmul", {"A": a, "B": b}, {"M": 37, "N": 19, "K": 23})
    np.testing.assert_allclose(out["C"], a @ b, rtol=1e-5)


def test_gauss_ksum():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((50, 3), np.float32), rng.standard_normal((40, 3), np.float32)
    b = rng.standard_normal((40, 2), np.float32)
    out = _run("gauss_ksum", {"x": x, "y": y, "b": b, "sigma": np.float32(0.9)},
               {"N": 50, "M": 40, "D": 3, "E": 2})
    d2 = ((x[:, None].astype(np.float64) - y[None]) ** 2).sum(-1)
    np.testing.assert_allclose(out["out"], np.exp(-d2 / (2 * 0.81)) @ b, rtol=1e-4, atol=1e-5)


def test_nn_argmin():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((30, 4), np.float32), rng.standard_normal((45, 4), np.float32)
    out = _run("nn", {"x": x, "y": y}, {"N": 30, "M": 45, "D": 4})
    np.testing.assert_array_equal(out["idx"], ((x[:, None] - y[None]) ** 2).sum(-1).argmin(1))


def test_output_shape_from_an_int_parameter():
    """An output extent that uses an int parameter (`0:N-W`): its strides read the parameter."""
    import tensorc

    src = ("def win(float(N) x, int W) -> (s, p) {\n"
           "    s(i) +=! x(i + k) where i in 0:N-W, k in 0:W\n"
           "    p(i, k) = x(i + k) * 2 where i in 0:N-W, k in 0:W\n}\n")
    x = np.arange(11, dtype=np.float32)
    for w in (1, 3, 4):
        s, p = tensorc.compile(src, backend="cpu").win(x, w)
        want = np.stack([x[k: 11 - w + k] for k in range(w)], axis=1)
        np.testing.assert_array_equal(p, want * 2)
        np.testing.assert_allclose(s, want.sum(1), rtol=1e-6)
