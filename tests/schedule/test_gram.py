"""Gram statements (tensorc/schedule/gram.py): tiled Gemms with the epilogue per tile and, when
symmetric, only the tiles right of the diagonal, mirrored. Checked against numpy float64 on the
loops and cpu backends at edge sizes (1, primes, non-multiples of 6 / 16 / the tile), with small
tiles so that several row blocks, column tiles and the odd middle row block all occur."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir import loop_ir as L
from tensorc.ir.loop_printer import format_program
from tensorc.pipeline import to_loops
from tensorc.schedule import Schedule, gram

SRC = """
def rbf(float(N,D) x, float gamma) -> (k) {
    k(i,j) = exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))
}
def cross(float(N,D) x, float(M,D) y) -> (k) {
    k(i,j) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / D)
}
def gram(float(N,D) x) -> (g) { g(i,j) = x(i,d) * x(j,d) }
def scaled(float(N,D) x, float s) -> (g) { g(i,j) = s * x(i,d) * x(j,d) * 0.5 }
def squashed(float(N,D) x) -> (g) { g(i,j) = tanh(sum(d: x(i,d) * x(j,d)) / D) }
def twisted(float(D,N) x) -> (g) { g(i,j) = x(d,i) * x(d,j) }
def product(float(N,D) x, float(M,D) y) -> (g) { g(i,j) = x(i,d) * y(j,d) }
"""
DEFS = {d.name: d for d in parse_program(SRC, "<test>").defs}


def _ref(name, x, y=None, s=0.7):
    x = x.astype(np.float64)
    if name == "twisted":
        return x.T @ x
    y = x if y is None else y.astype(np.float64)
    g = x @ y.T
    if name in ("rbf", "cross"):  # float64: the expansion loses nothing that matters here
        d2 = np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * g, 0)
        return np.exp(-d2 * s) if name == "rbf" else np.exp(-d2 / x.shape[1])
    return {"gram": g, "product": g, "scaled": s * g * 0.5, "squashed": np.tanh(g / x.shape[1])}[name]


def _args(name, n, d, rng, m=None):
    x = rng.standard_normal((d, n) if name == "twisted" else (n, d)).astype(np.float32)
    y = rng.standard_normal((m, d)).astype(np.float32) if name in ("cross", "product") else None
    args = (x, y) if y is not None else (x,)
    if name in ("rbf", "scaled"):
        args += (np.float32(0.7),)
    return args, _ref(name, x, y)


def _check(fn, name, n, d, seed, m=None):
    args, want = _args(name, n, d, np.random.default_rng(seed), m)
    got = np.asarray(fn(*args), np.float64)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5 * max(1.0, np.abs(want).max()))
    return got


@pytest.fixture
def small_tiles(monkeypatch):
    monkeypatch.setattr(gram, "GRAM_BLOCK", (6, 16))


NAMES = ["rbf", "cross", "gram", "scaled", "squashed", "twisted", "product"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 7, 13, 37])
def test_loops_small_tiles(small_tiles, name, n):
    mod = tensorc.compile(SRC, backend="loops")
    _check(getattr(mod, name), name, n, 40, seed=n, m=n + 4)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("n", "d"), [(1, 33), (95, 64), (193, 70), (1031, 48)])
def test_cpu_default_tiles(name, n, d):  # N < 96, 96k +- 1, a prime past two 512-column tiles
    pytest.importorskip("llvmlite")
    mod = tensorc.compile(SRC, backend="cpu")
    got = _check(getattr(mod, name), name, n, d, seed=n + d, m=max(1, n - 3))
    if name in ("gram", "twisted"):  # mirrored tiles; the diagonal ones sum in the same order
        assert np.array_equal(got, got.T)


def _shifted(shape, shift: int) -> np.ndarray:
    """A NaN-filled float32 array starting `shift` elements past a 64-byte boundary (the tile
    copies stream whole 16- and 64-byte runs and write the rest one element at a time)."""
    n = int(np.prod(shape))
    raw = np.full(n + 32, np.nan, np.float32)
    start = (-raw.ctypes.data) % 64 // 4 + shift
    return raw[start: start + n].reshape(shape)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(("n", "shift"), [(1, 0), (23, 1), (47, 4), (64, 12)])
def test_cpu_threads_small_tiles(small_tiles, threads, n, shift):
    from tensorc.backends.llvm.backend import BACKEND

    for name in ("rbf", "gram", "cross"):
        sizes = {"N": n, "D": 40, "M": n + 5}
        prog = to_loops(DEFS[name], "cpu", sizes)
        exe = BACKEND.compile(prog, {"threads": threads})
        args, want = _args(name, n, 40, np.random.default_rng(n), m=n + 5)
        bufs = dict(zip(("x", "y") if name == "cross" else ("x",), args))
        bufs["gamma"] = args[-1]
        for b in (*prog.outputs, *prog.temps):
            shape = [int(e.subs({v: sizes[str(v)] for v in e.free_symbols})) for e in b.shape]
            bufs[b.name] = _shifted(shape, shift)
        exe(bufs, sizes)
        out = bufs[prog.outputs[0].name]
        np.testing.assert_allclose(out, want, rtol=2e-4, atol=2e-5 * max(1.0, np.abs(want).max()))


def _gemms(prog) -> list[L.Gemm]:
    out = []

    def walk(stmts):
        for s in stmts:
            if isinstance(s, L.Gemm):
                out.append(s)
            for f in ("body", "then", "orelse"):
                walk(getattr(s, f, ()))

    for k in prog.kernels:
        walk(k.body)
    return out


def test_plan():
    sizes = {"N": 500, "D": 64, "M": 300}
    rbf = to_loops(DEFS["rbf"], "cpu", sizes)
    text = format_program(rbf)
    assert len(rbf.kernels) == 2  # row norms, then one kernel of tiles (no N x N epilogue pass)
    assert "serial for j0 in [i0, " in text  # only tiles right of the diagonal
    mirror = "k{off=(((j0 + lo) * N) + i0), strides=(0, 1, N)} = local S{off=lo,"
    assert mirror in text  # the tile's columns below the row block, copied transposed
    assert "k{off=((i0 * N) + j0), strides=(0, N, 1)} = local S{off=0," in text  # the tile itself
    cross = format_program(to_loops(DEFS["cross"], "cpu", sizes))
    assert "serial for j0 in [0, " in cross and "strides=(0, 1, M)" not in cross  # x != y: no mirror
    assert "copy" not in format_program(to_loops(DEFS["gram"], "gpu", sizes))
    # a product of two different tensors stays an ordinary whole-output Gemm
    (g,) = _gemms(to_loops(DEFS["product"], "cpu", sizes))
    assert g.m == L.Const(500, "int64") or g.m == L.Var("N")
    # other targets and schedules without symmetry / gemm keep their own lowering
    assert "local S" not in format_program(to_loops(DEFS["gram"], "gpu", sizes))
    plain = to_loops(DEFS["gram"], "cpu", sizes, Schedule(symmetry=False))
    assert "local S" not in format_program(plain)


def test_float64():
    src = SRC.replace("float(", "double(").replace("float gamma", "double gamma")
    src = src.replace("float s)", "double s)")
    mod = tensorc.compile(src, backend="cpu")
    for name in ("rbf", "gram"):
        args, want = _args(name, 131, 48, np.random.default_rng(3))
        args = tuple(np.asarray(a, np.float64) for a in args)
        np.testing.assert_allclose(getattr(mod, name)(*args), want, rtol=1e-11, atol=1e-11)
