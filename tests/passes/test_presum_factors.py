"""presum_factors: a summed index that only one factor depends on is summed there first (W6)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir import loop_ir as L
from tensorc.ir.tensor_ir import Reduce
from tensorc.ir.tir_utils import walk
from tensorc.passes import run_pipeline
from tensorc.passes.presum_factors import presum_factors
from tensorc.pipeline import to_loops

W6 = pathlib.Path(__file__).resolve().parents[2] / "examples" / "w06_linear_attention.tc"

SOURCE = """
def two_sides(float(N,J) a, float(N,K) b) -> (t) {
    t(i) = a(i,j) * b(i,k)
}
def einsum_ij_jk_i(float(N,J) a, float(J,K) b) -> (t) {
    t(i) = a(i,j) * b(j,k)
}
def expr_factor(float(N,D) q, float(M,D) k) -> (t) {
    t(i) = exp(q(i,d)) * (k(j,d) > 0 ? k(j,d) : 0.5 * k(j,d))
}
def inside_expr(float(N,D) q, float(M,D) k, float(N) c) -> (t) {
    t(i) = c(i) + sqrt(1 + sum(j, d: q(i,d) * k(j,d) * k(j,d) * k(j,0)))
}
def j_in_two_factors(float(N,D) q, float(M,D) k) -> (t) {
    t(i) = q(i,d) * k(j,d) * k(j,d)
}
def offset_range(float(N,D) q, float(M,D) k) -> (t) {
    t(i) = q(i,d) * k(j,d)  where j in 1:M
}
def to_scalar(float(N) x, float(M) y) -> (z) {
    z = x(i) * y(j)
}
def masked(float(N,D) q, float(M,D) k) -> (t) {
    t(i) = q(i,d) * k(j,d)  where j <= i
}
"""
SELF_READ = """
def self_read(float(N,D) q, float(N) t0) -> (t) {
    t(i) = t0(i)
    t(i) = q(i,d) * t(j)
}
"""
SIZES = [
    {"N": 1, "J": 1, "K": 1, "D": 1, "M": 1},
    {"N": 7, "J": 5, "K": 3, "D": 4, "M": 11},
    {"N": 13, "J": 17, "K": 2, "D": 6, "M": 19},
]
INPUT_SIZES = {"N", "J", "K", "D", "M"}


def _args(fn, sizes, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for decl in fn.def_.inputs:
        shape = tuple(sizes[str(d)] for d in decl.shape)
        out.append(rng.standard_normal(shape).astype(np.float32))
    return out


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s.values())))
def test_presum_matches_interpreter(backend, sizes):
    require_backend(backend)
    got_mod = tensorc.compile(SOURCE, backend=backend)
    ref_mod = tensorc.compile(SOURCE, backend="interp")
    for fn in got_mod:
        args = _args(fn, sizes)
        want = ref_mod[fn.__name__](*args)
        got = fn(*args)
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4, err_msg=fn.__name__)


def _defs():
    return {d.name: d for d in parse_program(SOURCE + SELF_READ).defs}


def _sums(def_):
    return [
        (st.tensor, tuple(r.index for r in x.ranges))
        for st in def_.body
        for x in walk(st.rhs)
        if isinstance(x, Reduce)
    ]


def test_presum_rewrites_only_where_an_index_has_one_factor():
    defs = _defs()
    got = {name: _sums(presum_factors(d)) for name, d in defs.items()}
    # only single factors are pre-summed: groups of plain tensors are the contraction planner's
    for name in ("masked", "j_in_two_factors"):  # left alone
        assert presum_factors(defs[name]) == defs[name]
    assert got["two_sides"] == [("a_sum_j", ("j",)), ("b_sum_k", ("k",))]
    assert got["einsum_ij_jk_i"] == [("b_sum_k", ("k",)), ("t", ("j",))]
    assert got["expr_factor"] == [("t_sum_j", ("j",)), ("t", ("d",))]
    assert got["inside_expr"] == [("t", ("j", "d"))]
    assert got["self_read"] == [("q_sum_d", ("d",)), ("t", ("j",))]  # t(j) reads t: stays
    assert got["to_scalar"] == [("x_sum_i", ("i",)), ("y_sum_j", ("j",))]
    assert presum_factors(presum_factors(defs["two_sides"])) == presum_factors(defs["two_sides"])


def test_offset_range_keeps_its_bounds():
    d = presum_factors(_defs()["offset_range"])
    (pre,) = [st for st in d.body if st.tensor == "k_sum_j"]
    (r,) = [x for x in walk(pre.rhs) if isinstance(x, Reduce)]
    assert (str(r.ranges[0].lo), str(r.ranges[0].hi)) == ("1", "M")


def _vars(e) -> set[str]:
    if isinstance(e, L.Var):
        return {e.name}
    return set().union(*(_vars(a) for a in e.args)) if isinstance(e, L.Call) else set()


def _nests(stmts, outer: frozenset = frozenset()):
    """The size variables of the loop extents (and Gemm dims) on every path of a LoopIR body."""
    for s in stmts:
        if isinstance(s, L.Loop):
            yield from _nests(s.body, outer | _vars(s.stop))
        elif isinstance(s, L.Gemm):
            yield outer.union(*(_vars(x) for x in (s.batch, s.m, s.n, s.k)))
        elif isinstance(s, L.If):
            yield from _nests(s.then, outer)
            yield from _nests(s.orelse, outer)
        else:
            yield outer


def test_w6_normaliser_is_linear():
    """No loop nest of linear_attention iterates over both N (queries) and M (keys)."""
    prog = tensorc.load(str(W6), backend="interp")
    def_ = prog["linear_attention"].def_
    after = run_pipeline(def_)
    assert "pk_sum_j" in {t.name for t in after.temps}
    loops = to_loops(def_, "cpu", {"B": 2, "H": 3, "N": 512, "M": 640, "D": 32, "E": 24})
    for k in loops.kernels:
        for path in _nests(k.body):
            assert not {"N", "M"} <= path, (k.name, path)
    text = tensorc.explain(
        W6.read_text(),
        "linear_attention",
        sizes={"N": 4096, "M": 4096, "D": 64, "E": 64, "B": 2, "H": 8},
    )
    assert "temp float32 pk_sum_j[" in text
    assert "reduce for j" in text and "16*N*(2*D*M" not in text
