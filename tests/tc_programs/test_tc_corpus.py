"""Real Tensor Comprehensions programs, as TC's own repository writes them, against numpy float64.

The programs come from TensorComprehensions' tests and examples (test_corner_cases.cc,
test_execution_engine.cc, test_tc_mapper*.cc, test_tc2halide.cc, test_lang.cc, python/examples,
test_python, tensor_comprehensions/library/layers.yaml), template values filled in. The .tc corpus
next to this file holds TC's layer database; this file adds the rest. Each reference is float64
numpy written from the program's meaning; each output's dtype is TC's (float literals float32,
index and size arithmetic int32, an output takes its right-hand side's type). Programs run on
interp, loops and cpu, a few on triton (TRITON_INTERPRET=1 without a GPU). Programs TC itself
rejects raise tensorc errors.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from support import load_sibling, require_backend

import tensorc
from tensorc import errors

cases = load_sibling(__file__, "cases")
conv2d, pool = cases.conv2d, cases.pool
RTOL = 1e-4


@dataclass(frozen=True)
class Prog:
    id: str
    src: str
    name: str
    make: Callable  # rng -> tuple of arguments (float32 arrays, ints, scalars)
    ref: Callable  # float64 copies of the arguments -> tuple of outputs
    dtypes: tuple  # TC's dtype of each output
    triton: bool = False  # also run on triton (interpreter)


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def f64(a):
    a = np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def _run(src: str, name: str, backend: str, *args):
    require_backend(backend)
    mod = tensorc.compile(src, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", errors.TensorcWarning)
        return getattr(mod, name)(*args)


def check(got, want: tuple, dtypes: tuple, what: str) -> None:
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for k, (g, w, dt) in enumerate(zip(got, want, dtypes)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{what} output {k}: shape {g.shape} != {w.shape}"
        assert g.dtype == np.dtype(dt), f"{what} output {k}: dtype {g.dtype}, TC gives {dt}"
        if g.dtype.kind in "iub":
            np.testing.assert_array_equal(g, w, err_msg=f"{what} output {k}")
        else:
            scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=1e-5 * scale, err_msg=what)


# --- test_corner_cases.cc --------------------------------------------------------------------
CORNER = [
    Prog("E2", "def f(float(1) a) -> (b) { b(i) = a(i) }", "f",
         lambda r: (f32(r, 1),), lambda a: (a,), ("float32",)),
    Prog("E4", "def f(float a) -> (b) { b = a }", "f",
         lambda r: (np.float32(0.25),), lambda a: (np.float64(a),), ("float32",)),
    Prog("E5", "def f() -> (b) { b(i) = 4 where i in 0:10 }", "f",
         lambda r: (), lambda: (np.full(10, 4),), ("int32",), triton=True),
    Prog("E6", "def f(float a) -> (b) { b(i) = a where i in 0:10 }", "f",
         lambda r: (np.float32(0.5),), lambda a: (np.full(10, a),), ("float32",)),
    Prog("E10", "def f(int32 a) -> (b) { b(i) = a where i in 0:10 }", "f",
         lambda r: (np.int32(3),), lambda a: (np.full(10, 3),), ("int32",)),
    Prog("E17", "def f(float(1) a) -> (b) { b(i) = 4.0 where exists a(i) }", "f",
         lambda r: (f32(r, 1),), lambda a: (np.full(1, 4.0),), ("float32",)),
    Prog("E18", "def f(float(1) a) -> (b) { b(i) = 2*foo where foo = a(i) }", "f",
         lambda r: (f32(r, 1),), lambda a: (2 * a,), ("float32",)),
    Prog("E21", "def f(float(1) a, float(1) b) -> (c) { c(i) = max(a(i), b(i)) }", "f",
         lambda r: (f32(r, 1), f32(r, 1)), lambda a, b: (np.maximum(a, b),), ("float32",)),
    Prog("E22", "def f(float(1) a, float(1) b) -> (c) { c(i) = min(a(i), b(i)) }", "f",
         lambda r: (f32(r, 1), f32(r, 1)), lambda a, b: (np.minimum(a, b),), ("float32",)),
    Prog("E23", "def f(float(1) a, float(1) b, float(1) c) -> (d) "
         "{ d(i) = min(a(i), max(b(i), c(i))) }", "f",
         lambda r: (f32(r, 1), f32(r, 1), f32(r, 1)),
         lambda a, b, c: (np.minimum(a, np.maximum(b, c)),), ("float32",)),
]  # fmt: skip
for _op in ["<=", ">=", "==", "!=", "<", ">"]:
    CORNER.append(
        Prog(
            f"E15{_op}",
            f"def f(float a, float b) -> (c) {{ c(i) = float(a {_op} b) where i in 0:1 }}",
            "f",
            lambda r: (np.float32(0.25), np.float32(0.75)),
            lambda a, b, op=_op: (np.array([float(eval(f"a {op} b"))]),),
            ("float32",),
        )
    )
for _op, _py in [("||", "or"), ("&&", "and")]:
    CORNER.append(
        Prog(
            f"E16{_op}",
            f"def f(float a, float b) -> (c) {{ c(i) = float(!(a < .5) {_op} b > .5) "
            "where i in 0:1 }",
            "f",
            lambda r: (np.float32(0.75), np.float32(0.25)),
            lambda a, b, py=_py: (np.array([float(eval(f"(not (a < .5)) {py} b > .5"))]),),
            ("float32",),
        )
    )

# --- test_tc2halide.cc: a sum keeps the input's type (TC: the output takes the RHS type) ------
TYPES = [
    Prog(f"Types-{t}", f"def test_type({t}(N) A) -> (B) {{ B(k) +=! A(i) where k in 0:1 }}",
         "test_type", lambda r, d=d: (np.arange(5).astype(np.dtype(d)),),
         lambda a, d=d: (np.array([a.sum()]).astype(np.dtype(d)),), (d,))
    for t, d in [("uint8", "uint8"), ("uint16", "uint16"), ("uint32", "uint32"),
                 ("uint64", "uint64"), ("int8", "int8"), ("int16", "int16"), ("int32", "int32"),
                 ("int64", "int64"), ("float16", "float16"), ("float32", "float32"),
                 ("float64", "float64"), ("float", "float32"), ("double", "float64")]
] + [
    Prog("Reduction2D3Stmt", """def fun(float(M, N) I) -> (O1, O2, O3) {
  O1(i, j) = I(i, j)
  O2(i) +=! O1(i, j)
  O3(i) = O2(i)
}""", "fun", lambda r: (f32(r, 3, 4),), lambda a: (a, a.sum(1), a.sum(1)),
         ("float32",) * 3),
]  # fmt: skip

# --- test_lang.cc -----------------------------------------------------------------------------
LANG = [
    Prog("builtins", "def fun(float(M) I) -> (O) {\n  O +=! log(tanh(I(i)))\n}", "fun",
         lambda r: (np.abs(f32(r, 5)) + np.float32(0.5),),
         lambda a: (np.log(np.tanh(a)).sum(),), ("float32",)),
    Prog("indirect", "def fun(float(M) A, float(N) B) -> (O) {\n  O +=! A(int32(B(i)))\n}", "fun",
         lambda r: (f32(r, 6), np.array([0.2, 3.7, 5.1, 1.0], np.float32)),
         lambda a, b: (a[b.astype(np.int64)].sum(),), ("float32",)),
    Prog("maxeq", "def fun(float(M) A, float(N) B) -> (O) {\n  O max=! A(int32(B(i)))\n}", "fun",
         lambda r: (f32(r, 6), np.array([0.2, 3.7, 5.1, 1.0], np.float32)),
         lambda a, b: (a[b.astype(np.int64)].max(),), ("float32",)),
    Prog("annotate", "def fun(float(X,Y) A, float(Y,Z) B) -> (O) {\n"
         "  O(i,j) +=! A(i,k) * B(k,j) <=> matmul(A(i,k), B(k,j))\n}", "fun",
         lambda r: (f32(r, 3, 4), f32(r, 4, 5)), lambda a, b: (a @ b,), ("float32",)),
    # tcFormat's statement with +=! (TC's text uses += on an undefined Q, see ERRORS); an int32
    # tensor next to float32 promotes like numpy (float64; TC's match_types would give float32)
    Prog("tcformat", "def fun2(float(B, N, M) X, float(B, M, K) Y) -> (Q) {\n"
         "  Q(b, ii, j) +=! (((exp(X(b, ii, k)) * int32(Y(b, k, j))) * 2.5) + 3)\n}", "fun2",
         lambda r: (f32(r, 2, 3, 4), 3 * f32(r, 2, 4, 5)),
         lambda x, y: ((np.exp(x)[..., None] * np.trunc(y)[:, None] * 2.5 + 3).sum(2),),
         ("float64",)),
]  # fmt: skip


# --- test_execution_engine.cc, test_tc_mapper.cc, test_tc_mapper_bugs.cc -----------------------
def _softmax(a):
    e = np.exp(a - a.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _sbn(mom, eps, I, rm, rv):
    mean = I.mean((0, 2, 3))
    rmo = (1 - mom) * rm + mom * mean
    cen = I - rmo[None, :, None, None]
    ev = (cen**2 + eps).mean((0, 2, 3))
    rvo = 1 / np.sqrt((1 - mom) * rv + mom * ev)
    o = cen * rvo[None, :, None, None]
    return o, rmo, rvo, mean, cen, cen**2, ev, o


def _graph2(I, J, W1):
    h, w = J.shape[2] - 2, J.shape[3] - 2
    o = np.zeros(J.shape[:2] + (h, w))
    for y, x in itertools.product(range(h), range(w)):
        o[:, :, y, x] = (J[:, :, y : y + 3, x : x + 3] * W1).sum((2, 3))
    hh, ww = min(h, I.shape[2]), min(w, I.shape[3])  # TC's intersection of the ranges
    return o, np.einsum("nahw,nbhw->ab", I[:, :, :hh, :ww], o[:, :, :hh, :ww])


def _group_norm_unscaled(I, gamma, beta):  # TC's ReductionDeadlockBug: sums, not means
    s, ss = I.sum((2, 3, 4)), (I * I).sum((2, 3, 4))
    g, b = gamma[None, :, :, None, None], beta[None, :, :, None, None]
    cen = I - s[:, :, None, None, None]
    return g * cen / np.sqrt(ss - s * s + 1e-5)[:, :, None, None, None] + b, s, ss


def _centered(r, *shape):  # per (n, g) zero-mean data, so that sum(x^2) - sum(x)^2 > 0
    x = f32(r, *shape)
    return (x - x.mean(axis=(2, 3, 4), keepdims=True)).astype(np.float32)


SOFTMAX_B = """def softmax(float(N, D) I) -> (O, tmp, tmp1) {
    tmp(n) max=! I(n, d)
    O(n, d) = exp(I(n, d) - tmp(n))
    tmp1(n) +=! O(n, d)
    O(n, d) = O(n, d) / tmp1(n)
}"""
SOFTMAX_C = """def softmax(float(N, D) I) -> (O, expsum, maxVal) {
    maxVal(n) max=! I(n, d)
    expsum(n) +=! exp(I(n, d) - maxVal(n))
    O(n, d) = exp(I(n, d) - maxVal(n)) / expsum(n)
}"""
CONV_DEGENERATE = """def convolution(float(N,C,H,W) I, float(O,C,KH,KW) W1, float(O) B) -> (tmp, O1) {
    tmp(n, o, h, w) +=! I(n, c, h + kh, w + kw) * W1(o, c, kh, kw)
    # this can be equivalently written with =,
    # but this line tests that we correctly handle
    # degenerate +=! that have no reduction dimensions
    O1(n, o, h, w) +=! tmp(n, o, h, w) + B(o)
}"""
SPATIAL_BN = """def spatial_batch_norm(
    float momentum, float eps,
    float(N,C,H,W) I, float(C) rMeanIn, float(C) rVarIn)
-> (O, rMeanOut, rVarOut, mean, centered, variance, expectedVariance, normalizedOut)
{
    mean(c)    +=!    I(r_n, c, r_h, r_w)
    mean(c)     =  mean(c) / (N * H * W)
    rMeanOut(c) = (1 - momentum) * rMeanIn(c) + momentum * mean(c)

    centered(n, c, h, w) =          I(  n, c,   h,   w) - rMeanOut(c)
    variance(n, c, h, w) =   centered(  n, c,   h,   w) * centered(n, c, h, w)
    expectedVariance(c) +=! (variance(r_n, c, r_h, r_w) + eps) / (N * H * W)

    rVarOut(c) = rsqrt(
        (1 - momentum) * rVarIn(c) +
             momentum  * expectedVariance(c))

    O(n, c, h, w)             = centered(n, c, h, w) * rVarOut(c)
    normalizedOut(n, c, h, w) =        O(n, c, h, w)
}"""
GRAPH2 = """def graph2(float(N, C, H, W) I, float(N, C, R, T) J, float(KH, KW) W1) -> (O, Out) {
      O(n, c, h, w) +=! J(n,  c, h + r_kh, w + r_kw) * W1(r_kh, r_kw)
    Out(c0, c1)     +=! I(n, c0,        h,        w) *  O(   n,   c1, h, w)
}"""
NESTED = """def convolution(float(X) A, float(Xp) K) -> (B) {
      B(x) +=! A(xp) * K(X - 1 + x - xp) where xp in 0:X
}"""
GROUP_NORM_BUG = """def group_norm(
    float(N, G, D, H, W) I, float(G, D) gamma, float(G, D) beta)
    -> (O, mean, var)
{
    mean(n, g) +=! I(n, g, r_d, r_h, r_w)
    var(n, g) +=! I(n, g, r_d, r_h, r_w) * I(n, g, r_d, r_h, r_w)
    O(n, g, d, h, w) = gamma(g, d)
      * ( I(n, g, d, h, w) - mean(n, g) * 1.0 )
      * rsqrt( var(n, g) * 1.0
            - mean(n, g) * mean(n, g) * 1.0 * 1.0
            + 1e-5)
      + beta(g, d)
}"""
LAYERNORM_RC = """def layernorm(float(T, B, C) I) -> (O, mean, centered, var) {
        mean(t, b)    +=! I(t, b, r_c) / C
    centered(t, b, c)  =  I(t, b,   c) - mean(t, b)

    var(t, b) +=! centered(t, b, r_c) * centered(t, b, r_c)
    var(t, b)  =       var(t, b) / C
    O(t, b, c) =  centered(t, b, c) / rsqrt(var(t, b))
}"""


def _layernorm(I):
    mean = I.mean(2)
    cen = I - mean[..., None]
    var = (cen**2).mean(2)
    return cen * np.sqrt(var)[..., None], mean, cen, var


ENGINE = [
    Prog("SoftmaxB", SOFTMAX_B, "softmax", lambda r: (f32(r, 4, 6),),
         lambda a: (_softmax(a), a.max(1), np.exp(a - a.max(1, keepdims=True)).sum(1)),
         ("float32",) * 3, triton=True),
    Prog("SoftmaxC", SOFTMAX_C, "softmax", lambda r: (f32(r, 4, 6),),
         lambda a: (_softmax(a), np.exp(a - a.max(1, keepdims=True)).sum(1), a.max(1)),
         ("float32",) * 3),
    Prog("Convolution2d", CONV_DEGENERATE, "convolution",
         lambda r: (f32(r, 2, 3, 6, 7), f32(r, 4, 3, 3, 3), f32(r, 4)),
         lambda i, w, b: (conv2d(i, w), conv2d(i, w) + b[None, :, None, None]),
         ("float32",) * 2),
    Prog("Casts", "def cast(float(M,N) A, int32 four) -> (int32(M,N) output) {\n"
         "    output(i,j) = int32(A(i,j) + four)\n}", "cast",
         lambda r: (np.full((2, 4), 1.5, np.float32), np.int32(4)),
         lambda a, four: (np.full((2, 4), 5),), ("int32",)),
    Prog("BatchTripleHadamard", "def batch_triple_hadamard(float(B, D) U, float(B, D) V, "
         "float(B, D) W) -> (Z) {\n    Z(b, d) = U(b, d) * V(b, d) * W(b, d)\n}",
         "batch_triple_hadamard", lambda r: (f32(r, 3, 5), f32(r, 3, 5), f32(r, 3, 5)),
         lambda u, v, w: (u * v * w,), ("float32",), triton=True),
    Prog("LUT", "def fun(float(B, R) LUT, int32(B, N) I) -> (O) {\n  O(b, n) +=! LUT(I(b, n), r_r)\n}",
         "fun", lambda r: (f32(r, 5, 7), r.integers(0, 5, (5, 4)).astype(np.int32)),
         lambda lut, i: (lut[i].sum(-1),), ("float32",)),
    Prog("SpatialBatchNormalization", SPATIAL_BN, "spatial_batch_norm",
         lambda r: (np.float32(0.1), np.float32(1e-5), f32(r, 2, 3, 4, 5), f32(r, 3),
                    np.abs(f32(r, 3)) + np.float32(0.5)),
         _sbn, ("float32",) * 8),
    Prog("Halide2Isl-MinInUpperBound", GRAPH2, "graph2",
         lambda r: (f32(r, 1, 2, 4, 4), f32(r, 1, 2, 6, 6), f32(r, 3, 3)), _graph2,
         ("float32",) * 2),
    Prog("Convolution-NestedExpressions", NESTED, "convolution",
         lambda r: (np.eye(33, dtype=np.float32)[10], np.eye(65, dtype=np.float32)[32]),
         lambda a, k: (a,), ("float32",)),
    Prog("Convolution-NestedExpressions-random", NESTED, "convolution",
         lambda r: (f32(r, 5), f32(r, 8)),
         lambda a, k: (np.array([sum(a[p] * k[4 + x - p] for p in range(5)) for x in range(4)]),),
         ("float32",), triton=True),
    Prog("GroupNorm-ReductionDeadlockBug", GROUP_NORM_BUG, "group_norm",
         lambda r: (_centered(r, 2, 2, 2, 3, 3), f32(r, 2, 2), f32(r, 2, 2)),
         _group_norm_unscaled, ("float32",) * 3),
    Prog("LayerNorm-ReferenceBelongsToTwoGroups", LAYERNORM_RC, "layernorm",
         lambda r: (f32(r, 2, 3, 5),), _layernorm, ("float32",) * 4),
]  # fmt: skip
ENGINE.append(
    Prog(
        "Halide2Isl-intersection",
        GRAPH2,
        "graph2",
        lambda r: (f32(r, 1, 2, 3, 3), f32(r, 1, 2, 6, 6), f32(r, 3, 3)),
        _graph2,
        ("float32",) * 2,
    )
)

# --- python/examples/min_distance.py (uint8 codes, index/size values -> int32) -----------------
MINDIS = """
# mindis as a single kernel will require grid synchronization to run efficiently
def mindis(float(M, 256) L, uint8(N, M) Codes) -> (S, v, min_idx) {
          S(n) +=! L(r_m, int32(Codes(n, r_m)))
          v  min=! S(r_n)
    min_idx  min=! (S(r_n) == v) ? r_n : N
}
def reduce_codes(float(M, 256) L, uint8(N, M) Codes) -> (S) {
    S(n) +=! L(r_m, int32(Codes(n, r_m)))
}
def min_2d(float(N) S) -> (v) {
    v min=! S(r_n)
}
def argmin_2d(float(N) S, float v) -> (min_idx) {
    min_idx min=! (S(r_n) == v) ? r_n : N
}
"""
MINDIS2 = """
def min_2d(float(D, NBYD) S) -> (V) {
    V(d) min=! S(d, r_nbyd)
}
def min_1d(float(D) V) -> (v) {
    v min=! V(r_d)
}
def argmin_2d(float(D, NBYD) S, float v) -> (MinIdx) {
    MinIdx(d) min=!
        (S(d, r_nbyd) == v) ? d * NBYD + r_nbyd : NBYD * D
}
def argmin_1d(float(N) S, int32(D) MinIdx) -> (min_idx) {
    min_idx min=! (MinIdx(r_d) < N) ? r_d : N
}
"""
MINDIS_K = """def mindis(float(K, M, 256) L, uint8(N, M) Codes) -> (S, V, MinIdx) {
         S(k, n)   +=!  L(k, r_m, int32(Codes(n, r_m)))
         V(k)    min=!  S(k, r_n)
    MinIdx(k)    min=! (S(k, r_n) == V(k)) ? r_n : N
}"""


def _codes(r, n=10, m=4):
    return r.integers(0, 256, (n, m)).astype(np.uint8)


def _reduce_codes(L, codes):
    return L[np.arange(codes.shape[1])[None, :], codes].sum(1)


def _mindis(L, codes):
    s = _reduce_codes(L, codes)
    return s, s.min(), s.argmin()


def _s32(r):  # S as float32, with the minimum computed on the float32 values
    return _reduce_codes(f32(r, 4, 256).astype(np.float64), _codes(r)).astype(np.float32)


def _argmin_2d(s, v):
    nbyd = s.shape[1]
    cand = np.where(s == v, np.arange(s.shape[0])[:, None] * nbyd + np.arange(nbyd), s.size)
    return (cand.min(1),)


MIN_DISTANCE = [
    Prog("mindis", MINDIS, "mindis", lambda r: (f32(r, 4, 256), _codes(r)), _mindis,
         ("float32", "float32", "int32"), triton=True),
    Prog("reduce_codes", MINDIS, "reduce_codes", lambda r: (f32(r, 4, 256), _codes(r)),
         lambda L, c: (_reduce_codes(L, c),), ("float32",)),
    Prog("min_2d", MINDIS, "min_2d", lambda r: (_s32(r),), lambda s: (s.min(),), ("float32",)),
    Prog("argmin_2d", MINDIS, "argmin_2d", lambda r: (s := _s32(r), s.min()),
         lambda s, v: (s.argmin(),), ("int32",)),
    Prog("min_2d-split", MINDIS2, "min_2d", lambda r: (_s32(r).reshape(2, 5),),
         lambda s: (s.min(1),), ("float32",)),
    Prog("min_1d", MINDIS2, "min_1d", lambda r: (_s32(r)[:3],), lambda s: (s.min(),),
         ("float32",)),
    Prog("argmin_2d-split", MINDIS2, "argmin_2d",
         lambda r: (s := _s32(r).reshape(2, 5), s.min()), _argmin_2d, ("int32",)),
    Prog("argmin_1d", MINDIS2, "argmin_1d",
         lambda r: (_s32(r), np.array([10, 7], np.int32)), lambda s, mi: (1,), ("int32",)),
    Prog("mindis-K", MINDIS_K, "mindis", lambda r: (f32(r, 3, 4, 256), _codes(r)),
         lambda L, c: (s := np.stack([_reduce_codes(x, c) for x in L]), s.min(1), s.argmin(1)),
         ("float32", "float32", "int32")),
]  # fmt: skip

# --- python/examples/masked_conv.py (uint8 mask, 0.0 literals stay float32) ------------------
MASKED_CONVOLVE = """
def masked_convolve(float(B, C, H, W) Input,
                    float(F, C, K, K) Weights,
                    uint8(F, C) Mask) -> (Output) {
    Output(b, f, h, w) +=! (Mask(f, r_c) == 1) ?
        fmax(0.0, Input(b, r_c, h + r_k1, w + r_k2)) *
        Weights(f, r_c, r_k1, r_k2) :
        0.0
}
"""
MASKED = [
    Prog("masked_convolve", MASKED_CONVOLVE, "masked_convolve",
         lambda r: (f32(r, 2, 3, 5, 6), f32(r, 4, 3, 2, 2), r.integers(0, 2, (4, 3)).astype(np.uint8)),
         lambda i, w, m: (conv2d(np.maximum(i, 0), w * m[:, :, None, None]),), ("float32",),
         triton=True),
]  # fmt: skip

# --- python/examples/tum.py: LENGTHS_COSINE_COHERENCE (pos_dist, neg_dist filled in) ----------
TUM = """
# TODO: this is just a scan but currently implemented as K reductions
def make_idx(int32(K) Segments) -> (Idx) {
    Idx(k) +=! (r_k < k) ? Segments(r_k) : 0 where k in 0:K+1
}
def make_alpha(int32(KP1) Idx, int32(MAX_L) SegmentsMetaData) -> (Alpha) {
    # Triangular compute
    Alpha(k, max_l_1, max_l_2) = (max_l_1 >= max_l_2) ? 0.0 :
        # This computes an approximation using the maximal segment length
        ((<pos_dist> == 0 || fabs(float(max_l_1 - max_l_2)) <= float(<pos_dist>)) ? 1.0 :
         (<neg_dist> == 0 && fabs(float(max_l_1 - max_l_2)) >= float(<neg_dist>)) ? -1.0 : 0.0)
    *
        # Filter against the true value of Idx
        ((Idx(k) + max_l_1 < Idx(k + 1) && Idx(k) + max_l_2 < Idx(k + 1))
         ? 1.0 : 0.0)
            where k in 0:KP1-1, max_l_1 in 0:MAX_L, max_l_2 in 0:MAX_L
}
def make_counts(float(K, MAX_L, MAX_L) Alpha, int32(MAX_L) SegmentsMetaData)
        -> (PosCount, NegCount, tmpPos, tmpNeg)
{
    # Triangular compute
    tmpPos(k, max_l_1) +=! (max_l_1 >= r_max_l_2) ? 0.0 :
        (Alpha(k, max_l_1, r_max_l_2) > 0.0) ? 1.0 : 0.0
            # TODO: annotation should not be needed
            where k in 0:K, max_l_1 in 0:MAX_L, r_max_l_2 in 0:MAX_L
    PosCount(k) +=! tmpPos(k, max_l_1)
            # TODO: annotation should not be needed
            where k in 0:K, max_l_1 in 0:MAX_L
    tmpNeg(k, max_l_1) +=! (max_l_1 >= r_max_l_2) ? 0.0 :
        (Alpha(k, max_l_1, r_max_l_2) < 0.0) ? 1.0 : 0.0
            where k in 0:K, max_l_1 in 0:MAX_L, r_max_l_2 in 0:MAX_L
    NegCount(k) +=! tmpNeg(k, max_l_1)
            where k in 0:K, max_l_1 in 0:MAX_L
}
def make_beta(float(K, MAX_L, MAX_L) Alpha,
              float(K) PosCount,
              float(K) NegCount,
              int32(MAX_L) SegmentsMetaData) -> (Beta)
{
    Beta(k, max_l_1, max_l_2) = (max_l_1 >= max_l_2) ? 0.0 :
        (Alpha(k, max_l_1, max_l_2) ==  1.0) ?  1.0 / float(PosCount(k)) :
        (Alpha(k, max_l_1, max_l_2) == -1.0) ? -1.0 / float(NegCount(k)) :
        0.0
        # TODO: annotation should not be needed
        where k in 0:K, max_l_1 in 0:MAX_L, max_l_2 in 0:MAX_L
}

def normalize(float(N, C) Input) -> (NormData, Square) {
    Square(n)     +=! Input(n, r_c) * Input(n, r_c)
    NormData(n, c) =  Input(n,   c) / sqrt(Square(n) + 1e-12)
}
def dots(float(N, C) NormData, int32(KP1) Idx, float(K, MAX_L, MAX_L) Beta) -> (Dots) {
    # Triangular compute
    Dots(k, max_l_1, max_l_2) +=! (max_l_1 >= max_l_2) ? 0.0 :
        # Avoid out of bounds Idx computations
        ((Idx(k) + max_l_1 >= Idx(k + 1) || Idx(k) + max_l_2 >= Idx(k + 1)) ?
          0.0 :
          NormData(Idx(k) + max_l_1, r_c) * NormData(Idx(k) + max_l_2, r_c))
            # TODO: annotation should not be needed
            where k in 0:K, max_l_1 in 0:MAX_L, max_l_2 in 0:MAX_L
}
def result(float(K, MAX_L, MAX_L) Beta, float(K, MAX_L, MAX_L) Dots) -> (O, tmpO) {
    # Triangular compute
    tmpO(k, max_l_1) +=! (max_l_1 >= r_max_l_2) ? 0.0 :
        Dots(k, max_l_1, r_max_l_2) * Beta(k, max_l_1, r_max_l_2)
    O(k) +=! tmpO(k, max_l_1)
}
"""
SEGS = np.array([3, 4, 2], np.int32)  # K = 3 segments of at most MAX_L = 4 rows, C = 5 channels
IDX = np.concatenate([[0], np.cumsum(SEGS)]).astype(np.int32)
K_, L_ = 3, 4
UPPER = np.triu(np.ones((L_, L_)), 1)[None] > 0  # max_l_1 < max_l_2


def _alpha(pos: int, neg: int):
    a = np.zeros((K_, L_, L_))
    for k, l1, l2 in itertools.product(range(K_), range(L_), range(L_)):
        inside = IDX[k] + l1 < IDX[k + 1] and IDX[k] + l2 < IDX[k + 1]
        d = abs(l1 - l2)
        w = 1.0 if pos == 0 or d <= pos else (-1.0 if neg == 0 and d >= neg else 0.0)
        a[k, l1, l2] = w * inside if l1 < l2 else 0.0
    return a


def _counts(alpha):
    tp = np.where(UPPER, alpha > 0, False).sum(2).astype(np.float64)
    tn = np.where(UPPER, alpha < 0, False).sum(2).astype(np.float64)
    return tp.sum(1), tn.sum(1), tp, tn


def _beta(alpha, pc, nc):
    b = np.where(
        alpha == 1, 1 / pc[:, None, None], np.where(alpha == -1, -1 / nc[:, None, None], 0)
    )
    return (np.where(UPPER, b, 0.0),)


def _normalize(x):
    sq = (x * x).sum(1)
    return x / np.sqrt(sq + 1e-12)[:, None], sq


def _dots(nd, idx, beta):
    out = np.zeros((K_, L_, L_))
    for k, l1, l2 in itertools.product(range(K_), range(L_), range(L_)):
        if l1 < l2 and idx[k] + l2 < idx[k + 1] and idx[k] + l1 < idx[k + 1]:
            out[k, l1, l2] = nd[idx[k] + l1] @ nd[idx[k] + l2]
    return (out,)


def _result(beta, dots):
    tmp = np.where(UPPER, dots * beta, 0.0).sum(2)
    return tmp.sum(1), tmp


def _tum(pos: int, neg: int) -> list[Prog]:
    src = TUM.replace("<pos_dist>", str(pos)).replace("<neg_dist>", str(neg))
    alpha = _alpha(pos, neg)
    pc, nc = _counts(alpha)[:2]
    nc = np.maximum(nc, 1)
    a32, meta = alpha.astype(np.float32), np.ones(L_, np.int32)
    beta32 = _beta(alpha, pc, nc)[0].astype(np.float32)
    tag = f"-{pos}-{neg}"
    return [
        Prog("make_idx" + tag, src, "make_idx", lambda r: (SEGS,), lambda s: (IDX,), ("int32",),
             triton=pos == 0),
        Prog("make_alpha" + tag, src, "make_alpha", lambda r: (IDX, meta),
             lambda i, m: (alpha,), ("float32",), triton=pos == 0),
        Prog("make_counts" + tag, src, "make_counts", lambda r: (a32, meta),
             lambda a, m: _counts(a), ("float32",) * 4),
        Prog("make_beta" + tag, src, "make_beta",
             lambda r: (a32, pc.astype(np.float32), nc.astype(np.float32), meta),
             lambda a, p, n, m: _beta(a, p, n), ("float32",)),
        Prog("normalize" + tag, src, "normalize", lambda r: (f32(r, int(IDX[-1]), 5),),
             _normalize, ("float32",) * 2),
        Prog("dots" + tag, src, "dots",
             lambda r: (_normalize(f64(f32(r, int(IDX[-1]), 5)))[0].astype(np.float32), IDX,
                        beta32),
             _dots, ("float32",)),
        Prog("result" + tag, src, "result", lambda r: (beta32, f32(r, K_, L_, L_)), _result,
             ("float32",) * 2),
    ]  # fmt: skip


# --- test_python: group normalisation, convolution forward/backward, *=! ---------------------
GROUP_NORM_FUSED = """
            def group_normalization(
                float(N, G, D, H, W) I, float(G, D) gamma, float(G, D) beta)
            -> (Sum, SumSq, O)
            {
                Sum(n, g) +=! I(n, g, r_d, r_h, r_w)
              SumSq(n, g) +=! I(n, g, r_d, r_h, r_w) * I(n, g, r_d, r_h, r_w)
                O(n, g, d, h, w) =  gamma(g, d)
                    * ( I(n, g, d, h, w) - Sum(n, g) / (D * H * W))
                    * rsqrt( (SumSq(n, g) - Sum(n, g) * Sum(n, g) / (D * H * W))
                           / (D * H * W)
                           + 1e-5)
                    + beta(g, d)
            }
"""
GROUP_NORM_2K = """
            def moments(float(N, K) I) -> (mean, var) {
                # var = E(x^2) - mean^2.
                mean(n) +=! I(n, r_k)
                 var(n) +=! I(n, r_k) * I(n, r_k)
                mean(n)  = mean(n) / (K)
                 var(n)  =  var(n) / (K) - mean(n) * mean(n)
            }

            def group_normalization(
                float(N, G, D, H, W) I, float(G, D) gamma, float(G, D) beta,
                float(N, G) mean, float(N, G) var) -> (O)
            {
                O(n, g, d, h, w) = gamma(g, d)
                    * ( I(n, g, d, h, w) - mean(n, g) )
                    * rsqrt( var(n, g) + 1e-5 )
                    + beta(g, d)
            }
"""
CONV_GRAD = """
        def convolution(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) Bias)
        -> (O)
        {
            O(n, m, h, w) +=!
                I(n, r_c, h + r_kh, w + r_kw) * W1(m, r_c, r_kh, r_kw)
            O(n, m, h, w)  = O(n, m, h, w) + Bias(m)
        }
        def convolution_grad(
            float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) Bias, float(N,M,H,W) d_O)
            -> (d_I, d_W1, d_Bias)
        {
            d_I(n, c, h, w) +=!
                d_O(  n, r_m, h - r_kh, w - r_kw) * W1(r_m, c, r_kh, r_kw)
            d_W1(m, c, kh, kw) +=!
                d_O(r_n,   m, r_h - kh, r_w - kw) *  I(r_n, c,  r_h,  r_w)
            # TODO: Bias incorrect + check
            d_Bias(m) = Bias(m)
        }
"""
CONV_TRAIN = """
def convolution(float(N,C,H,W) I, float(M,C,KH,KW) W1) -> (O) {
   O(n, m, h, w) +=! I(n, c, 1 * h + kh, 1 * w + kw) * W1(m, c, kh, kw)
}
def convolution_grad(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(N,M,H,W) d_O) -> (d_I, d_W1) {
   d_I(n, c, h, w) +=! d_O(n, m, 1 * h - kh, 1 * w - kw) * W1(m, c, kh, kw)
   d_W1(m, c, kh, kw) +=! d_O(n, m, 1 * h - kh, 1 * w - kw) * I(n, c, h, w)
}
"""
CONV_MULT = """
       def conv_mult(float(N,C,H,W) I, float(M,C,KH,KW) W1) -> (O) {
           O(n, m, h, w) *=! I(n, c, h + kh, w + kw) * W1(m, c, kh, kw)
       }
"""
AVGPOOL_SCALAR = """
        def avgpool(float(B, C, H, W) input) -> (output) {
            output(b, c, h, w) +=!
                input(b, c, h * 1 + kh, w * 1 + kw) / (2 * 2)
                where kh in 0:2, kw in 0:2
        }
"""


def _gn(I, gamma, beta):
    v = I.reshape(I.shape[0], I.shape[1], -1)
    s, ss, cnt = v.sum(-1), (v * v).sum(-1), v.shape[-1]
    var = (ss - s * s / cnt) / cnt
    g, b = gamma[None, :, :, None, None], beta[None, :, :, None, None]
    e = (slice(None), slice(None), None, None, None)
    return s, ss, g * (I - (s / cnt)[e]) / np.sqrt(var + 1e-5)[e] + b


def _conv_grad_1x1(I, W1, Bias, dO):
    w = W1[:, :, 0, 0]
    d_i = np.einsum("nmhw,mc->nchw", dO, w)
    d_w = np.einsum("nmhw,nchw->mc", dO, I)[:, :, None, None]
    return d_i, d_w, Bias


def _conv_mult(I, W1):
    kh, kw = W1.shape[2:]
    ho, wo = I.shape[2] - kh + 1, I.shape[3] - kw + 1
    out = np.ones((I.shape[0], W1.shape[0], ho, wo))
    for y, x in itertools.product(range(ho), range(wo)):
        patch = I[:, None, :, y : y + kh, x : x + kw] * W1[None]
        out[:, :, y, x] = patch.prod(axis=(2, 3, 4))
    return (out,)


def _near_one(r, *shape):
    return (np.float32(0.8) + np.float32(0.3) * np.abs(f32(r, *shape))).astype(np.float32)


PYTHON = [
    Prog("group_norm_fused", GROUP_NORM_FUSED, "group_normalization",
         lambda r: (f32(r, 2, 3, 2, 3, 4), f32(r, 3, 2), f32(r, 3, 2)), _gn, ("float32",) * 3,
         triton=True),
    Prog("moments", GROUP_NORM_2K, "moments", lambda r: (f32(r, 6, 24),),
         lambda i: (i.mean(1), (i * i).mean(1) - i.mean(1) ** 2), ("float32",) * 2),
    Prog("group_norm_2kernels", GROUP_NORM_2K, "group_normalization",
         lambda r: (i := f32(r, 2, 3, 2, 3, 4), f32(r, 3, 2), f32(r, 3, 2),
                    i.reshape(2, 3, -1).mean(-1), i.reshape(2, 3, -1).var(-1).astype(np.float32)),
         lambda i, g, b, m, v: (_gn(i, g, b)[2],), ("float32",)),
    Prog("convolution", CONV_GRAD, "convolution",
         lambda r: (f32(r, 2, 3, 4, 5), f32(r, 4, 3, 1, 1), f32(r, 4)),
         lambda i, w, b: (conv2d(i, w) + b[None, :, None, None],), ("float32",)),
    Prog("convolution_grad", CONV_GRAD, "convolution_grad",
         lambda r: (f32(r, 2, 3, 4, 5), f32(r, 4, 3, 1, 1), f32(r, 4), f32(r, 2, 4, 4, 5)),
         _conv_grad_1x1, ("float32",) * 3),
    Prog("conv_train_grad", CONV_TRAIN, "convolution_grad",
         lambda r: (f32(r, 2, 3, 4, 5), f32(r, 4, 3, 1, 1), f32(r, 2, 4, 4, 5)),
         lambda i, w, d: _conv_grad_1x1(i, w, None, d)[:2], ("float32",) * 2),
    Prog("conv_mult", CONV_MULT, "conv_mult",
         lambda r: (_near_one(r, 2, 2, 4, 4), _near_one(r, 3, 2, 2, 2)), _conv_mult, ("float32",)),
    Prog("avgpool", AVGPOOL_SCALAR, "avgpool", lambda r: (f32(r, 1, 2, 4, 5),),
         lambda i: (pool(i, 2, 2, 1, 1, np.mean),), ("float32",)),
    Prog("fully_connected", """def fully_connected(float(B, M) I, float(N, M) W1, float(N) B1) -> (O1) {
      O1(b, n) +=! I(b, m) * W1(n, m)
      O1(b, n) = O1(b, n) + B1(n)
    }""", "fully_connected", lambda r: (f32(r, 3, 4), f32(r, 5, 4), f32(r, 5)),
         lambda i, w, b: (i @ w.T + b,), ("float32",)),
    Prog("copy3", "def copy(float(D0, D1, D2) I) -> (O) {\n  O(d0, d1, d2) = I(d0, d1, d2)\n}",
         "copy", lambda r: (f32(r, 2, 3, 4),), lambda i: (i,), ("float32",)),
]  # fmt: skip


# --- test_cuda_mapper.cc and test_mapper_llvm.cc ---------------------------------------------
def _perforated(inp, wts, idx):
    n_, m_, l_ = inp.shape[0], wts.shape[0], idx.shape[1]
    kh, kw = wts.shape[2:]
    out = np.zeros((n_, m_, l_))
    for n, l in itertools.product(range(n_), range(l_)):
        p = idx[n, l]
        out[n, :, l] = np.einsum("chw,mchw->m", inp[n, :, p : p + kh, p : p + kw], wts)
    return (out,)


def _sparse_conv(I, W1):
    out = np.zeros((I.shape[0], W1.shape[0], I.shape[2] - 1, I.shape[3] - 1))
    for c in range(1, I.shape[1]):  # `where c in 1:C`: c is a reduction index too
        gathered = I[:, np.arange(W1.shape[1]) % c]
        out += conv2d(gathered, W1)
    return (out,)


MAPPER = [
    Prog("BareVariables", "def fun(float(N, N) A) -> (O)\n{\n    O(n0, n1) = A(n0, n1) + n0 + n1 + N\n}",
         "fun", lambda r: (f32(r, 4, 4),),
         lambda a: (a + np.arange(4)[:, None] + np.arange(4)[None] + 4,), ("float32",), triton=True),
    Prog("MultiStmt", """def fun(float(N, M, K, L) A, float(N, M) B, float(N, M) C, float(N, M) D)
-> (O1, O2, O3)
{
    O1(n, m) +=! A(n, m, r_k, r_l) * B(n, m)
    O2(n, m) = C(n, m) * D(n, m)
    O3(n, m) = O1(n, m) + O2(n, m)
}""", "fun", lambda r: (f32(r, 3, 4, 2, 3), f32(r, 3, 4), f32(r, 3, 4), f32(r, 3, 4)),
         lambda a, b, c, d: (o1 := a.sum((2, 3)) * b, c * d, o1 + c * d), ("float32",) * 3),
    Prog("Mean2DNonParametric", "def fun(float(6, 8) I) -> (O) {\n    O(n) +=! I(n, r_n)\n"
         "    O(n) = O(n) / (8)\n}", "fun", lambda r: (f32(r, 6, 8),), lambda i: (i.mean(1),),
         ("float32",)),
    Prog("BetweenInstructions", """def fun(float(N, K) I, float(N) O0) -> (O) {
    O(n) = 0.0 where n in 0:N
    O(n) += O0(n)
    O(n) += I(n, r_n)
    O(n) = O(n) / (K)
}""", "fun", lambda r: (f32(r, 6, 8), f32(r, 6)), lambda i, o0: ((o0 + i.sum(1)) / 8,),
         ("float32",)),
    Prog("Rescheduling2MM", """def fun(float(M, K) A, float(K, N) B, float(K, N) C) -> (D, E) {
    D(m, n) +=! A(m, r_k) * B(r_k, n)
    E(m, n) +=! A(m, r_k) * C(r_k, n)
}""", "fun", lambda r: (f32(r, 3, 4), f32(r, 4, 5), f32(r, 4, 5)), lambda a, b, c: (a @ b, a @ c),
         ("float32",) * 2),
    Prog("Reduction1D", "def fun(float(N) I) -> (O) {\n    O +=! I(r_n)\n}", "fun",
         lambda r: (f32(r, 7),), lambda i: (i.sum(),), ("float32",)),
    Prog("shiftedLut-LHS", "def shiftedLut(float(E, D) LUT, int32(B, L) I) -> (O) {\n"
         "  O(i, j) +=! LUT(I(i, k) + 1, j)\n}", "shiftedLut",
         lambda r: (f32(r, 7, 3), r.integers(0, 6, (2, 4)).astype(np.int32)),
         lambda lut, i: (lut[i + 1].sum(1),), ("float32",)),
    Prog("shiftedLut-RHS", "def shiftedLut(float(E, D) LUT, int32(B, L) I) -> (O) {\n"
         "  O(i, j) +=! LUT(1 + j + I(i, k), j)\n}", "shiftedLut",
         lambda r: (f32(r, 7, 3), r.integers(0, 3, (2, 4)).astype(np.int32)),
         lambda lut, i: (lut[1 + np.arange(3)[None, None] + i[:, :, None], np.arange(3)].sum(1),),
         ("float32",)),
    Prog("PerforatedConvolution", """def perforatedConvolution(float(N, C, H, W) input, float(M, C, KH, KW) weights,
                          int32(N, L) index) -> (output) {
  output(n, m, l) +=! input(n, c, index(n, l) + kh, index(n, l) + kw) * weights(m, c, kh, kw) where l in 0:L
 }""", "perforatedConvolution",
         lambda r: (f32(r, 2, 3, 6, 6), f32(r, 4, 3, 2, 2), r.integers(0, 5, (2, 3)).astype(np.int32)),
         _perforated, ("float32",)),
    Prog("EmptyMapping-var_2D_1D", """def var_2D_1D(float(N, K) I, float(N) mean) -> (var)
  {
       var(n) +=! I(n, r_k) * I(n, r_k)
       var(n)  =  var(n) / (K) - mean(n) * mean(n)
  }""", "var_2D_1D", lambda r: (f32(r, 5, 7), f32(r, 5)),
         lambda i, m: ((i * i).mean(1) - m * m,), ("float32",)),
    Prog("ModulusConstantRHS", "def fun(float(N) a) -> (b) { b(i) = a(i % 3) where i in 0:N }",
         "fun", lambda r: (f32(r, 3),), lambda a: (a,), ("float32",)),
    Prog("ModulusVariableRHS", """def local_sparse_convolution(float(N, C, H, W) I, float(O, KC, KH, KW) W1) -> (O1) {
  O1(n, o, h, w) +=! I(n, kc % c, h + kh, w + kw) * W1(o, kc, kh, kw) where c in 1:C
}""", "local_sparse_convolution", lambda r: (f32(r, 1, 3, 5, 5), f32(r, 2, 4, 2, 2)),
         _sparse_conv, ("float32",)),
    Prog("SingleInstance", "def f(float(N) I) -> (a)\n{\n    a = 0\n}", "f",
         lambda r: (f32(r, 3),), lambda i: (np.int32(0),), ("int32",)),
    Prog("0D", "def fun() -> (O) {\n    O = 0\n}", "fun", lambda r: (), lambda: (np.int32(0),),
         ("int32",)),
]  # fmt: skip

# --- docs/source/inference.rst: range inference worked examples ------------------------------
INFERENCE = [
    Prog("stencil", "def stencil(float(N) B, float(M) K) -> (A) { A(i) +=! B(i + k) * K(k) }",
         "stencil", lambda r: (f32(r, 9), f32(r, 3)),
         lambda b, k: (np.convolve(b, k[::-1], mode="valid"),), ("float32",)),
    # 0 <= 10 - i < I gives i in 11-I:11; tensorc's arrays start at 0, so A[:11-I] reads as 0
    Prog("reverted", "def reverted(float(I) B) -> (A) {\n  A(i) = B(10 - i)\n}", "reverted",
         lambda r: (f32(r, 9),), lambda b: (np.concatenate([[0, 0], b[::-1]]),), ("float32",)),
    Prog("subsample_2", "def subsample_2(float(I) B) -> (A) {\n  A(i) = B(2*i)\n}", "subsample_2",
         lambda r: (f32(r, 9),), lambda b: (b[::2],), ("float32",)),
    Prog("average_pool_2", "def average_pool_2(float(I) B) -> (A) {\n  A(i) = B(2*i) + B(2*i + 1)\n}",
         "average_pool_2", lambda r: (f32(r, 9),), lambda b: (b[0:8:2] + b[1:9:2],), ("float32",)),
    # TC's doc writes the where-k form with `=`; under Einstein's rule k is summed
    Prog("average_pool_2-where-k", "def average_pool_2(float(I) B) -> (A) {\n"
         "  A(i) = B(2*i + k) where k in 0:2\n}", "average_pool_2", lambda r: (f32(r, 9),),
         lambda b: (b[0:8:2] + b[1:9:2],), ("float32",)),
    Prog("subsample-dynamic-stride", "def subsample_2(float(I) B, int(1) S) -> (A) {\n"
         "  A(i) = B(S(0)*i) where i in 0:4\n}", "subsample_2",
         lambda r: (f32(r, 9), np.array([2], np.int32)), lambda b, s: (b[0:8:2],), ("float32",)),
    Prog("constant_fill", "def constant_fill(float(N) A, float c) -> (B) {\n"
         "  B(i) = c where exists A(i)\n}", "constant_fill", lambda r: (f32(r, 5), np.float32(2.5)),
         lambda a, c: (np.full(5, c),), ("float32",)),
    Prog("lut-clamped", "def lut(float(J) B, int32(I) C) -> (A) {\n"
         "  A(i) = B(max(min(C(i), J-1), 0))\n}", "lut",
         lambda r: (f32(r, 5), np.array([0, 4, 2, 7, -1], np.int32)),
         lambda b, c: (b[np.clip(c, 0, 4)],), ("float32",)),
]  # fmt: skip

PROGRAMS = (
    CORNER
    + TYPES
    + LANG
    + ENGINE
    + MAPPER
    + INFERENCE
    + MIN_DISTANCE
    + MASKED
    + _tum(0, 0)
    + _tum(2, 3)
    + PYTHON
)
TRITON = [p for p in PROGRAMS if p.triton]

# Known bugs elsewhere in the compiler, as xfail(strict=True): (program id, backend or None).
KNOWN_BUGS: dict[tuple[str, str | None], str] = {}


def _params(progs, backends):
    for p, backend in itertools.product(progs, backends):
        reason = KNOWN_BUGS.get((p.id, backend)) or KNOWN_BUGS.get((p.id, None))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(p, backend, marks=marks, id=f"{p.id}-{backend}")


def _check_program(p: Prog, backend: str) -> None:
    args = p.make(np.random.default_rng(7))
    want = p.ref(*(f64(a) if isinstance(a, np.ndarray | np.floating) else a for a in args))
    got = _run(p.src, p.name, backend, *args)
    check(got, want, p.dtypes, f"{p.id} on {backend}")


@pytest.mark.parametrize("p, backend", list(_params(PROGRAMS, ["interp", "loops", "cpu"])))
def test_tc_program(p, backend):
    _check_program(p, backend)


@pytest.mark.parametrize("p, backend", list(_params(TRITON, ["triton"])))
def test_tc_program_triton(p, backend):
    pytest.importorskip("triton")
    _check_program(p, backend)


# --- TC's indexing layer with the template constant filled in (l in 0:2, index of size L) -----
INDEXING = """def indexing(float(H, W) input, int32(L) index) -> (output) {
    output(l, w) = input(index(l), w) where l in 0:2
}"""


def test_indexing_with_a_constant_range():
    table = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = _run(INDEXING, "indexing", "interp", table, np.array([1, 1], np.int32))
    check(out, (table[[1, 1]].astype(np.float64),), ("float32",), "indexing")


def test_indexing_with_a_constant_range_checks_the_size_at_call_time():
    """Once it compiles, an index tensor shorter than the range is a call-time error."""
    mod = tensorc.compile(INDEXING, backend="interp")
    with pytest.raises(errors.TensorcError):
        mod.indexing(np.zeros((4, 4), np.float32), np.array([1], np.int32))


# --- programs TC rejects (or that read garbage in TC) are tensorc errors -----------------------
MUTABLE = """def foo(float(N) A) -> (B) {
    A(i) = A(i) + 42
    B(k) +=! A(i) where k in 0:1
}"""
MATMUL_GRAD = """def matmul_grad(float(M,N) A, float(N,K), float(M,K) O_grad) -> (A_grad, B_grad){
  A_grad(i, j) +=! O_grad(i, kk) * B(j, kk)
  B_grad(i, j) +=! O_grad(kk, j) * A(kk, i)
}"""
MATMUL_INPLACE = """def matmul(float(M,N) A, float(N,K) B) -> (output) {
  output(m, k) += A(m, nn) * B(nn, k)
}"""
SOFTMAX_D = """def softmax(float(N, D) I) -> (O, maxVal, expDistance, expSum) {
  maxVal(n) max= I(n, d)
  expDistance(n, d) = exp(I(n, d) - maxVal(n))
  expSum(n) +=! expDistance(n, d)
  O(n, d) = expDistance(n, d) / expSum(n)
}"""
TC_FORMAT = """def fun2(float(B, N, M) X, float(B, M, K) Y) -> (Q) {
  Q(b, ii, j) += (((exp(X(b, ii, k)) * int(Y(b, k, j))) * 2.5) + 3)
}"""
PRECONDITION = """def f(float(I) B, float(K) C, float(J) D) -> (A) {
  A(i, j) = B(i) * C(i + j) * D(j)
}"""
ERRORS = [
    ("E1", " def f{} {}", errors.SyntaxError_, "1:7"),
    ("E11", "def f(int32(N) a) -> (b) { b(i) = a(i + .5) }", errors.TypeError_, "index"),
    ("E19", "def f(float(1) a) -> (b) { b(i) = 2*foo where foo = a(i), foo in 1:2 }",
     errors.NameError_, "foo"),
    ("MutableInput", MUTABLE, errors.StatementError, "A"),
    ("matmul_grad-missing-name", MATMUL_GRAD, errors.SyntaxError_, "1:"),
    # TC accepted these and accumulated into uninitialised memory; tensorc asks for the `!`
    ("MatMulInplace", MATMUL_INPLACE, errors.StatementError, "+=!"),
    ("SoftmaxD-max=", SOFTMAX_D, errors.StatementError, "max=!"),
    ("tcFormat-+=", TC_FORMAT, errors.StatementError, "+=!"),
    ("E12", "def f(int32 a, float(N) b) -> (c) { c(i) += b(i + j) where j in 0:a, i in 0:10 }",
     errors.StatementError, "+=!"),
    ("dynamic-stride-needs-where",
     "def subsample_2(float(I) B, int(1) S) -> (A) { A(i) = B(S(0)*i) }", errors.RangeError, "'i'"),
    # inference.rst calls this a precondition; TC's test_inference.cc (RuntimeCheckOnDerivedSize)
    # rejects it: C(i + j) is not provably inside C without a where range
    ("precondition", PRECONDITION, errors.ShapeError, "C"),
    # sema errors TC reports (tc/lang/sema.h)
    ("undefined-tensor", "def f(float(N) A) -> (B) { B(i) = A(i) + C(i) }", errors.NameError_, "C"),
    ("dimension-count", "def f(float(N) A) -> (B) { B(i) = A(i, i) }", errors.ShapeError, "A"),
    ("narrower-type", "def f(float(N) A) -> (int32(N) B) { B(i) = A(i) * 2 }", errors.TypeError_,
     "int32"),
    ("float-subscript", "def f(float(N) A, float(N) P) -> (B) { B(i) = A(P(i)) }",
     errors.TypeError_, "index"),
]  # fmt: skip


@pytest.mark.parametrize("backend", ["interp", "loops", "cpu"])
def test_out_of_bounds_under_where_ranges_is_a_call_time_error(backend):
    """`where` ranges are the user's word: a read they may take out of bounds (A(i + j), i and j in
    0:N; fine at N = 1) is checked when the kernel is called, naming A and the sizes."""
    mod = tensorc.compile(
        "def f(float(N) A) -> (B) { B(i) +=! A(i + j) where i in 0:N, j in 0:N }", backend=backend
    )
    np.testing.assert_array_equal(mod.f(np.ones(1, np.float32)), [1.0])
    with pytest.raises(errors.ShapeError, match="A"):
        mod.f(np.ones(4, np.float32))


@pytest.mark.parametrize("src, exc, fragment", [pytest.param(*e[1:], id=e[0]) for e in ERRORS])
def test_tc_rejects(src, exc, fragment):
    with pytest.raises(exc) as info:
        tensorc.compile(src, backend="interp")
    text = str(info.value)
    assert fragment in text and "<string>:" in text and "^" in text, text


@pytest.mark.parametrize(
    "args, exc",
    [
        pytest.param((np.float32(1.0),), errors.ArgumentTypeError, id="E7-two-inputs"),
        pytest.param((np.float32(1.0), 2.5), errors.ArgumentTypeError, id="E8-float-for-int32"),
        pytest.param((np.ones((1, 2), np.float32), 1.0), errors.ArgumentShapeError, id="E9"),
    ],
)
def test_tc_call_errors(args, exc):
    """E7-E9: wrong argument count, an int32 scalar given a float, a tensor for a scalar."""
    mod = tensorc.compile(
        "def f(float a, int32 c) -> (b) { b(i) = a + c where i in 0:10 }", backend="interp"
    )
    with pytest.raises(exc, match="argument|takes"):
        mod.f(*args)


# --- TC's built-in functions (docs: writing_layers.rst, "Built-in Functions") ---------------------
def _sp(name):
    special = pytest.importorskip("scipy.special")
    return getattr(special, name)


X = np.linspace(0.15, 0.85, 5)  # inside every function's domain (acosh gets 1 + X)
BUILTINS = {  # name -> (arguments as TC text, numpy float64 reference of X)
    "acos": ("a(i)", np.arccos), "asin": ("a(i)", np.arcsin), "atan": ("a(i)", np.arctan),
    "cbrt": ("a(i)", np.cbrt), "ceil": ("a(i) * 4", lambda x: np.ceil(x * 4)),
    "cos": ("a(i)", np.cos), "cosh": ("a(i)", np.cosh), "erf": ("a(i)", lambda x: _sp("erf")(x)),
    "exp2": ("a(i)", np.exp2), "expm1": ("a(i)", np.expm1), "floor": ("a(i) * 4", lambda x: np.floor(x * 4)),
    "log10": ("a(i)", np.log10), "log1p": ("a(i)", np.log1p), "log2": ("a(i)", np.log2),
    "round": ("a(i) * 4", lambda x: np.round(x * 4)), "rsqrt": ("a(i)", lambda x: 1 / np.sqrt(x)),
    "sin": ("a(i)", np.sin), "sinh": ("a(i)", np.sinh), "tan": ("a(i)", np.tan),
    "trunc": ("a(i) * 4", lambda x: np.trunc(x * 4)), "atan2": ("a(i), 0.3", lambda x: np.arctan2(x, 0.3)),
    "fmin": ("a(i), 0.5", lambda x: np.minimum(x, 0.5)), "pow": ("a(i), 1.5", lambda x: x**1.5),
    "fma": ("a(i), 0.3, 0.2", lambda x: x * 0.3 + 0.2),
}  # fmt: skip
MISSING_BUILTINS = {  # TC builtins tensorc does not implement yet (UnsupportedError)
    "acosh": ("1 + a(i)", lambda x: np.arccosh(1 + x)), "asinh": ("a(i)", np.arcsinh),
    "atanh": ("a(i)", np.arctanh), "cospi": ("a(i)", lambda x: np.cos(np.pi * x)),
    "sinpi": ("a(i)", lambda x: np.sin(np.pi * x)), "exp10": ("a(i)", lambda x: 10.0**x),
    "erfc": ("a(i)", lambda x: _sp("erfc")(x)), "erfinv": ("a(i)", lambda x: _sp("erfinv")(x)),
    "erfcinv": ("a(i)", lambda x: _sp("erfcinv")(x)), "erfcx": ("a(i)", lambda x: _sp("erfcx")(x)),
    "lgamma": ("a(i)", lambda x: _sp("gammaln")(x)), "tgamma": ("a(i)", lambda x: _sp("gamma")(x)),
    "normcdf": ("a(i)", lambda x: _sp("ndtr")(x)), "normcdfinv": ("a(i)", lambda x: _sp("ndtri")(x)),
    "cyl_bessel_i0": ("a(i)", lambda x: _sp("i0")(x)), "cyl_bessel_i1": ("a(i)", lambda x: _sp("i1")(x)),
    "j0": ("a(i)", lambda x: _sp("j0")(x)), "j1": ("a(i)", lambda x: _sp("j1")(x)),
    "y0": ("a(i)", lambda x: _sp("y0")(x)), "y1": ("a(i)", lambda x: _sp("y1")(x)),
    "logb": ("a(i)", lambda x: np.floor(np.log2(x))), "rcbrt": ("a(i)", lambda x: 1 / np.cbrt(x)),
    "copysign": ("a(i), -1.0", lambda x: -x), "fdim": ("a(i), 0.5", lambda x: np.maximum(x - 0.5, 0)),
    "fdivide": ("a(i), 0.3", lambda x: x / 0.3), "fmod": ("a(i), 0.3", lambda x: np.fmod(x, 0.3)),
    "hypot": ("a(i), 0.3", lambda x: np.hypot(x, 0.3)), "rhypot": ("a(i), 0.3", lambda x: 1 / np.hypot(x, 0.3)),
    "remainder": ("a(i), 0.3", lambda x: x - np.round(x / 0.3) * 0.3),
    "nextafter": ("a(i), 2.0", lambda x: np.nextafter(x.astype(np.float32), np.float32(2))),
    "norm3d": ("a(i), 0.3, 0.2", lambda x: np.sqrt(x * x + 0.09 + 0.04)),
    "rnorm3d": ("a(i), 0.3, 0.2", lambda x: 1 / np.sqrt(x * x + 0.09 + 0.04)),
}  # fmt: skip


def _builtin_params():
    for name, (args, fn) in BUILTINS.items():
        yield pytest.param(name, args, fn, id=name)
    for name, (args, fn) in MISSING_BUILTINS.items():
        mark = pytest.mark.xfail(strict=True, reason=f"TC builtin {name} is not implemented")
        yield pytest.param(name, args, fn, id=name, marks=mark)


@pytest.mark.parametrize("name, args, fn", list(_builtin_params()))
def test_tc_builtin(name, args, fn):
    """`O(i) = name(...)` on float32 input is float32 and matches numpy (TC's builtin list)."""
    src = f"def f(float(N) a) -> (O) {{ O(i) = {name}({args}) }}"
    got = _run(src, "f", "interp", X.astype(np.float32))
    check(got, (fn(X.astype(np.float32).astype(np.float64)),), ("float32",), name)


# --- the .tc layer database on triton at sizes beyond the specialised ones (> 16) ------------------
TRITON_BIG = {  # case id -> the bug, or None where it runs
    "fcrelu::fcrelu": None,
    "softmax3::softmax3": None,
    "group_normalization::group_normalization": None,
    "convolution_strided::convolution_strided": None,
    "group_convolution_strided::group_convolution_strided": None,
    "maxpool::maxpool": None,
    "avgpool::avgpool": None,
    "layernorm::layernorm": None,
    "wavenet::wavenet1": "triton: local array 'acc' over two sizes beyond the specialised ones "
    "(DILATION_C and another): kept off the generic path (their product of columns per lane)",
}


def _big_params():
    by_id = {c.id: c for c in cases.CASES}
    for cid, bug in TRITON_BIG.items():
        on_interpreter = os.environ.get("TRITON_INTERPRET") == "1"  # on a GPU: run unmarked
        marks = [pytest.mark.xfail(on_interpreter, strict=True, reason=bug)] if bug else []
        yield pytest.param(by_id[cid], id=cid, marks=marks)


@pytest.mark.parametrize("case", list(_big_params()))
def test_layer_database_on_triton_beyond_specialised_sizes(case):
    """Every size above 3 grows by 14, so none is baked in as a constant (sizes <= 16 are)."""
    pytest.importorskip("triton")
    sizes = {k: (v + 14 if v > 3 else v) for k, v in case.sizes.items()}
    rng = np.random.default_rng(0)
    args = [p.make(rng, sizes) for p in case.params]
    want = case.expected(args)
    path = cases.HERE / case.file
    got = _run(path.read_text(), case.name, "triton", *args)
    dtypes = tuple(str(w.dtype) if w.dtype.kind in "iub" else "float32" for w in want)
    check(got, want, dtypes, f"{case.id} on triton at {sizes}")


def test_size_bound_twice_is_a_call_error():
    """TC checks that a size symbol gets one value from all the inputs that name it."""
    mod = tensorc.compile("def f(float(N) A, float(N) B) -> (C) { C(i) = A(i) + B(i) }",
                          backend="interp")  # fmt: skip
    with pytest.raises(errors.ArgumentShapeError, match="N"):
        mod.f(np.ones(3, np.float32), np.ones(4, np.float32))


def test_index_tensor_out_of_range_is_a_call_error():
    """inference.rst's unclamped lookup table: a bad index value is caught at call time."""
    mod = tensorc.compile("def lut(float(J) B, int32(I) C) -> (A) {\n  A(i) = B(C(i))\n}",
                          backend="interp")  # fmt: skip
    with pytest.raises(errors.TensorcError, match="C"):
        mod.lut(np.zeros(5, np.float32), np.array([0, 4, 7], np.int32))


# --- the GPU plan at realistic sizes: `explain(target="gpu")` renders Triton text, no GPU needed ---
EXAMPLES = cases.HERE.parent.parent / "examples"
ATTN = {"H": 8, "N": 512, "M": 512, "D": 64, "E": 64}
GPU_PLANS = [  # (example file, def, sizes, the bug or None)
    ("w04_attention.tc", "attention", dict(B=1, **ATTN), None),
    ("w04_attention.tc", "attention", dict(B=32, **ATTN), None),
    ("w05_window_attention.tc", "window_attention", dict(B=32, **ATTN), None),
    ("w10_tc_classics.tc", "softmax", {"N": 256, "D": 512}, None),
    ("w10_tc_classics.tc", "fcrelu", {"B": 64, "M": 256, "N": 128}, None),
    ("w10_tc_classics.tc", "maxpool", {"B": 8, "C": 64, "H": 56, "W": 56}, None),
    ("w10_tc_classics.tc", "conv_strided", {"N": 8, "C": 32, "H": 32, "W": 32, "M": 32, "KH": 3, "KW": 3},
     None),
    ("w10_tc_classics.tc", "group_norm", {"N": 8, "G": 32, "D": 4, "H": 32, "W": 32}, None),
]  # fmt: skip


@pytest.mark.parametrize(
    "file, name, sizes",
    [
        pytest.param(f, n, s, id=f"{n}-{'-'.join(f'{k}{v}' for k, v in s.items())}",
                     marks=[pytest.mark.xfail(strict=True, reason=b)] if b else [])
        for f, n, s, b in GPU_PLANS
    ],
)  # fmt: skip
def test_gpu_plan_renders_at_realistic_sizes(file, name, sizes):
    """A workload whose GPU kernels Triton cannot render falls back to the interpreter on a GPU."""
    plan = tensorc.explain(str(EXAMPLES / file), name, target="gpu", sizes=sizes)
    assert "triton cannot render" not in plan, plan
