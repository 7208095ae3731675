"""The saving forward (grad.saving_forward): values the backward would recompute (attention's
logsumexp, an argkmin) become extra outputs of the forward; flash attention writes the
logsumexp from its running max and sum, and the backward reads it (one kernel, no pass over the
keys to recompute it). Checked against the TensorIR interpreter and torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import attention_inputs, attention_source

import tensorc
from tensorc.frontend import parse_program
from tensorc.grad import gradient, saving_forward
from tensorc.ir.tensor_ir import Reduce, walk
from tensorc.pipeline import to_loops
from tensorc.runtime import autograd
from tensorc.runtime.module import Function

SRC = attention_source(band_width=3)
DEFS = {d.name: d for d in parse_program(SRC, "<test>").defs}
SIZES = [
    {"B": 1, "H": 1, "N": 1, "M": 1, "D": 16, "E": 16},
    {"B": 2, "H": 1, "N": 33, "M": 20, "D": 16, "E": 8},
    {"B": 1, "H": 2, "N": 101, "M": 131, "D": 24, "E": 5},
]


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: f"N{s['N']}M{s['M']}")
@pytest.mark.parametrize("name", ["causal", "full", "strict", "band"])
def test_flash_kernel_writes_the_logsumexp(name, sizes):
    aug, values = saving_forward(DEFS[name])
    assert values == ("lse",)
    assert len(to_loops(aug, "cpu", sizes).kernels) == 1  # o and lse in one flash pass
    q, k, v = attention_inputs(sizes, np.random.default_rng(1))
    want = Function(aug, "interp")(q, k, v, 0.25)
    for backend in ("cpu", "loops"):
        got = Function(aug, backend)(q, k, v, 0.25)
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)
    if name == "strict":  # row 0 keeps no key: the empty logsumexp is -inf, its output 0
        assert np.all(np.isneginf(got[1][..., 0])) and np.all(got[0][..., 0, :] == 0)


def test_backward_reads_the_saved_logsumexp():
    g = gradient(DEFS["causal"], ("q", "k", "v"), save_values=True)
    assert g.saved == ("o", "lse") and g.values == ("lse",)
    assert [c for c, _ in g.cotangents] == ["o"]  # a saved value gets no cotangent
    ops = {x.op for st in g.backward.body for x in walk(st.rhs) if isinstance(x, Reduce)}
    assert "logsumexp" not in ops
    plain = gradient(DEFS["causal"], ("q", "k", "v")).backward
    sizes = {"B": 2, "H": 4, "N": 301, "M": 299, "D": 16, "E": 16}  # d_s too big to store
    n = len(to_loops(plain, "cpu", sizes).kernels)  # one kernel fewer: no pass over the keys
    assert len(to_loops(g.backward, "cpu", sizes).kernels) == n - 1


def _float64(src: str) -> str:
    return src.replace("float(", "float64(").replace("float scale", "float64 scale")


@pytest.mark.parametrize("name", ["causal", "band"])
def test_torch_runs_the_saving_forward(name):
    mod = tensorc.compile(_float64(SRC), backend="cpu")
    fn = mod[name]
    assert autograd.ops_for(fn).saving is not None
    q, k, v = (torch.randn(1, 2, 9, 16, dtype=torch.float64, requires_grad=True) for _ in range(3))
    call = lambda q, k, v: fn(q, k, v, 0.25)
    out = call(q, k, v)
    assert isinstance(out, torch.Tensor) and out.shape == (1, 2, 9, 16)  # lse stays hidden
    assert torch.autograd.gradcheck(call, (q, k, v))
    with torch.no_grad():  # no gradient wanted: the plain def, one output
        assert torch.allclose(call(q, k, v), out)


def test_numpy_grad_uses_the_saving_forward():
    src = _float64(SRC)
    mod = tensorc.compile(src, backend="cpu")
    g = tensorc.grad(mod.causal, wrt=("q", "k", "v"))
    assert [t.name for t in g.forward.def_.outputs] == ["o", "lse"]
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((1, 2, 7, 16)) for _ in range(3))
    got = g(q, k, v, 0.25)
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    mod.causal(*ts, 0.25).sum().backward()
    for a, t in zip(got, ts):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_kmin_rank_index_matches_its_saved_value():
    src = """def knn(float64(N,D) x, float64(M,D) y) -> (dist) {
        dist(i, r) = kmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))), 3)
    }"""
    g = gradient(parse_program(src).get("knn"), ("x",), save_values=True)
    assert g.values == ("argkmin",)
    reads = {x.tensor for st in g.backward.body for x in walk(st.rhs) if hasattr(x, "tensor")}
    assert "argkmin" in reads and not any(
        isinstance(x, Reduce) and x.op == "argkmin" for st in g.backward.body for x in walk(st.rhs)
    )
