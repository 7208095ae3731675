"""Each TensorIR pass is pure and preserves meaning (checked with the TensorIR interpreter)."""

from __future__ import annotations

import numpy as np
import pass_workloads as W
import pytest

from tensorc.ir.tir_utils import reads
from tensorc.passes import PIPELINE, run_pipeline
from tensorc.passes.fuse_updates import fuse_updates
from tensorc.passes.inline_temps import inline_temps, not_inlined

interp = pytest.importorskip("tensorc.ir.interpreter")

CASES = {
    "w1": (W.w1, {"N": 5, "M": 6, "D": 3, "E": 2}),
    "w4": (W.w4, {"B": 1, "H": 2, "N": 5, "M": 5, "D": 3, "E": 2}),
    "fcrelu": (W.fcrelu, {"B": 3, "M": 4, "N": 5}),
    "softmax3": (W.softmax3, {"N": 3, "C": 5}),
    "masks": (W.empty_mask, {"N": 6}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_pass_preserves_meaning(case):
    make, sizes = CASES[case]
    def_, _ = make()
    args = W.make_inputs(def_, sizes, np.random.default_rng(0))
    want = interp.interpret(def_, args, float64=True)
    cur = def_
    for p in PIPELINE:
        nxt = p(cur)
        assert p(cur) == nxt  # pure and deterministic
        got = interp.interpret(nxt, args, float64=True)
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-6, atol=1e-9, err_msg=f"{p.__name__}: {k}")
        cur = nxt


def test_w4_s_is_inlined():
    after = run_pipeline(W.w4()[0])
    assert after.temps == () and len(after.body) == 1
    assert not any(a.tensor == "s" for a, _ in reads(after.body[0].rhs))


def test_fcrelu_chain_fused():
    assert len(fuse_updates(W.fcrelu()[0]).body) == 1


def test_softmax_temps_inlined():
    after = run_pipeline(W.softmax3()[0])
    assert len(after.body) == 1 and after.temps == ()


def test_indirect_temp_not_inlined():
    from tir_build import A, decl, define, rng, st

    from tensorc.ir import tensor_ir as T

    t = st("t", "v", [rng("v", "V")], A("x", "v") * 2.0)
    o = st("o", "l", [rng("l", "L")], W.lift(T.Access("t", (T.Access("idx", (T.Index("l"),), "int32"),), "float32")))
    d = define("g", [decl("x", ("V",)), decl("idx", ("L",), "int32")], [decl("o", ("L",), role="output")],
               [t, o], temps=[decl("t", ("V",), role="temp")])  # fmt: skip
    assert inline_temps(d) == d
    assert "indirect index" in not_inlined(d)[0] and "stored as buffer t[V]" in not_inlined(d)[0]
