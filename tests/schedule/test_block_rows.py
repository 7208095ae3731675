"""Row blocking of streaming reductions (tensorc.passes.block_rows): W rows per sweep over j.

The cpu and loops backends (row-blocked by the default cpu schedule) must agree with the TensorIR
interpreter at odd sizes (1, 7, 33, 1023 rows: partial last blocks), several D / E, and both static
(<= SPECIALISE_MAX) and symbolic sizes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir import loop_ir as L
from tensorc.passes import run_pipeline
from tensorc.passes.block_rows import block_rows
from tensorc.schedule import default_schedule, lower

SRC = """
def gauss(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
    out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma)) * b(j,e)
}
def nn(float(N,D) x, float(M,D) y) -> (idx) {
    idx(i) = argmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))
}
def knn(float(N,D) x, float(M,D) y) -> (idx) {
    idx(i, r) = argkmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))), 3)
}
def kd(float(N,D) x, float(M,D) y) -> (dist) {
    dist(i, r) = kmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))), 3)
}
def softmin(float(N,D) x, float(M,D) y, float(M) g, float eps) -> (f) {
    f(i) = -eps * logsumexp(j: (g(j) - sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) / eps)
}
def lse2(float(N,M) a) -> (o) {
    o(i) = logsumexp(j: a(i,j))
}
def colsum(float(M,N) a) -> (o) {
    o(i) = sum(j: a(j,i))
}
"""

# m covers every remainder of the cpu's unrolled j loop (2 or 4 steps per iteration)
SIZES = [(1, 7, 3, 1), (7, 33, 3, 2), (33, 1, 5, 3), (1023, 7, 1, 1), (33, 40, 20, 17), (17, 17, 3, 1),
         (9, 6, 3, 1), (3, 2, 2, 1)]
MODS: dict[str, object] = {}


def _mod(backend: str):
    if backend not in MODS:
        MODS[backend] = tensorc.compile(SRC, backend=backend)
    return MODS[backend]


def _inputs(n, m, d, e, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.standard_normal((m, d)).astype(np.float32)
    b = rng.standard_normal((m, e)).astype(np.float32)
    g = rng.standard_normal(m).astype(np.float32)
    return x, y, b, g


@pytest.mark.parametrize("backend", ["cpu", "loops"])
@pytest.mark.parametrize("n,m,d,e", SIZES)
def test_blocked_matches_interp(backend, n, m, d, e):
    x, y, b, g = _inputs(n, m, d, e)
    ref, got = _mod("interp"), _mod(backend)
    np.testing.assert_allclose(got.gauss(x, y, b, 0.9), ref.gauss(x, y, b, 0.9), rtol=2e-4, atol=2e-5)
    np.testing.assert_array_equal(got.nn(x, y), ref.nn(x, y))
    np.testing.assert_allclose(got.softmin(x, y, g, 0.5), ref.softmin(x, y, g, 0.5), rtol=2e-4, atol=2e-4)
    if m >= 3:
        np.testing.assert_array_equal(got.knn(x, y), ref.knn(x, y))
        np.testing.assert_allclose(got.kd(x, y), ref.kd(x, y), rtol=1e-5, atol=1e-6)
    a = (x @ x.T)[:, : min(n, 9)].copy()
    np.testing.assert_allclose(got.lse2(a), ref.lse2(a), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(got.colsum(a.T.copy()), ref.colsum(a.T.copy()), rtol=2e-5, atol=2e-4)


def test_ties_and_infinities():
    """argmin ties go to the smallest j in every lane; logsumexp of -inf rows stays -inf."""
    x = np.zeros((9, 2), np.float32)
    y = np.zeros((5, 2), np.float32)
    cpu, ref = _mod("cpu"), _mod("interp")
    np.testing.assert_array_equal(cpu.nn(x, y), np.zeros(9, np.int64))
    np.testing.assert_array_equal(cpu.knn(x, y), ref.knn(x, y))
    a = np.full((11, 4), -np.inf, np.float32)
    a[3, 2] = 1.0
    np.testing.assert_allclose(cpu.lse2(a), ref.lse2(a))


def _prog(name, sizes, row_block=8):
    def_ = run_pipeline(parse_program(SRC).get(name))
    s = replace(default_schedule(def_, "cpu", sizes), row_block=row_block)
    return lower(def_, s)


def test_structure_and_notes():
    prog = _prog("gauss", {"N": 100, "M": 100, "D": 3, "E": 1})
    (k,) = prog.kernels
    (par,) = [s for s in k.body if isinstance(s, L.Loop)]
    assert par.kind == "parallel" and par.step == 8
    red = [s for s in par.body if isinstance(s, L.Loop) and s.kind == "reduce"]
    assert red and red[0].body[0].kind == "vector" and red[0].body[0].stop == L.Const(8, "int64")
    assert any("rows per sweep" in n for n in k.notes)
    # symbolic D: inner loop not constant -> left as it was
    prog = _prog("gauss", {"N": 100, "M": 100, "D": 20, "E": 1})
    assert not any("rows per sweep" in n for n in prog.kernels[0].notes)
    # off
    prog = _prog("gauss", {"N": 100, "M": 100, "D": 3, "E": 1}, row_block=0)
    assert not any("rows per sweep" in n for n in prog.kernels[0].notes)


def test_block_rows_leaves_other_shapes():
    body = (L.Loop("i", L.Const(0, "int64"), L.Var("N"), (), kind="vector"),)
    assert block_rows(body, 8) == (body, False)
    assert block_rows(body, 1) == (body, False)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 200])
def test_column_sums_block_64_adjacent_rows(n):
    """sum(j: a(j, i)): the rows are adjacent elements of each load, so a block is 64 of them;
    full blocks load them unclamped (one vector load), the last partial block clamps."""
    prog = _prog("colsum", {"N": n, "M": 5})
    (k,) = prog.kernels
    (par,) = [s for s in k.body if isinstance(s, L.Loop)]
    assert par.step == 64 and any("64 rows per sweep" in x for x in k.notes)
    assert any(isinstance(s, L.If) and s.orelse for s in par.body)
    a = np.random.default_rng(n).standard_normal((5, n)).astype(np.float32)
    for backend in ("cpu", "loops"):
        np.testing.assert_allclose(_mod(backend).colsum(a), a.sum(0), rtol=1e-5, atol=1e-5)
