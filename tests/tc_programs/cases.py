"""The Tensor Comprehensions corpus: each .tc file here, compiled unchanged, and its reference.

`CASES` is the table test_tc_programs.py runs: (file, def, parameters, numpy reference, sizes).
Parameters are declarative (`F("M", "K")` float32 normal, `Idx(("B", "L1"), "E1")` int32 indices
into a dimension of size E1, `Int("M", "K")` small int32 values, `Arr(fn, "M", "N")` values from
`fn(rng, shape)`). Every case runs at its own "primes" sizes and at all-ones sizes (raised to each
case's minimum where a fixed kernel or stride needs room). References are float64 numpy written by
hand from the program's meaning, sharing no code with tensorc.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


class F:
    """float32 tensor, standard normal values."""

    def __init__(self, *dims: str):
        self.dims = dims

    def make(self, rng, sizes):
        return rng.standard_normal([sizes[d] for d in self.dims]).astype(np.float32)


class Arr:
    """A tensor whose values come from `fn(rng, shape)` (dtype decided by fn)."""

    def __init__(self, fn: Callable, *dims: str):
        self.fn, self.dims = fn, dims

    def make(self, rng, sizes):
        return self.fn(rng, tuple(sizes[d] for d in self.dims))


class Int(Arr):
    """int32 tensor with values in [-3, 4)."""

    def __init__(self, *dims: str):
        super().__init__(lambda rng, s: rng.integers(-3, 4, size=s).astype(np.int32), *dims)


class Idx:
    """int32 tensor of indices in [0, sizes[bound])."""

    def __init__(self, dims: tuple[str, ...], bound: str):
        self.dims, self.bound = dims, bound

    def make(self, rng, sizes):
        return rng.integers(0, sizes[self.bound], size=[sizes[d] for d in self.dims]).astype(
            np.int32
        )


@dataclass
class Case:
    file: str
    name: str
    params: list
    reference: Callable
    sizes: dict[str, int]  # the "primes" profile
    at_least: dict[str, int] = field(default_factory=dict)  # minimums for the all-ones profile

    @property
    def id(self) -> str:
        return f"{self.file.removesuffix('.tc')}::{self.name}"

    def symbols(self) -> set[str]:
        out = {d for p in self.params for d in p.dims}
        return out | {p.bound for p in self.params if isinstance(p, Idx)}

    def sizes_for(self, profile: str) -> dict[str, int]:
        if profile == "primes":
            missing = self.symbols() - set(self.sizes)
            assert not missing, f"{self.id}: no size for {missing}"
            return dict(self.sizes)
        return {s: max(1, self.at_least.get(s, 1)) for s in self.symbols()}

    def inputs(self, profile: str, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        sizes = self.sizes_for(profile)
        return [p.make(rng, sizes) for p in self.params]

    def expected(self, args) -> tuple:
        f64 = [a.astype(np.float64) if a.dtype.kind == "f" else a for a in args]
        out = self.reference(*f64)
        return out if isinstance(out, tuple) else (out,)


PROFILES = ("primes", "ones")


# --- references ----------------------------------------------------------------------------
def relu(x):
    return np.maximum(x, 0.0)


def conv2d(I, W, sh=1, sw=1):
    """Valid cross-correlation: I (N, C, H, W), W (M, C, KH, KW) -> (N, M, H', W')."""
    n, _, h, w = I.shape
    m, _, kh, kw = W.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, m, ho, wo))
    for y in range(ho):
        for x in range(wo):
            patch = I[:, :, y * sh : y * sh + kh, x * sw : x * sw + kw]
            out[:, :, y, x] = np.einsum("nckl,mckl->nm", patch, W)
    return out


def pool(I, kh, kw, sh, sw, reduce):
    b, c, h, w = I.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((b, c, ho, wo))
    for y in range(ho):
        for x in range(wo):
            out[:, :, y, x] = reduce(I[:, :, y * sh : y * sh + kh, x * sw : x * sw + kw], (2, 3))
    return out


def softmax_rows(I):
    e = np.exp(I - I.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def group_conv(I, W, sh=1, sw=1):
    return np.stack([conv2d(I[:, g], W[g], sh, sw) for g in range(I.shape[1])], axis=1)


def batchnorm(I, rMeanIn, rVarIn):
    mean = I.mean(axis=(0, 2, 3))
    rMeanOut = 0.9 * rMeanIn + 0.1 * mean
    centered = I - rMeanOut[None, :, None, None]
    variance = centered**2
    expectedVariance = variance.mean(axis=(0, 2, 3)) + 1e-5
    rVarOut = 1 / np.sqrt(0.9 * rVarIn + 0.1 * expectedVariance)
    O = centered * rVarOut[None, :, None, None]
    return O, rMeanOut, rVarOut, mean, centered, variance, expectedVariance, O


def layernorm(I):
    mean = I.mean(2)
    centered = I - mean[..., None]
    var = ((centered**2).sum(2) + 1e-5) / I.shape[2]
    return centered * np.sqrt(var)[..., None], mean, centered, var


def group_normalization(I, gamma, beta):
    s = I.sum(axis=(2, 3, 4))
    ss = (I * I).sum(axis=(2, 3, 4))
    cnt = np.prod(I.shape[2:])
    mean = s / cnt
    var = ss / cnt - mean**2
    g = gamma[None, :, :, None, None]
    b = beta[None, :, :, None, None]
    O = g * (I - mean[:, :, None, None, None]) / np.sqrt(var + 1e-5)[:, :, None, None, None] + b
    return O, s, ss


def wavenet1(Data, FW, FB, GW, GB, RW, RB, SW, SB, Dilation):
    dil = Dilation.shape[0]
    rfs = Data.shape[2]
    shifted = np.zeros_like(Data)  # Data(b, c, rf - dil), zero where rf - dil < 0
    if dil < rfs:
        shifted[:, :, dil:] = Data[:, :, : rfs - dil]
    filt = (
        FB[None, :, None]
        + np.einsum("brt,dr->bdt", Data, FW[:, :, 1])
        + np.einsum("brt,dr->bdt", shifted, FW[:, :, 0])
    )
    gate = (
        GB[None, :, None]
        + np.einsum("brt,dr->bdt", Data, GW[:, :, 1])
        + np.einsum("brt,dr->bdt", shifted, GW[:, :, 0])
    )
    nonlin = np.tanh(filt) / (1 + np.exp(-gate))
    res = Data + RB[None, :, None] + np.einsum("bdt,rd->brt", nonlin, RW)
    skip = np.einsum("bdt,sd->bst", nonlin, SW) + SB[None, :, None]
    return filt, gate, nonlin, res, skip


def kron2(W0, W1, X):
    xw1 = np.einsum("mab,db->mad", X, W1)
    return np.einsum("mad,ea->med", xw1, W0), xw1


def kron3(W0, W1, W2, X):
    xw2 = np.einsum("mabc,dc->mabd", X, W2)
    xw2w1 = np.einsum("mabd,eb->maed", xw2, W1)
    return np.einsum("maed,fa->mfed", xw2w1, W0), xw2, xw2w1


def lut_sum(LUT, I):
    return LUT[I.astype(np.int64)].sum(axis=1)


def small_mobilenet(I, W1, B1, W2, B2):
    c, h, w = I.shape
    _, kh, kw = W1.shape
    ho, wo = h - kh + 1, w - kw + 1
    o1 = np.zeros((c, ho, wo))
    for y in range(ho):
        for x in range(wo):
            o1[:, y, x] = np.einsum("ckl,ckl->c", I[:, y : y + kh, x : x + kw], W1)
    o1 = relu(o1 + B1[:, None, None])
    o2 = relu(np.einsum("dc,chw->dhw", W2, o1) + B2[:, None, None])
    return o1, o2


def math_mix(A):
    sig = 1 / (1 + np.exp(-A))
    return (np.abs(A) * sig + np.tanh(A) - relu(A) + np.logaddexp(0, A) * np.sign(A)
            + np.clip(A, -0.5, 0.5) + np.sqrt(np.abs(A)))  # fmt: skip


def cosine_similarity(I1, I2):
    s1 = (I1 * I1).sum(1)
    s2 = (I2 * I2).sum(1)
    return (I1 * I2).sum(1) / np.maximum(1 / np.sqrt(s1) * np.sqrt(s2), 1e-5), s1, s2


def _positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape).astype(np.float32)


def _away_from_integers(rng, shape):
    # integer + (0.1 .. 0.9): truncation cannot flip on float32 vs float64 rounding
    return (rng.integers(-3, 3, size=shape) + rng.uniform(0.1, 0.9, size=shape)).astype(np.float32)


def _few_values(rng, shape):
    # values in {0, 1, 2, 3}: many exact ties for argmin
    return rng.integers(0, 4, size=shape).astype(np.float32)


def _near_one(rng, shape):
    return rng.uniform(0.8, 1.25, size=shape).astype(np.float32)


# --- the table -----------------------------------------------------------------------------
S = dict  # sizes

CASES: list[Case] = [
    Case("matmul.tc", "matmul", [F("M", "N"), F("N", "K")], lambda A, B: A @ B,
         S(M=13, N=7, K=11)),
    Case("matmul_transposed.tc", "matmul_tn", [F("K", "M"), F("K", "N")], lambda A, B: A.T @ B,
         S(K=7, M=5, N=11)),
    Case("matmul_transposed.tc", "matmul_nt", [F("B", "WX"), F("WY", "WX")], lambda I, W: I @ W.T,
         S(B=5, WX=13, WY=7)),
    Case("matmul_transposed.tc", "matmul_tt", [F("K", "M"), F("N", "K")],
         lambda A, B: A.T @ B.T, S(K=7, M=5, N=3)),
    Case("tmm.tc", "tmm", [F("M", "K"), F("N", "K")], lambda A, B: A @ B.T, S(M=11, K=7, N=5)),
    Case("tbmm.tc", "tbmm", [F("B", "N", "M"), F("B", "K", "M")],
         lambda X, Y: X @ Y.transpose(0, 2, 1), S(B=3, N=5, M=7, K=2)),
    Case("batch_matmul.tc", "batch_matmul", [F("B", "N", "M"), F("B", "M", "K")],
         lambda X, Y: X @ Y, S(B=3, N=5, M=7, K=2)),
    Case("fcrelu.tc", "fcrelu", [F("B", "M"), F("N", "M"), F("N")],
         lambda I, W1, B1: relu(I @ W1.T + B1), S(B=7, M=13, N=5)),
    Case("fc_bias_first.tc", "fc_bias_first", [F("B", "M"), F("N", "M"), F("N")],
         lambda I, W1, B1: relu(I @ W1.T + B1), S(B=7, M=13, N=5)),
    Case("mlp1.tc", "mlp1", [F("B", "M"), F("M", "N"), F("N")],
         lambda I, W1, B1: relu(I @ W1 + B1), S(B=7, M=13, N=5)),
    Case("mlp2.tc", "mlp2", [F("B", "M"), F("N", "M"), F("N"), F("O", "N"), F("O")],
         lambda I, W1, B1, W2, B2: (relu(I @ W1.T + B1), relu(relu(I @ W1.T + B1) @ W2.T + B2)),
         S(B=3, M=11, N=7, O=5)),
    Case("mlp3.tc", "mlp3",
         [F("B", "N"), F("O", "N"), F("O"), F("P", "O"), F("P"), F("Q", "P"), F("Q")],
         lambda I, W2, B2, W3, B3, W4, B4: (
             relu(I @ W2.T + B2),
             relu(relu(I @ W2.T + B2) @ W3.T + B3),
             relu(relu(relu(I @ W2.T + B2) @ W3.T + B3) @ W4.T + B4)),
         S(B=3, N=13, O=11, P=7, Q=2)),
    Case("convolution.tc", "convolution", [F("N", "C", "H", "W"), F("M", "C", "KH", "KW"), F("M")],
         lambda I, W1, B: conv2d(I, W1) + B[None, :, None, None],
         S(N=2, C=3, H=11, W=7, M=5, KH=3, KW=2)),
    Case("convolution_strided.tc", "convolution_strided",
         [F("N", "C", "H", "W"), F("M", "C", "KH", "KW"), F("M")],
         lambda I, W1, B: conv2d(I, W1, 2, 3) + B[None, :, None, None],
         S(N=2, C=3, H=11, W=13, M=5, KH=3, KW=2)),
    Case("group_convolution.tc", "group_convolution",
         [F("N", "G", "C", "H", "W"), F("G", "F", "C", "KH", "KW"), F("G", "F")],
         lambda I, W1, B: group_conv(I, W1) + B[None, :, :, None, None],
         S(N=2, G=3, C=2, H=7, W=5, F=3, KH=3, KW=2)),
    Case("group_convolution_strided.tc", "group_convolution_strided",
         [F("N", "G", "I", "H", "W"), F("G", "O", "I", "KH", "KW")],
         lambda In, W1: group_conv(In, W1, 2, 2), S(N=2, G=2, I=3, H=9, W=8, O=3, KH=3, KW=2)),
    Case("maxpool.tc", "maxpool", [F("B", "C", "H", "W")],
         lambda I: pool(I, 3, 2, 2, 1, np.max), S(B=2, C=3, H=11, W=7), at_least=S(H=3, W=2)),
    Case("avgpool.tc", "avgpool", [F("B", "C", "H", "W")],
         lambda I: pool(I, 2, 2, 2, 2, np.mean), S(B=2, C=3, H=11, W=8), at_least=S(H=2, W=2)),
    Case("softmax3.tc", "softmax3", [F("N", "D")], softmax_rows, S(N=7, D=13)),
    Case("softmax_db.tc", "softmax", [F("N", "D")],
         lambda I: (softmax_rows(I), I.max(1), np.exp(I - I.max(1, keepdims=True)),
                    np.exp(I - I.max(1, keepdims=True)).sum(1)),
         S(N=7, D=13)),
    Case("moments.tc", "moments2_2D_1D", [F("N", "K")],
         lambda I: (I.mean(1), (I * I).mean(1) - I.mean(1) ** 2), S(N=7, K=13)),
    Case("batchnorm.tc", "batchnorm",
         [F("N", "C", "H", "W"), F("C"), Arr(_positive, "C")], batchnorm,
         S(N=3, C=5, H=7, W=2)),
    Case("layernorm.tc", "layernorm", [F("T", "B", "C")], layernorm, S(T=3, B=5, C=7)),
    Case("group_normalization.tc", "group_normalization",
         [F("N", "G", "D", "H", "W"), F("G", "D"), F("G", "D")], group_normalization,
         S(N=2, G=3, D=2, H=5, W=3)),
    Case("group_normalization_sum.tc", "group_normalization_sum",
         [F("N", "G", "D", "H", "W"), F("G", "D"), F("G", "D")],
         lambda I, g, b: group_normalization(I, g, b)[0], S(N=2, G=3, D=2, H=5, W=3)),
    Case("wavenet.tc", "wavenet1",
         [F("B", "RESIDUAL_C", "RECEPTIVE_FIELD"), F("DILATION_C", "RESIDUAL_C", "TWO"),
          F("DILATION_C"), F("DILATION_C", "RESIDUAL_C", "TWO"), F("DILATION_C"),
          F("RESIDUAL_C", "DILATION_C"), F("RESIDUAL_C"), F("SKIP_C", "DILATION_C"), F("SKIP_C"),
          F("DILATION_FACTOR")],
         wavenet1,
         S(B=2, RESIDUAL_C=3, RECEPTIVE_FIELD=11, DILATION_C=5, TWO=2, SKIP_C=7,
           DILATION_FACTOR=2),
         at_least=S(TWO=2)),
    Case("kronecker2.tc", "Kronecker2Full", [F("D0", "N0"), F("D1", "N1"), F("M", "N0", "N1")],
         kron2, S(D0=3, N0=5, D1=2, N1=7, M=11)),
    Case("kronecker3.tc", "Kronecker3Full",
         [F("D0", "N0"), F("D1", "N1"), F("D2", "N2"), F("M", "N0", "N1", "N2")], kron3,
         S(D0=3, N0=5, D1=2, N1=3, D2=4, N2=7, M=5)),
    Case("lut1.tc", "_1LUT", [F("E1", "D"), Idx(("B", "L1"), "E1")], lut_sum,
         S(E1=17, D=5, B=7, L1=3)),
    Case("lut2.tc", "_2LUT",
         [F("E1", "D"), Idx(("B", "L1"), "E1"), F("E2", "D"), Idx(("B", "L2"), "E2")],
         lambda L1, I1, L2, I2: (lut_sum(L1, I1), lut_sum(L2, I2)),
         S(E1=17, D=5, B=7, L1=3, E2=11, L2=2)),
    Case("lut_db.tc", "lut", [F("B", "R"), Idx(("B", "N"), "B")],
         lambda LUT, I: LUT[I.astype(np.int64)].sum(-1), S(B=7, R=5, N=3)),
    Case("indexing.tc", "indexing", [F("H", "W"), Idx(("L",), "H")],
         lambda inp, idx: inp[idx.astype(np.int64)], S(H=7, W=5, L=11)),
    Case("concat_ternary.tc", "concat", [F("I", "N"), F("I", "M")],
         lambda A, B: np.concatenate([A, B], axis=1), S(I=5, N=3, M=7)),
    Case("concat_db.tc", "concat", [F("M", "N"), F("M", "N")],
         lambda A, B: np.stack([A.T, B.T], axis=1), S(M=5, N=3)),
    Case("argmin_ternary.tc", "argmin_ternary", [Arr(_few_values, "N", "M")],
         lambda D: (D.min(1), D.argmin(1).astype(np.int64)), S(N=13, M=7)),
    Case("casts.tc", "int_to_float", [Int("N")], lambda I: I.astype(np.float64), S(N=11)),
    Case("casts.tc", "cast", [Arr(_away_from_integers, "M", "N")],
         lambda A: np.trunc(A + 4).astype(np.int32), S(M=5, N=7)),
    Case("scalar_output.tc", "sum_all", [F("N", "M")], lambda A: np.asarray(A.sum()),
         S(N=7, M=13)),
    Case("scalar_output.tc", "mean_all", [F("N", "M")], lambda A: np.asarray(A.mean()),
         S(N=7, M=13)),
    Case("int_outputs.tc", "imatmul", [Int("M", "K"), Int("K", "N")],
         lambda A, B: (A.astype(np.int64) @ B).astype(np.int32), S(M=5, K=7, N=3)),
    Case("int_outputs.tc", "count_positive", [F("N", "M")],
         lambda A: (A > 0).sum(1).astype(np.int32), S(N=7, M=13)),
    Case("math_ops.tc", "sigmoid", [F("N", "C", "H", "W")], lambda I: 1 / (1 + np.exp(-I)),
         S(N=2, C=3, H=5, W=7)),
    Case("math_ops.tc", "Tanh", [F("M")], np.tanh, S(M=13)),
    Case("math_ops.tc", "cosine", [F("M")], np.cos, S(M=13)),
    Case("math_ops.tc", "abs", [F("M", "N")], np.abs, S(M=5, N=7)),
    Case("math_ops.tc", "relu", [F("B", "M")], relu, S(B=5, M=7)),
    Case("math_builtins.tc", "math_mix", [F("N", "M")], math_mix, S(N=5, M=7)),
    Case("transpose.tc", "transpose", [F("N", "C", "H", "W")], lambda I: I.transpose(1, 0, 3, 2),
         S(N=2, C=3, H=5, W=7)),
    Case("outer.tc", "outer", [F("M"), F("N")], np.outer, S(M=5, N=7)),
    Case("outer.tc", "copy", [F("M", "N")], lambda I: I, S(M=5, N=7)),
    Case("outer.tc", "scale", [F("M", "N")], lambda I: I * 3.5, S(M=5, N=7)),
    Case("outer.tc", "add", [F("N"), F("N")], lambda A, B: A + B, S(N=11)),
    Case("tensordot.tc", "tensordot", [F("N", "C1", "C2", "H", "W"), F("N", "C2", "C3", "H", "W")],
         lambda a, b: np.einsum("nabhw,nbchw->nachw", a, b),
         S(N=2, C1=3, C2=5, C3=2, H=3, W=7)),
    Case("cosine_similarity.tc", "cosine_similarity", [F("M", "N"), F("M", "N")],
         cosine_similarity, S(M=5, N=7)),
    Case("small_mobilenet.tc", "small_mobilenet",
         [F("C1", "H", "W"), F("C1", "KH1", "KW1"), F("C1"), F("C2", "C1"), F("C2")],
         small_mobilenet, S(C1=3, H=9, W=7, KH1=3, KW1=2, C2=5)),
    Case("equiv_comment.tc", "matmul_equiv", [F("M", "K"), F("K", "N")], lambda A, B: A @ B,
         S(M=5, K=7, N=3)),
    Case("max_reductions.tc", "row_max_min", [F("N", "M")], lambda A: (A.max(1), A.min(1)),
         S(N=7, M=13)),
    Case("max_reductions.tc", "row_prod", [Arr(_near_one, "N", "M")], lambda A: A.prod(1),
         S(N=7, M=13)),
    Case("max_reductions.tc", "sum_then_add", [F("N", "M"), F("N", "K")],
         lambda A, B: A.sum(1) + B.sum(1), S(N=7, M=13, K=5)),
]  # fmt: skip
