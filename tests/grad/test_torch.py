"""torch.autograd and torch.compile through compiled defs, `tensorc.grad` for numpy users, and
`tensorc grad` on the command line."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.cli import main
from tensorc.errors import ArgumentError, UnsupportedError

torch = pytest.importorskip("torch")

SRC = """
def ksum(float64(N, D) x, float64(M, D) y, float64(M, E) b, float64 sigma) -> (out) {
    out(i, e) = sum(j: exp(-sum(d: (x(i, d) - y(j, d)) * (x(i, d) - y(j, d))) / (2 * sigma * sigma)) * b(j, e))
}
def nn(float64(N, D) x, float64(M, D) y) -> (idx, dist) {
    idx(i) = argmin(j: sum(d: (x(i, d) - y(j, d)) * (x(i, d) - y(j, d))))
    dist(i) = min(j: sum(d: (x(i, d) - y(j, d)) * (x(i, d) - y(j, d))))
}
def table(float64(E, W) T, int32(L) idx) -> (O) { O(l, w) = T(idx(l), w) }
"""


def _leaf(*shape):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("backend", ["interp", "cpu"])
def test_outputs_get_a_grad_fn_and_scalar_params_a_gradient(backend):
    mod = tensorc.compile(SRC, backend=backend)
    x, y, b, sigma = _leaf(5, 3), _leaf(4, 3), _leaf(4, 2), torch.tensor(0.8, dtype=torch.float64)
    sigma.requires_grad_(True)
    out = mod.ksum(x, y, b, sigma)
    assert out.grad_fn is not None and out.shape == (5, 2)
    out.square().sum().backward()
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    ref = (torch.exp(-d2 / (2 * sigma * sigma)) @ b).square().sum()
    want = torch.autograd.grad(ref, (x, y, b, sigma))
    for got, w in zip((x.grad, y.grad, b.grad, sigma.grad), want):
        torch.testing.assert_close(got, w)
    assert sigma.grad.shape == ()


def test_no_grad_mode_and_plain_tensors_skip_autograd():
    mod = tensorc.compile(SRC, backend="interp")
    x, y, b = _leaf(3, 2), _leaf(2, 2), _leaf(2, 1)
    with torch.no_grad():
        assert mod.ksum(x, y, b, 1.0).grad_fn is None
    assert mod.ksum(x.detach(), y.detach(), b.detach(), 1.0).grad_fn is None


def test_integer_outputs_have_no_gradient():
    mod = tensorc.compile(SRC, backend="interp")
    x, y = _leaf(4, 2), _leaf(3, 2)
    idx, dist = mod.nn(x, y)
    assert not idx.requires_grad and idx.dtype == torch.int64
    assert dist.requires_grad
    dist.sum().backward()
    near = y[idx]
    torch.testing.assert_close(x.grad, 2 * (x - near).detach())
    with pytest.raises(RuntimeError, match="does not require grad"):
        idx.sum().backward()


def test_index_tensor_inputs_and_gather_gradient():
    mod = tensorc.compile(SRC, backend="cpu")
    T = _leaf(4, 3)
    idx = torch.tensor([0, 3, 3, 1], dtype=torch.int32)
    mod.table(T, idx).sum().backward()
    torch.testing.assert_close(
        T.grad[:, 0], torch.tensor([1.0, 1.0, 0.0, 2.0], dtype=torch.float64)
    )
    with pytest.raises(ArgumentError, match="'idx' is int32"):
        tensorc.grad(mod.table, wrt=["idx"])


def test_double_backward_is_a_clear_error():
    mod = tensorc.compile(SRC, backend="interp")
    x, y, b = _leaf(3, 2), _leaf(2, 2), _leaf(2, 1)
    (g,) = torch.autograd.grad(mod.ksum(x, y, b, 1.0).sum(), x, create_graph=True)
    with pytest.raises(UnsupportedError, match="double backward through the tensorc def 'ksum'"):
        g.sum().backward()


def test_a_def_that_cannot_be_differentiated_raises_at_the_forward_call(monkeypatch):
    from tensorc.grad import derivatives

    monkeypatch.delitem(derivatives.derivative_rules, "exp")
    mod = tensorc.compile(SRC, backend="interp")
    with pytest.raises(UnsupportedError, match="cannot differentiate the builtin 'exp'"):
        mod.ksum(_leaf(3, 2), _leaf(2, 2), _leaf(2, 1), 1.0)


@pytest.mark.parametrize("fresh", [False, True])
def test_torch_compile_fullgraph_trains(fresh):
    mod = tensorc.compile(SRC, backend="cpu")
    x, y, b = _leaf(5, 3), _leaf(4, 3), _leaf(4, 2)
    if not fresh:  # called once eagerly first; `fresh`: the first call is the compiled one
        mod.ksum(x, y, b, 0.9).sum().backward()
        x.grad = None

    def loss(x, y, b):
        return (mod.ksum(x, y, b, 0.9) ** 2).mean()

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    opt = torch.optim.SGD([x], lr=0.1)
    values = []
    for _ in range(3):
        opt.zero_grad()
        value = compiled(x, y, b)
        value.backward()
        want = torch.autograd.grad(loss(x, y, b), x)[0]
        torch.testing.assert_close(x.grad, want)
        opt.step()
        values.append(float(value.detach()))
    assert values[-1] < values[0]


def test_numpy_grad_api():
    mod = tensorc.compile(SRC, backend="cpu")
    rng = np.random.default_rng(0)
    x, y, b = rng.standard_normal((4, 2)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    g = tensorc.grad(mod.ksum, wrt=("x", "sigma"))
    dx, dsigma = g(x, y, b, 0.7)
    tx = torch.tensor(x, requires_grad=True)
    ts = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    d2 = ((tx[:, None, :] - torch.tensor(y)[None]) ** 2).sum(-1)
    (torch.exp(-d2 / (2 * ts * ts)) @ torch.tensor(b)).sum().backward()
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dsigma, ts.grad.numpy(), rtol=1e-10)
    cot = rng.standard_normal((4, 2))
    np.testing.assert_allclose(g(x, y, b, 0.7, cotangents=cot)[0].shape, (4, 2))
    with pytest.raises(ArgumentError, match="expected 1 cotangent"):
        g(x, y, b, 0.7, cotangents=(cot, cot))


def test_cli_prints_backward_equations_that_reparse(tmp_path, capsys):
    from tensorc.frontend import parse_program

    path = tmp_path / "k.tc"
    path.write_text(SRC)
    assert main(["grad", str(path), "--def", "ksum", "--wrt", "x,b"]) == 0
    out = capsys.readouterr().out
    assert "def ksum_grad(" in out and "-> (float64(N, D) d_x, float64(M, E) d_b)" in out
    text = "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    assert parse_program(text).defs[0].name == "ksum_grad"
    assert main(["grad", str(path), "--def", "table", "--wrt", "idx"]) == 1
    assert "'idx' is int32" in capsys.readouterr().err


def test_backward_differentiates_only_inputs_that_need_it():
    from tensorc.runtime import autograd

    mod = tensorc.compile(SRC, backend="interp")
    x, y, b = _leaf(3, 2), _leaf(2, 2).detach(), _leaf(2, 1).detach()
    mod.ksum(x, y, b, 1.0).sum().backward()
    assert x.grad is not None and y.grad is None
    # (wrt, saving): None is the check at the forward call; ksum saves no extra values
    assert set(autograd.ops_for(mod.ksum).grad_state) == {(None, False), (("x",), False)}
