"""Dot-product tiles (tensorc/schedule/tiles.py): sums over j of a pointwise function of dot
products are computed tile by tile with Gemms, never storing the N x M matrix -- the attention
gradient's dq, dk, dv (dk and dv in one pass) and logsumexp; checked against the interpreter."""

from __future__ import annotations

import os

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.explain import explain
from tensorc.frontend import parse_program
from tensorc.grad import gradient
from tensorc.ir.loop_printer import format_program
from tensorc.pipeline import to_loops

HEAD = "(float(N,D) x, float(M,D) y, float(M,E) v, float(N,E) w) -> (o)"
DOT = "sum(d: x(i,d) * y(j,d))"
BODIES = {
    "abs": f"o(i,e) = sum(j: abs({DOT}) * v(j,e))",
    "exp_masked": f"o(i,e) = sum(j: exp({DOT} / 8.0) * v(j,e))  where j <= i",
    "row_col_values": (f"o(i,e) = sum(j: exp({DOT} - 0.5 * sum(d: x(i,d) * x(i,d)) "
                       f"- 0.5 * sum(d: y(j,d) * y(j,d))) * v(j,e))"),
    "two_tiles": f"o(i,e) = sum(j: tanh({DOT}) * sum(f: w(i,f) * v(j,f)) * v(j,e))",
    "select_masked": f"o(i,e) = sum(j: (j <= i + 2 ? {DOT} : 0.0) * v(j,e))",
    "lse": f"o(i) = logsumexp(j: {DOT})  where j <= i",
    "max": f"o(i) = max(j: {DOT})",
    "min": f"o(i) = min(j: {DOT} * 0.5)  where j >= i",
    "sum": f"o(i) = 2.0 * sum(j: sigmoid({DOT}))",
}
SOURCE = "\n".join(f"def {n}{HEAD} {{\n    {b}\n}}" for n, b in BODIES.items())
DEFS = {d.name: d for d in parse_program(SOURCE).defs}
SIZES = [
    {"N": 1, "M": 1, "D": 16, "E": 3},
    {"N": 131, "M": 97, "D": 17, "E": 5},
    {"N": 200, "M": 260, "D": 32, "E": 16},
]


@pytest.mark.parametrize("name", sorted(BODIES))
def test_tile_sums_are_gemm_tiles(name):
    text = format_program(to_loops(DEFS[name], "cpu", SIZES[2]))
    assert "gemm" in text and "local T" in text, name


def test_small_feature_dimension_streams():
    """Below GEMM_MIN_K features a dot product is no tile: the streaming loop nest (W1's D = 3)."""
    text = format_program(to_loops(DEFS["abs"], "cpu", {**SIZES[2], "D": 3}))
    assert "gemm" not in text


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: f"N{s['N']}M{s['M']}")
def test_tile_sums_match_the_interpreter(backend, sizes):
    require_backend(backend)
    got_mod, ref_mod = tensorc.compile(SOURCE, backend=backend), tensorc.compile(SOURCE, "interp")
    rng = np.random.default_rng(3)
    n, m, d, e = (sizes[x] for x in "NMDE")
    args = [rng.standard_normal(s).astype(np.float32) * 0.5 for s in ((n, d), (m, d), (m, e), (n, e))]
    for name in BODIES:
        got = np.asarray(getattr(got_mod, name)(*args))
        ref = np.asarray(getattr(ref_mod, name)(*args))
        np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4, err_msg=name)


ATTN = """def attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
}"""


def test_attention_backward_is_flash_style():
    """lse, dv + dk in one pass over query blocks (sharing the score tile), dq over key blocks:
    three kernels, and no N x M buffer."""
    back = gradient(parse_program(ATTN).get("attention"), ("q", "k", "v")).backward
    sizes = {"B": 1, "H": 2, "N": 8192, "M": 8192, "D": 64, "E": 64}
    text = explain(back, target="cpu", sizes=sizes)
    assert "fused with statement" in text and text.count("computed tile by tile") == 4
    prog = to_loops(back, "cpu", sizes)
    assert len(prog.kernels) == 3
    for buf in (*prog.temps, *prog.outputs):
        shape = [sizes.get(str(x), x) for x in buf.shape]
        assert np.prod([int(x) for x in shape]) <= 2 * 8192 * 64, buf.name


@pytest.mark.parametrize("wrt", [("q",), ("v",), ("k",)])
def test_attention_backward_for_some_inputs_stores_no_n_by_m(wrt):
    """With one input, the logsumexp is read by one statement: computed first into a vector
    (tiles.py `_materialise`), never stored as N x M nor recomputed per block."""
    back = gradient(parse_program(ATTN).get("attention"), wrt).backward
    sizes = {"B": 1, "H": 2, "N": 8192, "M": 8192, "D": 64, "E": 64}
    prog = to_loops(back, "cpu", sizes)
    assert sum("computed tile by tile" in n for n in prog.notes) == 2  # the lse, the gradient
    # the lse is read as a vector, not recomputed per block by a scalar loop
    text = format_program(prog)
    assert text.count("log(") == 1, "the logsumexp is computed once, in its own kernel"
    for buf in (*prog.temps, *prog.outputs):
        shape = [sizes.get(str(x), x) for x in buf.shape]
        assert np.prod([int(x) for x in shape]) <= 2 * 8192 * 64, buf.name


@pytest.mark.parametrize("wrt", [("q", "k", "v"), ("q",), ("v",)])
@pytest.mark.parametrize("n", [1, 37, 200])
def test_attention_backward_matches_the_interpreter(n, wrt):
    require_backend("cpu")
    back = gradient(parse_program(ATTN).get("attention"), wrt).backward
    rng = np.random.default_rng(n)
    q, k, v, o, do = (rng.standard_normal((1, 2, n, 64)).astype(np.float32) for _ in range(5))
    args = (q, k, v, np.float32(0.125), o, do)
    from tensorc.runtime.module import Function

    got = Function(back, "cpu")(*args)
    ref = Function(back, "interp")(*args)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-4)


UNITS = 4 * (os.cpu_count() or 1)  # batches enough for one iteration per batch (TRANSPOSED_MIN_UNITS)
PAIR = """def pair(float(H,N,D) x, float(H,M,D) y, float(H,M,E) v, float(H,N,E) w) -> (a, b) {
    a(h,i,e) = 0.5 * sum(j: tanh(sum(d: x(h,i,d) * y(h,j,d))) * v(h,j,e))
    b(h,j,e) = sum(i: tanh(sum(d: x(h,i,d) * y(h,j,d))) * w(h,i,e))
}"""


def test_transposed_reader_shares_the_pass():
    """b reads a's G transposed: one kernel, b accumulated by a Gemm of each G tile; with too
    few batches to own, two kernels."""
    d = parse_program(PAIR).get("pair")
    many = to_loops(d, "cpu", {"H": UNITS, "N": 300, "M": 200, "D": 32, "E": 8})
    assert len(many.kernels) == 1 and any("transposed" in n for n in many.notes)
    few = to_loops(d, "cpu", {"H": 1, "N": 300, "M": 200, "D": 32, "E": 8})
    assert len(few.kernels) == 2


@pytest.mark.parametrize("n, m", [(1, 1), (131, 97), (200, 260)])
def test_transposed_reader_matches_the_interpreter(n, m):
    require_backend("cpu")
    got_mod, ref_mod = tensorc.compile(PAIR, backend="cpu"), tensorc.compile(PAIR, "interp")
    rng = np.random.default_rng(n)
    shapes = ((UNITS, n, 32), (UNITS, m, 32), (UNITS, m, 8), (UNITS, n, 8))
    args = [rng.standard_normal(s).astype(np.float32) * 0.3 for s in shapes]
    for g, r in zip(got_mod.pair(*args), ref_mod.pair(*args)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("causal", [True, False])
def test_attention_backward_one_pass_for_dq_dk_dv(causal):
    """With a batch per iteration, dq joins the dk/dv pass (FlashAttention-2's backward: S, dP,
    dV, dK, dQ per tile); checked against the interpreter."""
    require_backend("cpu")
    src = ATTN if causal else ATTN.replace("  where j <= i", "")
    back = gradient(parse_program(src).get("attention"), ("q", "k", "v")).backward
    # M > 8 D: dS is more than STORE_RATIO times q, so it is never stored (costs.py)
    prog = to_loops(back, "cpu", {"B": 1, "H": UNITS, "N": 300, "M": 300, "D": 16, "E": 16})
    # the lse; dv, dk and dq; unmasked, D_i = sum(e: dO o) is computed once first (share_sums)
    assert len(prog.kernels) == (2 if causal else 3)
    rng = np.random.default_rng(7)
    q, k, v, o, do = (rng.standard_normal((1, UNITS, 131, 16)).astype(np.float32) for _ in range(5))
    args = (q, k, v, np.float32(0.125), o, do)
    from tensorc.runtime.module import Function

    for g, r in zip(Function(back, "cpu")(*args), Function(back, "interp")(*args)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-4, atol=1e-4)
