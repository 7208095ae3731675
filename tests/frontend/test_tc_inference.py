"""Tensor Comprehensions' own range-inference tests (test/test_inference.cc), on tensorc.

TC reports each output's min and extent per dimension; tensorc's arrays start at 0, so we compare the
writing statement's domain (lo, hi - lo) with TC's (min, extent), numerically at several sizes. Where
TC infers a negative min (`O(i) = I(i + 5)`), tensorc starts at 0 (noted per case). The TC programs
that TC rejects are rejected here too.
"""

from __future__ import annotations

import warnings

import pytest
import sympy

from tensorc.errors import TensorcError, TensorcWarning
from tensorc.frontend import parse_program

# name -> (program, {tensor: [(min, extent) per dim as TC writes them]})
ACCEPTED = {
    "Copy1D": ("def fun(float(I_0) I) -> (O) { O(i) = I(i) }", {"O": [("0", "I_0")]}),
    "Copy2D": (
        "def fun(float(I_0, I_1) I) -> (O) { O(i, j) = I(i, j) }",
        {"O": [("0", "I_0"), ("0", "I_1")]},
    ),
    "Transpose2D": (
        "def fun(float(I_0, I_1) I) -> (O) { O(i, j) = I(j, i) }",
        {"O": [("0", "I_1"), ("0", "I_0")]},
    ),
    "Transpose4D": (
        "def fun(float(I_0, I_1, I_2, I_3) I) -> (O) { O(i, j, l, k) = I(j, i, k, l) }",
        {"O": [("0", "I_1"), ("0", "I_0"), ("0", "I_3"), ("0", "I_2")]},
    ),
    "Scale1D": ("def fun(float(I_0) I) -> (O) { O(i) = I(123 * i) }",
                {"O": [("0", "floor((I_0 + 122) / 123)")]}),
    "Shift1D": ("def fun(float(I_0) I) -> (O) { O(i) = I(i - 1) }", {"O": [("1", "I_0")]}),
    # TC: min -5, extent I_0 (a Halide buffer with a negative min); tensorc arrays start at 0
    "Shift1D2": ("def fun(float(I_0) I) -> (O) { O(i) = I(i + 5) }", {"O": [("0", "I_0 - 5")]}),
    "Conv": (
        """def convolution(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) B) -> (tmp, O) {
            tmp(n, m, h, w) +=! I(n, c, h + kh, w + kw) * W1(m, c, kh, kw)
            O(n, m, h, w) +=! tmp(n, m, h, w) + B(m) }""",
        {"tmp": [("0", "N"), ("0", "M"), ("0", "H - KH + 1"), ("0", "W - KW + 1")],
         "O": [("0", "N"), ("0", "M"), ("0", "H - KH + 1"), ("0", "W - KW + 1")]},
    ),
    "ConvGrad": (
        """def convolutionGrad(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(N,M,OH,OW) d_O)
               -> (d_I, d_W1, d_B) {
            d_I(n, c, h, w) +=! d_O(n, m, h - kh, w - kw) * W1(m, c, kh, kw)
            d_W1(m, c, kh, kw) +=! d_O(n, m, h - kh, w - kw) * I(n, c, h, w)
            d_B(m) +=! d_O(n, m, h, w) }""",
        {"d_I": [("0", "N"), ("0", "C"), ("KH - 1", "OH - KH + 1"), ("KW - 1", "OW - KW + 1")],
         "d_W1": [("0", "M"), ("0", "C"), ("H - OH", "OH - H + 1"), ("W - OW", "OW - W + 1")],
         "d_B": [("0", "M")]},
    ),
    "PaddedConv": (
        """def convolution(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) B) -> (pad, tmp) {
            pad(n, c, h, w)  = I(n, c, h - 2 - 3, w - 3 - 4)
            tmp(n, m, h, w) +=! pad(n, c, 2 * h + kh, 3 * w + kw) * W1(m, c, kh, kw) }""",
        {"pad": [("0", "N"), ("0", "C"), ("5", "H"), ("7", "W")],
         "tmp": [("0", "N"), ("0", "M"), ("3", "floor((H - KH + 1) / 2)"),
                 ("3", "floor((W - KW + 1) / 3)")]},
    ),
    "WeirdConv": (
        """def fun(float(B,IP,H,W) input, float(OP,IP,KH,KW) weight) -> (output) {
            output(b, op, h, w) +=! input(b, ip, 2 * h + 3 * w + kh, 2 * w + kw)
                                    * weight(op, ip, kh, kw) }""",
        {"output": [("0", "B"), ("0", "OP"),
                    ("0", "floor((H - KH - floor((W - KW) / 2) * 3) / 2) + 1"),
                    ("0", "floor((W - KW) / 2) + 1")]},
    ),
    "TCA": ("def fun(float(I_0, I_1, I_2) I) -> (O) { O(i) +=! I(j, i + j, k) }",
            {"O": [("0", "I_1 - I_0 + 1")]}),
    "TCF": (
        """def fun(float(A_0, A_1, A_2) A, float(B_0, B_1, B_2) B, float(C_0, C_1, C_2) C)
               -> (O2, O3) {
            O2(j, k, l) +=! B(j, k, l) + A(i, j, k)
            O3(k, l, m) +=! C(k, l, m) + O2(j, k, l) }""",
        {"O2": [("0", "Min(B_0, A_1)"), ("0", "Min(B_1, A_2)"), ("0", "B_2")],
         "O3": [("0", "Min(C_0, Min(B_1, A_2))"), ("0", "Min(C_1, B_2)"), ("0", "C_2")]},
    ),
    "TCG": (
        """def fun(float(A_0, A_1, A_2) A, float(B_0, B_1, B_2) B, float(C_0, C_1, C_2) C)
               -> (O1, O2, O3) {
            O1(i, j) +=! A(i, j, k)
            O2(j, k, l) +=! B(j, k, l) + O1(i, j)
            O3(k, l, m) +=! C(k, l, m) + O2(j, k, l) }""",
        {"O1": [("0", "A_0"), ("0", "A_1")],
         "O2": [("0", "Min(B_0, A_1)"), ("0", "B_1"), ("0", "B_2")],
         "O3": [("0", "Min(C_0, B_1)"), ("0", "Min(C_1, B_2)"), ("0", "C_2")]},
    ),
    "PartialCopy": ("def fun(float(N, M) I) -> (O) { O(i, j) = I(i, j) where i in 3:N-1 }",
                    {"O": [("3", "N - 4"), ("0", "M")]}),
    "UnambiguousRotate": (
        "def fun(float(N, M) I) -> (O) { O(i, j) = I(10 + i - j, i + j) where i in 0:10 }",
        {"O": [("0", "10"), ("20 - Min(N, 20)", "Min(M - 10, 10) + Min(N, 20) - 19")]},
    ),
    "RuntimeCheckOnDerivedSizeStaticallyProvable": (
        "def fun(float(10, 19, 10) I) -> (O) { O(i, j) = I(i, i + j, j) }",
        {"O": [("0", "10"), ("0", "10")]},
    ),
    "PartialAssignWithWhere": ("def fun() -> (O) { O(i, j) = 3 where i in 4:8, j in 3:20 }",
                               {"O": [("4", "4"), ("3", "17")]}),
    "EmptySetWhere": ("def fun() -> (O) { O(i, j) = 3 where i in 8:4, j in 3:20 }",
                      {"O": [("8", "-4"), ("3", "17")]}),
    # TC's NestedExpressions convolution (test_execution_engine): x solved through xp's range
    "NestedExpressions": (
        """def convolution(float(X) A, float(Xp) K) -> (B) {
            B(x) +=! A(xp) * K(X - 1 + x - xp) where xp in 0:X }""",
        {"B": [("0", "Xp - X + 1")]},
    ),
}

REJECTED = {
    "Transpose5D": "def fun(float(I_0, I_1, I_2, I_3, I_4) I) -> (O) "
                   "{ O(i, j, k, l, m) = I(j, i, k, i, l) }",
    "TCB": "def fun(float(I_0, I_1, I_2) A) -> (O) { O(i) +=! A(i + j, i + j, i + j) }",
    "TCC": "def fun(float(I_0, I_1, I_2) I) -> (O) { O(i) +=! I(i, i + j, j) }",
    "TCD": "def fun(float(I_0, I_1, I_2, I_3, I_4) I) -> (O) { O(i) +=! I(i, j, i, k, 2 * i + j) }",
    "TCE": "def fun(float(I_0, I_1, I_2, I_3, I_4) I) -> (O) "
           "{ O(i) +=! I(j, j + 1, i, i + 3, 2 * i + j + 0) }",
    "AmbiguousRotate": "def fun(float(N, M) I) -> (O) { O(i, j) = I(10 + i - j, i + j) }",
    "RuntimeCheckOnDerivedSize": "def fun(float(N, NM, M) I) -> (O) { O(i, j) = I(i, i + j, j) }",
    "PartialAssignWithoutWhere": "def fun() -> (O) { O(i, j) = 3 }",
    "IllegalIndirectWhere": "def fun(float(N) size) -> (O) "
                            "{ O(i, j) = 3 where i in 0:size(j), j in 0:size(i) }",
}


def _values(expr: sympy.Expr, env: dict[str, int]) -> int:
    return int(expr.subs({s: env[s.name] for s in expr.free_symbols}))


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_tc_inference_accepted(name):
    src, want = ACCEPTED[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TensorcWarning)
        d = parse_program(src).defs[0]
    domains = {}
    for st in d.body:
        domains.setdefault(st.tensor, st.domain)
    for env in ({"s": 1}, {"s": 2}, {"s": 3}):
        sizes = {}
        for k, (_, decl) in enumerate(sorted((x.name, x) for x in d.inputs)):
            for dim in decl.shape:
                for sym in getattr(dim, "free_symbols", ()):
                    sizes.setdefault(sym.name, 40 + 7 * k * env["s"] + 3 * len(sizes))
        sizes.update({"KH": 3, "KW": 2 + env["s"], "X": 9, "Xp": 17 + env["s"], "OH": 30, "OW": 31})
        for tensor, dims in want.items():
            for r, (lo, ext) in zip(domains[tensor], dims, strict=True):
                glo, gext = _values(sympy.sympify(r.lo), sizes), _values(r.hi - r.lo, sizes)
                wlo = _values(sympy.sympify(lo, locals=_syms(lo)), sizes)
                wext = _values(sympy.sympify(ext, locals=_syms(ext)), sizes)
                assert (glo, gext) == (wlo, wext), f"{name} {tensor} {r} at {sizes}"


def _syms(text: str) -> dict:
    import re

    return {n: sympy.Symbol(n, integer=True, nonnegative=True)
            for n in re.findall(r"[A-Za-z_]\w*", text) if n not in ("Min", "Max", "floor")}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_tc_inference_rejected(name):
    with pytest.raises(TensorcError) as info:
        parse_program(REJECTED[name])
    assert "internal error" not in str(info.value)
