"""hoist_broadcast: a statement whose reduction does not read one of its LHS indices computes the
reduction once into a temp without that index and copies it along the index; statements with a
statement mask, pointwise statements and self-reading updates are left alone."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.explain import explain
from tensorc.frontend import parse_program
from tensorc.ir.printer import print_def
from tensorc.passes.hoist_broadcast import hoist_broadcast

SOURCE = """
def rowsum(float(N,M) p) -> (o) {
    o(i,e) = sum(j: p(i,j)) where e in 0:5
}
def pointwise(float(N) x) -> (o) {
    o(i,e) = exp(x(i)) where e in 0:3
}
def masked(float(N,M) p) -> (o) {
    o(i,e) = sum(j: p(i,j)) where e in 0:4, e <= i
}
def colsum_attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,N) lse, float d_o) -> (d_v) {
    d_v(b,h,j,e) = d_o * sum(i: exp(sum(d: q(b,h,i,d) * k(b,h,j,d)) - lse(b,h,i))) where e in 0:8
}
"""
DEFS = {d.name: d for d in parse_program(SOURCE).defs}


def test_the_sum_moves_to_a_temp_without_the_repeated_index():
    d = hoist_broadcast(DEFS["rowsum"])
    assert [(t.name, len(t.shape)) for t in d.temps] == [("bcast0", 1)]
    lines = [line.strip() for line in print_def(d).splitlines()]
    assert "o(i, e) = bcast0(i) where i in 0:N, e in 0:5" in lines


@pytest.mark.parametrize("name", ["pointwise", "masked"])
def test_left_alone(name):
    assert hoist_broadcast(DEFS[name]) == DEFS[name]


def test_a_scalar_cotangent_attention_dv_is_a_tile_sum():
    text = explain(DEFS["colsum_attention"], "cpu", {"B": 1, "H": 2, "N": 300, "M": 200, "D": 64})
    assert "hoist_broadcast" in text
    assert "statement 1 (bcast0): sum of G over i computed tile by tile" in text


@pytest.mark.parametrize("backend", ["interp", "loops", "cpu"])
def test_matches_numpy(backend):
    require_backend(backend)
    rng = np.random.default_rng(3)
    mod = tensorc.compile(SOURCE, backend=backend)
    p = rng.random((7, 11), dtype=np.float32)
    np.testing.assert_allclose(mod.rowsum(p), np.repeat(p.sum(1)[:, None], 5, 1), rtol=1e-5)
    want = np.where(np.arange(4)[None, :] <= np.arange(7)[:, None], p.sum(1)[:, None], 0)
    np.testing.assert_allclose(mod.masked(p), want, rtol=1e-5)
    q, k = rng.standard_normal((1, 2, 9, 64), np.float32), rng.standard_normal((1, 2, 5, 64), np.float32)
    lse = rng.standard_normal((1, 2, 9)).astype(np.float32) + 8
    s = np.exp(np.einsum("bhid,bhjd->bhij", q, k) - lse[..., None]).sum(2)
    got = mod.colsum_attention(q, k, lse, 0.5)
    np.testing.assert_allclose(got, np.repeat(0.5 * s[..., None], 8, -1), rtol=1e-4)
