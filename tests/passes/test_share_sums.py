"""share_sums: a sum found at several places (under any index names) is computed once into a temp
-- or read from a temp that already holds it -- when it reads plain indices of tensors written
once and is no bigger than an input; attention's N x M scores are never made a temp."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.printer import print_def
from tensorc.ir.tensor_ir import Reduce
from tensorc.ir.tir_utils import walk
from tensorc.passes.share_sums import share_sums

SOURCE = """
def twice(float(N,N) p, float(N,D) x) -> (o, g) {
    o(i,d) = sum(j: p(i,j) * x(j,d)) * 2.0 + x(i,d)
    g = sum(a, e: x(a,e) * sum(b: p(a,b) * x(b,e)))
}
def provider(float(N,M) p, float(N) s) -> (r, o) {
    r(i) = sum(j: p(i,j))
    o(i) = s(i) * sum(k: p(i,k))
}
def scores(float(N,D) q, float(M,D) k) -> (o) {
    o(i) = sum(j: exp(sum(d: q(i,d) * k(j,d)))) + max(j: sum(d: q(i,d) * k(j,d)))
}
"""
DEFS = {d.name: d for d in parse_program(SOURCE).defs}


def _sums(d) -> int:
    return sum(isinstance(x, Reduce) for st in d.body for x in walk(st.rhs))


def test_repeated_sum_becomes_one_temp():
    d = share_sums(DEFS["twice"])
    assert [t.name for t in d.temps] == ["shared0"] and d.body[0].tensor == "shared0"
    assert _sums(d) == 2  # the shared Gemm, and g's sum over (a, e)


def test_existing_temp_is_read():
    d = share_sums(DEFS["provider"])
    assert not d.temps and _sums(d) == 1
    assert print_def(d).splitlines()[2].strip() == "o(i) = s(i) * r(i) where i in 0:N"


def test_scores_are_not_stored():
    assert share_sums(DEFS["scores"]) == DEFS["scores"]


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_shared_sums_match_numpy(backend):
    require_backend(backend)
    rng = np.random.default_rng(8)
    p, x = rng.random((23, 23), dtype=np.float32), rng.random((23, 4), dtype=np.float32)
    o, g = tensorc.compile(SOURCE, backend=backend).twice(p, x)
    np.testing.assert_allclose(o, 2 * (p @ x) + x, rtol=1e-5)
    np.testing.assert_allclose(g, (x * (p @ x)).sum(), rtol=1e-4)
    s = rng.random(23, dtype=np.float32)
    r, o = tensorc.compile(SOURCE, backend=backend).provider(p, s)
    np.testing.assert_allclose(r, p.sum(1), rtol=1e-5)
    np.testing.assert_allclose(o, s * p.sum(1), rtol=1e-5)
