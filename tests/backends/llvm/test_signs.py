"""Sign facts (backends/llvm/signs.py): which float expressions are never positive / negative, and
the exp/exp2 variant the renderer picks from them."""

from __future__ import annotations

import numpy as np
import pytest
from loopbuild import (
    V,
    add,
    assign,
    buf,
    c,
    call,
    div,
    kernel,
    ld,
    let,
    local,
    loop,
    lr,
    mul,
    program,
    store,
    sub,
)
from tensorc.backends.llvm.backend import BACKEND
from tensorc.backends.llvm.render import SWEEP_UNROLL_MATH
from tensorc.backends.llvm.signs import BOTH, GE0, LE0, NONE, Signs
from workloads import gauss_ksum, gauss_ksum_ref

from tensorc.frontend import parse_program
from tensorc.ir import loop_ir as L
from tensorc.passes import to_loops

F32 = "float32"
POS, NEG = frozenset((GE0,)), frozenset((LE0,))
s, g, v = V("s", F32), V("g", F32), V("v", F32)  # s, g: scalars of unknown sign; v: a Let
sq = lr("sq")  # a local that only ever accumulates squares
mx = lr("mx")  # a running max of nonpositive values


def _kernel(extra=()):
    j = V("j")
    diff = sub(ld("x", [j]), ld("y", [j]))
    body = [local("sq", F32, (), 0.0), local("mx", F32, (), float("-inf")),
            loop("j", 0, V("N"), [
                let("v", diff),
                assign("sq", (), add(sq, mul(v, v))),
                assign("mx", (), call("max", mx, call("neg", sq))),
                *extra,
            ], kind="reduce")]
    return kernel("k", [buf("x", F32, ("N",)), buf("y", F32, ("N",))], ["N"], body)


@pytest.mark.parametrize("expr, facts", [
    (mul(v, v), POS),
    (mul(mul(c(2.0), s), s), POS),  # W1's 2 * sigma * sigma: sigma twice
    (mul(c(2.0), s), NONE),
    (call("neg", mul(s, s)), NEG),
    (mul(call("neg", s), s), NEG),
    (div(call("neg", sq), mul(mul(c(2.0), s), s)), NEG),  # W1's exponent
    (div(sq, s), NONE),  # s unpaired
    (div(c(1.0), sub(c(0.0), mul(s, s))), NONE),  # a divisor that may be -0.0: 1 / -0.0 = -inf
    (div(sq, call("exp", v)), POS),
    (mul(sq, c(0.0)), BOTH),
    (sub(mx, sq), NEG),
    (sub(sq, mx), POS),
    (sub(sq, v), NONE),
    (call("max", v, c(0.0)), POS),
    (call("min", v, c(0.0)), NEG),
    (call("max", mx, c(-1.0)), NEG),
    (call("fmax", v, c(0.0)), NONE),  # fmax(NaN, -1) = -1
    (call("select", call("lt", v, c(0.0)), sq, c(0.0)), POS),
    (call("exp", v), POS),
    (call("log", sq), NONE),
    (V("N"), POS),
    (ld("x", [V("j")]), NONE),
])
def test_facts(expr, facts):
    assert Signs(_kernel()).of(expr) == facts


def test_a_local_loses_a_fact_that_any_assignment_breaks():
    k = _kernel([assign("sq", (), sub(sq, c(1.0)))])
    assert Signs(k).of(sq) == NONE
    assert Signs(k).of(mx) == NONE  # its value depended on sq
    k = _kernel([assign("sq", (), mul(sq, c(0.5)))])
    assert Signs(k).of(sq) == POS and Signs(k).of(mx) == NEG


def test_a_local_written_by_a_gemm_has_no_facts():
    """A Gemm (or Copy) can write a local through an operand (flash attention's score tile)."""
    op = L.Operand("sq", c(0), (c(0), c(1), c(1)), local=True)
    gemm = L.Gemm(op, op, op, c(1), c(1), c(1), c(1), c(1.0))
    assert Signs(_kernel()).of(sq) == POS
    assert Signs(_kernel([gemm])).of(sq) == NONE


def _exp_args(stmts):
    """The arguments of every exp call in a LoopIR statement tree."""
    out = []

    def expr(e):
        if isinstance(e, L.Call):
            if e.fn == "exp":
                out.append(e.args[0])
            for a in e.args:
                expr(a)

    def walk(ss):
        for t in ss:
            for e in (getattr(t, f, None) for f in ("value", "init", "cond")):
                if e is not None:
                    expr(e)
            walk(getattr(t, "body", ()) + getattr(t, "then", ()) + getattr(t, "orelse", ()))

    walk(stmts)
    return out


def test_w1_exponent_is_nonpositive_and_renders_the_variant():
    src = """def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
        out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma)) * b(j,e)
    }"""
    prog = to_loops(parse_program(src).get("gauss_ksum"), "cpu", {"N": 100, "M": 100, "D": 3, "E": 1})
    (k,) = prog.kernels
    args = _exp_args(k.body)
    assert args and all(Signs(k).nonpositive(a) for a in args)
    text = BACKEND.render(prog)
    assert "tc.exp2_nonpos.f32" in text and "tc.exp2.f32" not in text
    # the row-blocked sweep is unrolled by SWEEP_UNROLL_MATH (it calls exp), plus the remainder loop
    assert text.count("call float @\"tc.exp2_nonpos.f32\"") == SWEEP_UNROLL_MATH + 1


@pytest.mark.parametrize("n, m", [(1, 1), (7, 13), (8, 8), (33, 257)])
def test_w1_with_the_variant_matches_float64(n, m):
    """The hand-built W1 (one row per iteration, exp of -t / (2 s s)) also takes the variant;
    sigma < 0 and a far point (every term underflows to 0) included."""
    prog = gauss_ksum(3)
    assert "tc.exp2_nonpos.f32" in BACKEND.render(prog)
    rng = np.random.default_rng(n * m)
    x, y = (rng.normal(size=(k, 3)).astype(np.float32) for k in (n, m))
    y[0] = 1e4
    b = rng.random((m, 1), dtype=np.float32)
    for sigma in (0.7, -1.3):
        out = np.zeros((n, 1), np.float32)
        BACKEND.compile(prog)({"x": x, "y": y, "b": b, "sigma": np.float32(sigma), "out": out},
                              {"N": n, "M": m})
        np.testing.assert_allclose(out, gauss_ksum_ref(x, y, b, sigma), rtol=2e-6, atol=1e-30)


def test_exp_of_an_unknown_sign_keeps_the_general_function():
    i = V("i")
    arg = mul(call("neg", V("g", F32)), mul(ld("u", [i]), ld("u", [i])))  # -g * u * u, g unknown
    prog = program("ex", [buf("u", F32, ("N",)), buf("g", F32, (), "scalar")],
                   [buf("out", F32, ("N",), "output")], ["N"],
                   [loop("i", 0, V("N"), [store("out", [i], call("exp", arg))], kind="vector")])
    text = BACKEND.render(prog)
    assert "_nonpos" not in text
    u = np.float32([0.0, 1.0, 3.0, 6.3, 7.0])  # 2 * 6.3**2 > 64 needs the overflow path
    out = np.zeros_like(u)
    BACKEND.compile(prog)({"u": u, "g": np.float32(-2.0), "out": out}, {"N": u.size})
    ref = np.exp(2.0 * u.astype(np.float64) ** 2)  # the product's rounding: 2**-24 * |x| each
    np.testing.assert_allclose(out[:4], ref[:4], rtol=1e-6 + 3 * 80 * 2.0**-24)
    assert out[4] == np.inf
