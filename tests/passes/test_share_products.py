"""share_products: a product of input reads over the same indices that several sums multiply by
other tensors is stored once (the RBF Gram gradient's dK * K); a product that is a whole sum's
body everywhere (attention's sum(e: dO o)) is not. Checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.tensor_ir import Access
from tensorc.ir.tir_utils import walk
from tensorc.passes.share_products import share_products

SOURCE = """
def rbf_like(float(N,N) g, float(N,N) k, float(N,D) x) -> (o, r) {
    o(i,d) = sum(j: g(i,j) * k(i,j) * x(j,d)) + sum(i1: k(i1,i) * g(i1,i) * x(i1,d))
    r(i) = sum(j: 2.0 * g(i,j) * k(i,j))
}
def dots(float(N,E) a, float(N,E) b, float(N,M) w) -> (o) {
    o(i,j) = sum(e: a(i,e) * b(i,e)) * w(i,j) + sum(f: a(i,f) * b(i,f))
}
"""
DEFS = {d.name: d for d in parse_program(SOURCE).defs}


def _reads(d, tensor: str) -> int:
    return sum(isinstance(x, Access) and x.tensor == tensor for st in d.body for x in walk(st.rhs))


def test_shared_product_is_stored_once():
    d = share_products(DEFS["rbf_like"])
    (temp,) = [t for t in d.temps if t.name.endswith("_prod")]
    assert d.body[0].tensor == temp.name  # computed before its first reader
    assert _reads(d, "g") == 1 and _reads(d, temp.name) == 3  # both orientations and r


def test_whole_sum_bodies_are_left_alone():
    assert share_products(DEFS["dots"]) == DEFS["dots"]


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_shared_product_matches_numpy(backend):
    require_backend(backend)
    rng = np.random.default_rng(3)
    g, k = rng.random((37, 37), dtype=np.float32), rng.random((37, 37), dtype=np.float32)
    x = rng.random((37, 5), dtype=np.float32)
    o, r = tensorc.compile(SOURCE, backend=backend).rbf_like(g, k, x)
    p = g * k
    np.testing.assert_allclose(o, p @ x + p.T @ x, rtol=1e-4)
    np.testing.assert_allclose(r, 2 * p.sum(1), rtol=1e-5)
