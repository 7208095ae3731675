"""n-ary contractions as Gemm kernels: operand orientation, big steps in their own kernels, column
blocks in parallel — checked against numpy at sizes that are not multiples of any block."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.ir import loop_ir as L
from tensorc.pipeline import to_loops
from tensorc.schedule import contraction

TUCKER = """
def tucker_core(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G) {
    G(a,b,c) = T(i,j,k) * U1(i,a) * U2(j,b) * U3(k,c)
}
"""
# rows = R < FEW_ROWS, columns = J*K = 4087 (no multiple of 16), first step > OWN_KERNEL_FLOPS
BIG = {"I": 131, "J": 67, "K": 61, "R": 5, "S": 7, "P": 11}
EDGE = [
    {"I": 1, "J": 1, "K": 1, "R": 1, "S": 1, "P": 1},
    {"I": 5, "J": 3, "K": 7, "R": 2, "S": 11, "P": 13},
]


def _tucker_args(s, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(s["I"], s["J"], s["K"]), (s["I"], s["R"]), (s["J"], s["S"]), (s["K"], s["P"])]
    return [rng.standard_normal(sh).astype(np.float32) for sh in shapes]


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize("sizes", [BIG, *EDGE], ids=["big", "ones", "primes"])
def test_tucker_matches_numpy(backend, sizes):
    require_backend(backend)
    args = _tucker_args(sizes)
    want = np.einsum("ijk,ia,jb,kc->abc", *[a.astype(np.float64) for a in args])
    got = tensorc.compile(TUCKER, backend=backend).tucker_core(*args)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def _def():
    return tensorc.compile(TUCKER, backend="interp").tucker_core.def_


def test_big_step_runs_alone_with_parallel_column_blocks():
    prog = to_loops(_def(), "cpu", BIG)
    first = prog.kernels[0]
    assert len(prog.kernels) == 3  # one kernel per step: the last is small, but alone anyway
    (loop,) = first.body
    assert isinstance(loop, L.Loop) and loop.kind == "parallel"
    assert loop.stop == L.Const(contraction.COLUMN_BLOCKS, "int64")
    (gemm,) = loop.body
    # U1^T is the Gemm's A (7 rows read along i), T its B (columns j*k contiguous): T is read
    # in whole rows, never in 6-element pieces at a stride of J*K
    assert isinstance(gemm, L.Gemm) and (gemm.a.buffer, gemm.b.buffer) == ("U1", "T")
    assert any("columns in parallel blocks" in n for n in first.notes)


def test_small_networks_stay_one_kernel():
    prog = to_loops(_def(), "cpu", EDGE[1])
    assert len(prog.kernels) == 1
    assert all(isinstance(s, (L.Gemm, L.Loop)) for s in prog.kernels[0].body)


def test_column_blocks_cover_every_column_once():
    g = to_loops(_def(), "cpu", BIG).kernels[0].body[0].body[0]
    n = BIG["J"] * BIG["K"]
    env = dict(BIG)
    seen = np.zeros(n, int)
    for blk in range(contraction.COLUMN_BLOCKS):
        env[next(iter(_loop_vars(g)))] = blk
        start, cols = _eval(g.b.offset, env), _eval(g.n, env)
        seen[start : start + cols] += 1
    assert (seen == 1).all()


def _loop_vars(e):
    return {v for v in _names(e.b.offset) if v not in BIG}


def _names(e):
    if isinstance(e, L.Var):
        return {e.name}
    return set().union(*(_names(a) for a in e.args)) if isinstance(e, L.Call) else set()


def _eval(e, env):
    if isinstance(e, L.Var):
        return env[e.name]
    if isinstance(e, L.Const):
        return int(e.value)
    a = [_eval(x, env) for x in e.args]
    ops = {"add": lambda: a[0] + a[1], "sub": lambda: a[0] - a[1], "mul": lambda: a[0] * a[1],
           "floordiv": lambda: a[0] // a[1], "min": lambda: min(a), "max": lambda: max(a)}  # fmt: skip
    return ops[e.fn]()


MPS_NORM = pathlib.Path(__file__).resolve().parents[2] / "examples" / "w09_tensor_networks.tc"


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize("x", [1, 7])
def test_repeated_pairs_are_computed_once(backend, x):
    """<A|A>: the two chains share their first steps (same tensors, renamed indices)."""
    require_backend(backend)
    fn = tensorc.load(str(MPS_NORM), backend=backend).mps_norm6
    rng = np.random.default_rng(1)
    p, bonds = 3, [x, x + 2, 5, x + 1, 2]
    shapes = [(p, bonds[0])] + [(bonds[i], p, bonds[i + 1]) for i in range(4)] + [(bonds[4], p)]
    ops = [rng.random(s).astype(np.float32) for s in shapes]
    eq = "pa,aqb,brc,csd,dte,eu,pA,AqB,BrC,CsD,DtE,Eu->"
    want = np.einsum(eq, *[o.astype(np.float64) for o in ops + ops], optimize=True)
    np.testing.assert_allclose(fn(*ops), want, rtol=1e-4)
    if x == 1:
        return  # bonds of 1: the planner's path pairs the two chains differently
    sizes = {"P": p, **{f"X{i + 1}": b for i, b in enumerate(bonds)}}
    prog = to_loops(fn.def_, "cpu", sizes)
    notes = "\n".join(n for k in prog.kernels for n in k.notes)
    steps = notes.count("\n  t")
    gemms = sum(isinstance(s, L.Gemm) for k in prog.kernels for s in _walk(k.body))
    assert "its result is reused" in notes and gemms < steps


def _walk(stmts):
    for s in stmts:
        yield s
        if isinstance(s, L.Loop):
            yield from _walk(s.body)


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize("p,x", [(4, 64), (3, 13), (1, 1)])
def test_mps_intermediates_laid_out_for_their_reader(backend, p, x):
    """A step's result is laid out so that the step reading it sums over one Gemm dimension:
    no serial k loops of accumulating Gemms (nor the zero fill before them) anywhere."""
    require_backend(backend)
    from benchmarks.sources import mps_equation, mps_overlap  # the W9 benchmark's chain

    fn = tensorc.compile(mps_overlap(6), backend=backend).mps_overlap
    rng = np.random.default_rng(p * 100 + x)
    one = [(p, x)] + [(x, p, x)] * 4 + [(x, p)]
    ops = [rng.random(s).astype(np.float32) for s in one + one]
    want = np.einsum(mps_equation(6), *[o.astype(np.float64) for o in ops], optimize=True)
    np.testing.assert_allclose(fn(*ops), want, rtol=1e-4)
    if (p, x) != (4, 64):
        return
    prog = to_loops(fn.def_, "cpu", {"P": p, "X": x})
    # each one Gemm, or column blocks; the last step, a dot product to the scalar, a loop nest
    assert all(len(k.body) == 1 for k in prog.kernels[:-1])
    assert not [s for k in prog.kernels for s in _walk(k.body)
                if isinstance(s, L.Loop) and s.kind == "serial"]


HADAMARD = """
def weighted(float(N,M) w, float(N,M) k, float(M,D) x) -> (o) {
    o(i,d) = sum(j: w(i,j) * k(i,j) * x(j,d))
}
"""


def test_hadamard_step_is_a_loop_nest_not_unit_gemms():
    """An elementwise path step (w * k) has no Gemm shape: it was a batch of N*M 1x1x1 Gemms
    (RBF's gradient network: 1.25 s against numpy's 31 ms at N = M = 4096, D = 64)."""
    from tensorc.frontend import parse_program

    prog = to_loops(parse_program(HADAMARD).get("weighted"), "cpu", {"N": 300, "M": 200, "D": 64})
    gemms = [s for k in prog.kernels for s in _walk(k.body) if isinstance(s, L.Gemm)]
    assert len(gemms) == 1 and gemms[0].k != L.Const(1, "int64")


def _walk(body):
    for s in body:
        yield s
        for attr in ("body", "then"):
            yield from _walk(getattr(s, attr, ()) or ())


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_hadamard_network_matches_numpy(backend):
    require_backend(backend)
    rng = np.random.default_rng(2)
    w, k = rng.random((37, 53), dtype=np.float32), rng.random((37, 53), dtype=np.float32)
    x = rng.random((53, 17), dtype=np.float32)
    got = tensorc.compile(HADAMARD, backend=backend).weighted(w, k, x)
    np.testing.assert_allclose(got, (w * k) @ x, rtol=1e-4)
