"""The backward reads a saved output instead of recomputing it: the RBF Gram gradient's
exp(-gamma |x_i - x_j|^2) is k(i, j), in both orientations; checked against torch autograd."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.frontend import parse_program
from tensorc.grad import gradient
from tensorc.ir.printer import print_def

RBF = """def rbf_gram(float(N,D) x, float gamma) -> (k) {
    k(i,j) = exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))
}"""


def test_rbf_backward_reads_the_saved_gram_matrix():
    back = print_def(gradient(parse_program(RBF).get("rbf_gram"), ("x", "gamma")).backward)
    assert "exp" not in back and "k(i, j)" in back and "k(i_1, i)" in back


def test_a_partial_expression_is_not_replaced():
    """exp(...) alone inside a W1 kernel sum is not the output (a sum over j of it times b)."""
    src = """def ksum(float(N,D) x, float(M,D) y, float(M) b) -> (o) {
        o(i) = sum(j: exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) * b(j))
    }"""
    back = print_def(gradient(parse_program(src).get("ksum"), ("x",)).backward)
    assert "exp" in back


@pytest.mark.parametrize("backend", ["interp", "cpu"])
def test_rbf_gradient_matches_torch(backend):
    torch = pytest.importorskip("torch")
    x = torch.randn(67, 19, dtype=torch.float64, requires_grad=True)
    g = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    src64 = RBF.replace("float(N,D)", "double(N,D)").replace("float gamma", "double gamma")
    mod = tensorc.compile(src64, backend=backend)
    w = torch.randn(67, 67, dtype=torch.float64)
    (mod.rbf_gram(x, g) * w).sum().backward()
    want_x, want_g = x.grad.clone(), g.grad.clone()
    x.grad = g.grad = None
    (torch.exp(-g * torch.cdist(x, x).square()) * w).sum().backward()
    np.testing.assert_allclose(want_x.numpy(), x.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(want_g.numpy(), g.grad.numpy(), rtol=1e-8, atol=1e-10)
