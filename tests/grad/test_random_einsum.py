"""Random einsum expressions: tensorc.einsum's gradients (through its compiled gradient def)
against torch.einsum's autograd."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensorc

torch = pytest.importorskip("torch")

LETTERS = "ijkl"
SIZES = {"i": 2, "j": 3, "k": 2, "l": 3}


@st.composite
def equations(draw):
    n = draw(st.integers(1, 3))
    ops = [
        "".join(draw(st.lists(st.sampled_from(LETTERS), min_size=1, max_size=3))) for _ in range(n)
    ]
    used = sorted(set("".join(ops)))
    out = draw(st.lists(st.sampled_from(used), unique=True, max_size=len(used)))
    return ",".join(ops) + "->" + "".join(out)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(eq=equations(), seed=st.integers(0, 2**16))
def test_random_einsum_gradients_match_torch(eq, seed):
    rng = np.random.default_rng(seed)
    shapes = [[SIZES[c] for c in op] for op in eq.split("->")[0].split(",")]
    ours = [torch.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    theirs = [t.detach().clone().requires_grad_(True) for t in ours]
    out = tensorc.einsum(eq, *ours, backend="interp")
    want = torch.einsum(eq, *theirs)
    assert out.grad_fn is not None
    torch.testing.assert_close(out, want)
    cot = torch.tensor(rng.standard_normal(tuple(want.shape)))
    (out * cot).sum().backward()
    (want * cot).sum().backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, msg=f"{eq}")
