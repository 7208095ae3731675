"""The spelling suite's families: one mathematics, several spellings each (issue 11).

A `Family` holds .tc defs that compute the same thing with the same parameters (each def's name is
the spelling's label), a float64 numpy reference, inputs, sizes, and optional comparators (numpy's
MLP, plain causal attention for ALiBi) that are timed beside the spellings but never count as the
fastest spelling. Sums inside nonlinear functions are written out (`sum(j: exp(...))`), as the
revised implicit-sum rule requires (LANGUAGE.md section 2). Spellings taken from examples/ say so
in their label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

F32 = np.float32
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class Family:
    name: str
    source: str  # the defs; each def name is a spelling
    args: tuple[str, ...]  # parameter order, the same in every def
    sizes: dict[str, dict[str, int]]  # "full" / "quick" / "tiny"
    make: Callable[[dict, np.random.Generator], dict[str, Any]]
    reference: Callable[[dict], np.ndarray]
    comparators: dict[str, Callable[[dict], Callable[[], Any]]] = field(default_factory=dict)
    rtol: float = 2e-3

    @property
    def spellings(self) -> list[str]:
        return [line.split()[1].split("(")[0] for line in self.source.splitlines()
                if line.startswith("def ")]  # fmt: skip


def _example(file: str, name: str, label: str) -> str:
    """The def `name` of examples/`file`, renamed `label`."""
    text = (EXAMPLES / file).read_text()
    start = text.index(f"def {name}(")
    depth, end = 0, text.index("{", start)
    for pos in range(end, len(text)):  # to the brace that closes the body
        depth += {"{": 1, "}": -1}.get(text[pos], 0)
        if depth == 0:
            end = pos
            break
    return text[start : end + 1].replace(f"def {name}(", f"def {label}(", 1) + "\n"


def _defs(head: str, bodies: dict[str, str]) -> str:
    return "".join(f"def {n}{head} {{\n{b}\n}}\n" for n, b in bodies.items())


# --- attention ---------------------------------------------------------------------------------

QKV = "(float(B,H,N,D) q, float(B,H,N,D) k, float(B,H,N,E) v, float scale"
S = "    s(b,h,i,j) = sum(d: q(b,h,i,d) * k(b,h,j,d)) * scale\n"
SOFTMAX_V = "    o(b,h,i,e) = sum(j: softmax(j: s(b,h,i,j)) * v(b,h,j,e))"


def _qkv(s: dict, rng: np.random.Generator) -> dict:
    b, h, n, d, e = (s[x] for x in "BHNDE")
    return {
        "q": rng.standard_normal((b, h, n, d), dtype=F32),
        "k": rng.standard_normal((b, h, n, d), dtype=F32),
        "v": rng.standard_normal((b, h, n, e), dtype=F32),
        "scale": float(1 / np.sqrt(d)),
    }


def _attention_ref(inp: dict, keep=None, bias=None) -> np.ndarray:
    q, k, v = (np.asarray(inp[x], np.float64) for x in "qkv")
    s = np.einsum("bhid,bhjd->bhij", q, k) * inp["scale"]
    if bias is not None:
        s = s + bias
    if keep is not None:
        s = np.where(keep, s, -np.inf)
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    return np.einsum("bhij,bhje->bhie", p / p.sum(-1, keepdims=True), v)


def _ij(n: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(n)
    return i[:, None], i[None, :]


ATT_SIZES = {
    "full": {"B": 2, "H": 8, "N": 2048, "D": 64, "E": 64},
    "quick": {"B": 1, "H": 4, "N": 1024, "D": 64, "E": 64},
    "tiny": {"B": 1, "H": 2, "N": 64, "D": 16, "E": 16},
}

ATTENTION_FULL = _defs(QKV + ") -> (o)", {
    "softmax_temp": S + SOFTMAX_V,
    "one_statement": "    o(b,h,i,e) = sum(j: softmax(j: sum(d: q(b,h,i,d) * k(b,h,j,d)) * scale)"
                     " * v(b,h,j,e))",
    "exp_over_sum": S + "    o(b,h,i,e) = sum(j: exp(s(b,h,i,j)) * v(b,h,j,e)) / "
                        "sum(j: exp(s(b,h,i,j)))",
    "lse_temp": S + "    l(b,h,i) = logsumexp(j: s(b,h,i,j))\n"
                    "    o(b,h,i,e) = sum(j: exp(s(b,h,i,j) - l(b,h,i)) * v(b,h,j,e))",
    "max_normaliser_temps": S + "    m(b,h,i) = max(j: s(b,h,i,j))\n"
                                "    z(b,h,i) = sum(j: exp(s(b,h,i,j) - m(b,h,i)))\n"
                                "    o(b,h,i,e) = sum(j: exp(s(b,h,i,j) - m(b,h,i)) * v(b,h,j,e))"
                                " / z(b,h,i)",
    "scale_outside": "    s(b,h,i,j) = sum(d: q(b,h,i,d) * k(b,h,j,d))\n"
                     "    o(b,h,i,e) = sum(j: softmax(j: s(b,h,i,j) * scale) * v(b,h,j,e))",
    "probs_temp": S + "    p(b,h,i,j) = softmax(j: s(b,h,i,j))\n"
                      "    o(b,h,i,e) = sum(j: p(b,h,i,j) * v(b,h,j,e))",
    "probs_normaliser_temps": S + "    z(b,h,i) = sum(j: exp(s(b,h,i,j)))\n"
                                  "    p(b,h,i,j) = exp(s(b,h,i,j)) / z(b,h,i)\n"
                                  "    o(b,h,i,e) = sum(j: p(b,h,i,j) * v(b,h,j,e))",
    "inline_max_shift": S + "    o(b,h,i,e) = sum(j: exp(s(b,h,i,j) - max(j: s(b,h,i,j))) * v(b,h,j,e))"
                            " / sum(j: exp(s(b,h,i,j) - max(j: s(b,h,i,j))))",
}) + _example("w04_attention.tc", "attention_full", "example_w04_full")  # fmt: skip

ATTENTION_CAUSAL = _defs(QKV + ") -> (o)", {
    "where_mask": S + SOFTMAX_V + "  where j <= i",
    "ternary_temp": "    s(b,h,i,j) = j <= i ? sum(d: q(b,h,i,d) * k(b,h,j,d)) * scale : -1e30\n"
                    + SOFTMAX_V,
    "additive_mask": S + "    o(b,h,i,e) = sum(j: softmax(j: s(b,h,i,j) + (j <= i ? 0.0 : -1e30))"
                         " * v(b,h,j,e))",
    "exp_over_sum_where": S + "    o(b,h,i,e) = sum(j: exp(s(b,h,i,j)) * v(b,h,j,e)) / "
                              "sum(j: exp(s(b,h,i,j)))  where j <= i",
    "mask_on_temp": S.rstrip("\n") + "  where j <= i\n" + SOFTMAX_V,
}) + _example("w04_attention.tc", "attention", "example_w04_causal")  # fmt: skip

ATTENTION_WINDOW = _defs(QKV + ", int32 W) -> (o)", {
    "where_mask": S + SOFTMAX_V + "  where abs(i - j) <= W",
    "ternary_temp": "    s(b,h,i,j) = abs(i - j) <= W ? sum(d: q(b,h,i,d) * k(b,h,j,d)) * scale"
                    " : -1e30\n" + SOFTMAX_V,
    "two_bounds": S + SOFTMAX_V + "  where j <= i + W, i <= j + W",
}) + _example("w05_window_attention.tc", "window_attention", "example_w05")  # fmt: skip

ALIBI = "slope(h) * float32(i - j)"
ATTENTION_ALIBI = _defs(QKV + ", float(H) slope) -> (o)", {
    "alibi_temp_where": "    s(b,h,i,j) = sum(d: q(b,h,i,d) * k(b,h,j,d)) * scale - " + ALIBI + "\n"
                        + SOFTMAX_V + "  where j <= i",
    "alibi_one_statement": "    o(b,h,i,e) = sum(j: softmax(j: sum(d: q(b,h,i,d) * k(b,h,j,d)) * scale"
                           " - " + ALIBI + ") * v(b,h,j,e))  where j <= i",
    "alibi_ternary": "    s(b,h,i,j) = j <= i ? sum(d: q(b,h,i,d) * k(b,h,j,d)) * scale - " + ALIBI
                     + " : -1e30\n" + SOFTMAX_V,
    "alibi_bias_temp": "    a(h,i,j) = " + ALIBI + "  where i in 0:N, j in 0:N\n"
                       "    s(b,h,i,j) = sum(d: q(b,h,i,d) * k(b,h,j,d)) * scale - a(h,i,j)\n"
                       + SOFTMAX_V + "  where j <= i",
})  # fmt: skip


def _plain_causal(inp: dict) -> Callable[[], Any]:
    """Plain causal attention (no ALiBi) on the same inputs: the bar ALiBi is held to."""
    import tensorc

    fn = tensorc.compile(ATTENTION_CAUSAL, backend="cpu").where_mask
    args = [inp[x] for x in ("q", "k", "v", "scale")]
    return lambda: fn(*args)


def _alibi_ref(inp: dict) -> np.ndarray:
    n = inp["q"].shape[2]
    i, j = _ij(n)
    bias = -np.asarray(inp["slope"], np.float64)[:, None, None] * (i - j)[None]
    return _attention_ref(inp, keep=j <= i, bias=bias[None])


def _window_make(s: dict, rng: np.random.Generator) -> dict:
    return _qkv(s, rng) | {"W": s["W"]}


def _window_ref(inp: dict) -> np.ndarray:
    i, j = _ij(inp["q"].shape[2])
    return _attention_ref(inp, keep=np.abs(i - j) <= inp["W"])


def _causal_ref(inp: dict) -> np.ndarray:
    i, j = _ij(inp["q"].shape[2])
    return _attention_ref(inp, keep=j <= i)


# --- linear attention (phi = relu) -------------------------------------------------------------

LIN_HEAD = "(float(B,H,N,D) q, float(B,H,N,D) k, float(B,H,N,E) v) -> (o)"
PHI = "    pq(b,h,i,d) = relu(q(b,h,i,d))\n    pk(b,h,j,d) = relu(k(b,h,j,d))\n"
LINEAR = _defs(LIN_HEAD, {
    "one_network": PHI + "    o(b,h,i,e) = sum(j, d: pq(b,h,i,d) * pk(b,h,j,d) * v(b,h,j,e)) / "
                         "(sum(j, d: pq(b,h,i,d) * pk(b,h,j,d)) + 1e-6)",
    "scores_temp": PHI + "    A(b,h,i,j) = sum(d: pq(b,h,i,d) * pk(b,h,j,d))\n"
                         "    o(b,h,i,e) = sum(j: A(b,h,i,j) * v(b,h,j,e)) / "
                         "(sum(j: A(b,h,i,j)) + 1e-6)",
    "nested_sums": PHI + "    o(b,h,i,e) = sum(j: sum(d: pq(b,h,i,d) * pk(b,h,j,d)) * v(b,h,j,e)) / "
                         "(sum(j: sum(d: pq(b,h,i,d) * pk(b,h,j,d))) + 1e-6)",
}) + _example("w06_linear_attention.tc", "linear_attention_relu", "example_w06_relu")  # fmt: skip


LINEAR_ELU = _example("w06_linear_attention.tc", "linear_attention", "example_w06") + _defs(
    LIN_HEAD.replace("float(B,H,N,D) k, float(B,H,N,E) v", "float(B,H,M,D) k, float(B,H,M,E) v"), {
        "scores_temp": "    pq(b,h,i,d) = q(b,h,i,d) > 0 ? q(b,h,i,d) + 1 : exp(q(b,h,i,d))\n"
                       "    pk(b,h,j,d) = k(b,h,j,d) > 0 ? k(b,h,j,d) + 1 : exp(k(b,h,j,d))\n"
                       "    A(b,h,i,j) = sum(d: pq(b,h,i,d) * pk(b,h,j,d))\n"
                       "    o(b,h,i,e) = sum(j: A(b,h,i,j) * v(b,h,j,e)) / sum(j: A(b,h,i,j))",
        "kv_state": "    pq(b,h,i,d) = q(b,h,i,d) > 0 ? q(b,h,i,d) + 1 : exp(q(b,h,i,d))\n"
                    "    pk(b,h,j,d) = k(b,h,j,d) > 0 ? k(b,h,j,d) + 1 : exp(k(b,h,j,d))\n"
                    "    kv(b,h,d,e) = sum(j: pk(b,h,j,d) * v(b,h,j,e))\n"
                    "    ks(b,h,d) = sum(j: pk(b,h,j,d))\n"
                    "    o(b,h,i,e) = sum(d: pq(b,h,i,d) * kv(b,h,d,e)) / sum(d: pq(b,h,i,d) * ks(b,h,d))",
    })  # fmt: skip


def _linear_elu_ref(inp: dict) -> np.ndarray:
    def phi(a):
        a = np.asarray(a, np.float64)
        return np.where(a > 0, a + 1, np.exp(a))

    pq, pk, v = phi(inp["q"]), phi(inp["k"]), np.asarray(inp["v"], np.float64)
    num = np.einsum("bhid,bhde->bhie", pq, np.einsum("bhjd,bhje->bhde", pk, v))
    return num / np.einsum("bhid,bhd->bhi", pq, pk.sum(2))[..., None]


def _linear_make(s: dict, rng: np.random.Generator) -> dict:
    return {x: v for x, v in _qkv(s, rng).items() if x != "scale"}


def _linear_ref(inp: dict) -> np.ndarray:
    pq, pk = (np.maximum(np.asarray(inp[x], np.float64), 0) for x in "qk")
    v = np.asarray(inp["v"], np.float64)
    num = np.einsum("bhid,bhde->bhie", pq, np.einsum("bhjd,bhje->bhde", pk, v))
    den = np.einsum("bhid,bhd->bhi", pq, pk.sum(2)) + 1e-6
    return num / den[..., None]


# --- 2-layer MLP -------------------------------------------------------------------------------

MLP_HEAD = "(float(B,K) x, float(K,H) W1, float(H) b1, float(H,O) W2, float(O) b2) -> (y)"
MLP = _defs(MLP_HEAD, {
    "hidden_temp": "    h(b,j) = relu(sum(k: x(b,k) * W1(k,j)) + b1(j))\n"
                   "    y(b,o) = sum(j: h(b,j) * W2(j,o)) + b2(o)",
    "update_statements": "    h(b,j) = sum(k: x(b,k) * W1(k,j))\n    h(b,j) = h(b,j) + b1(j)\n"
                         "    h(b,j) = relu(h(b,j))\n    y(b,o) = sum(j: h(b,j) * W2(j,o)) + b2(o)",
    "one_statement": "    y(b,o) = sum(j: relu(sum(k: x(b,k) * W1(k,j)) + b1(j)) * W2(j,o)) + b2(o)",
    "preact_temp": "    a(b,j) = sum(k: x(b,k) * W1(k,j)) + b1(j)\n"
                   "    y(b,o) = sum(j: relu(a(b,j)) * W2(j,o)) + b2(o)",
    "tc_style": "    h(b,j) +=! x(b,k) * W1(k,j)\n    h(b,j) = fmax(h(b,j) + b1(j), 0)\n"
                "    y(b,o) +=! h(b,j) * W2(j,o)\n    y(b,o) = y(b,o) + b2(o)",
})  # fmt: skip
MLP_SIZES = {
    "full": {"B": 512, "K": 1024, "H": 1024, "O": 256},
    "quick": {"B": 256, "K": 512, "H": 512, "O": 128},
    "tiny": {"B": 8, "K": 32, "H": 32, "O": 16},
}


def _mlp_make(s: dict, rng: np.random.Generator) -> dict:
    b, k, h, o = (s[x] for x in "BKHO")
    return {
        "x": rng.standard_normal((b, k), dtype=F32),
        "W1": (rng.standard_normal((k, h), dtype=F32) / np.sqrt(k)).astype(F32),
        "b1": rng.standard_normal(h, dtype=F32),
        "W2": (rng.standard_normal((h, o), dtype=F32) / np.sqrt(h)).astype(F32),
        "b2": rng.standard_normal(o, dtype=F32),
    }


def _mlp_ref(inp: dict) -> np.ndarray:
    x, w1, b1, w2, b2 = (np.asarray(inp[n], np.float64) for n in ("x", "W1", "b1", "W2", "b2"))
    return np.maximum(x @ w1 + b1, 0) @ w2 + b2


def _mlp_numpy(inp: dict) -> Callable[[], Any]:
    x, w1, b1, w2, b2 = (inp[n] for n in ("x", "W1", "b1", "W2", "b2"))
    return lambda: np.maximum(x @ w1 + b1, 0) @ w2 + b2


# --- tensor networks ---------------------------------------------------------------------------

TUCKER_HEAD = "(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G)"
TUCKER = _example("w09_tensor_networks.tc", "tucker_core", "example_w09_one_statement") + _defs(
    TUCKER_HEAD, {
        "steps": "    t1(a,j,k) = sum(i: T(i,j,k) * U1(i,a))\n"
                 "    t2(a,b,k) = sum(j: t1(a,j,k) * U2(j,b))\n"
                 "    G(a,b,c) = sum(k: t2(a,b,k) * U3(k,c))",
        "nested_sums": "    G(a,b,c) = sum(k: sum(j: sum(i: T(i,j,k) * U1(i,a)) * U2(j,b)) * U3(k,c))",
        "explicit_sum": "    G(a,b,c) = sum(i, j, k: T(i,j,k) * U1(i,a) * U2(j,b) * U3(k,c))",
    })  # fmt: skip
TUCKER_SIZES = {
    "full": {"I": 128, "J": 128, "K": 128, "R": 32, "S": 32, "P": 32},
    "quick": {"I": 64, "J": 64, "K": 64, "R": 16, "S": 16, "P": 16},
    "tiny": {"I": 8, "J": 8, "K": 8, "R": 4, "S": 4, "P": 4},
}


def _tucker_make(s: dict, rng: np.random.Generator) -> dict:
    i, j, k, r, q, p = (s[x] for x in ("I", "J", "K", "R", "S", "P"))
    return {"T": rng.standard_normal((i, j, k), dtype=F32), "U1": rng.standard_normal((i, r), dtype=F32),
            "U2": rng.standard_normal((j, q), dtype=F32), "U3": rng.standard_normal((k, p), dtype=F32)}  # fmt: skip


def _tucker_ref(inp: dict) -> np.ndarray:
    ops = [np.asarray(inp[x], np.float64) for x in ("T", "U1", "U2", "U3")]
    return np.einsum("ijk,ia,jb,kc->abc", *ops, optimize=True)


MPS_HEAD = ("(float(P,X1) A1, float(X1,P,X2) A2, float(X2,P,X3) A3, float(X3,P) A4, "
            "float(P,Y1) B1, float(Y1,P,Y2) B2, float(Y2,P,Y3) B3, float(Y3,P) B4) -> (z)")  # fmt: skip
MPS = _example("w09_tensor_networks.tc", "mps_overlap", "example_w09_one_statement") + _defs(
    MPS_HEAD, {
        "environments": "    E1(a,e) = sum(p: A1(p,a) * B1(p,e))\n"
                        "    E2(b,f) = sum(a, e, q: E1(a,e) * A2(a,q,b) * B2(e,q,f))\n"
                        "    E3(c,g) = sum(b, f, r: E2(b,f) * A3(b,r,c) * B3(f,r,g))\n"
                        "    z() = sum(c, g, s: E3(c,g) * A4(c,s) * B4(g,s))",
        "pairwise_steps": "    E1(a,e) = sum(p: A1(p,a) * B1(p,e))\n"
                          "    F1(e,q,b) = sum(a: E1(a,e) * A2(a,q,b))\n"
                          "    E2(b,f) = sum(e, q: F1(e,q,b) * B2(e,q,f))\n"
                          "    F2(f,r,c) = sum(b: E2(b,f) * A3(b,r,c))\n"
                          "    E3(c,g) = sum(f, r: F2(f,r,c) * B3(f,r,g))\n"
                          "    F3(g,s) = sum(c: E3(c,g) * A4(c,s))\n"
                          "    z() = sum(g, s: F3(g,s) * B4(g,s))",
    })  # fmt: skip
MPS_SIZES = {
    "full": {"P": 4, "X": 256},
    "quick": {"P": 4, "X": 96},
    "tiny": {"P": 2, "X": 8},
}
MPS_SHAPES = {"A1": "PX", "A2": "XPX", "A3": "XPX", "A4": "XP",
              "B1": "PX", "B2": "XPX", "B3": "XPX", "B4": "XP"}  # fmt: skip


def _mps_make(s: dict, rng: np.random.Generator) -> dict:
    return {n: (rng.standard_normal(tuple(s[c] for c in shape), dtype=F32) / np.sqrt(s["X"])).astype(F32)
            for n, shape in MPS_SHAPES.items()}  # fmt: skip


def _mps_ref(inp: dict) -> np.ndarray:
    ops = [np.asarray(inp[n], np.float64) for n in MPS_SHAPES]
    return np.asarray(np.einsum("pa,aqb,brc,cs,pe,eqf,frg,gs->", *ops, optimize=True))


# --- kernels -----------------------------------------------------------------------------------

RBF = _example("w07_gram.tc", "rbf_gram", "example_w07") + _defs("(float(N,D) x, float gamma) -> (k)", {
    "norms_temp": "    n(i) = sum(d: x(i,d) * x(i,d))\n"
                  "    k(i,j) = exp(-gamma * (n(i) + n(j) - 2.0 * sum(d: x(i,d) * x(j,d))))",
    "gram_temp": "    g(i,j) = sum(d: x(i,d) * x(j,d))\n"
                 "    k(i,j) = exp(-gamma * (g(i,i) + g(j,j) - 2.0 * g(i,j)))",
    "sqdist_temp": "    d2(i,j) = sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d)))\n"
                   "    k(i,j) = exp(-gamma * d2(i,j))",
})  # fmt: skip
RBF_SIZES = {"full": {"N": 4096, "D": 64}, "quick": {"N": 2048, "D": 32}, "tiny": {"N": 32, "D": 4}}


def _rbf_make(s: dict, rng: np.random.Generator) -> dict:
    return {"x": rng.random((s["N"], s["D"]), dtype=F32), "gamma": float(1 / s["D"])}


def _rbf_ref(inp: dict) -> np.ndarray:
    x = np.asarray(inp["x"], np.float64)
    n = (x * x).sum(1)
    return np.exp(-inp["gamma"] * np.maximum(n[:, None] + n[None] - 2 * x @ x.T, 0))


GEMM = _defs("(float(M,K) A, float(K,N) B) -> (C)", {
    "a_times_b": "    C(m,n) = sum(k: A(m,k) * B(k,n))",
    "b_times_a": "    C(m,n) = sum(k: B(k,n) * A(m,k))",
    "implicit": "    C(m,n) = A(m,k) * B(k,n)",
    "tc_reduction": "    C(m,n) +=! A(m,k) * B(k,n)",
})  # fmt: skip
GEMM_SIZES = {"full": {"M": 1024, "N": 1024, "K": 1024}, "quick": {"M": 512, "N": 512, "K": 512},
              "tiny": {"M": 16, "N": 24, "K": 8}}  # fmt: skip


def _gemm_make(s: dict, rng: np.random.Generator) -> dict:
    return {"A": rng.standard_normal((s["M"], s["K"]), dtype=F32),
            "B": rng.standard_normal((s["K"], s["N"]), dtype=F32)}  # fmt: skip


MMD = _example("w08_mmd.tc", "mmd2", "example_w08") + _defs(
    "(float(N,D) x, float(M,D) y, float gamma) -> (mmd)", {
        "row_sum_temps": "    rx(i) = sum(j: exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d)))))\n"
                         "    ry(i) = sum(j: exp(-gamma * sum(d: (y(i,d) - y(j,d)) * (y(i,d) - y(j,d)))))\n"
                         "    rxy(i) = sum(j: exp(-gamma * sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))))\n"
                         "    mmd = sum(i: rx(i)) / (N * N) + sum(i: ry(i)) / (M * M)"
                         " - 2 * sum(i: rxy(i)) / (N * M)",
    })  # fmt: skip
MMD_SIZES = {"full": {"N": 8192, "M": 8192, "D": 3}, "quick": {"N": 2048, "M": 2048, "D": 3},
             "tiny": {"N": 32, "M": 24, "D": 3}}  # fmt: skip


def _mmd_make(s: dict, rng: np.random.Generator) -> dict:
    return {"x": rng.random((s["N"], s["D"]), dtype=F32),
            "y": (rng.random((s["M"], s["D"]), dtype=F32) + 0.1).astype(F32), "gamma": 2.0}  # fmt: skip


def _mmd_ref(inp: dict) -> np.ndarray:
    x, y, g = np.asarray(inp["x"], np.float64), np.asarray(inp["y"], np.float64), inp["gamma"]

    def k(a, b):
        return np.exp(-g * ((a[:, None, :] - b[None]) ** 2).sum(-1)).sum()

    n, m = len(x), len(y)
    return np.asarray(k(x, x) / n / n + k(y, y) / m / m - 2 * k(x, y) / n / m)


def _scaled(sizes: dict, **extra) -> dict:
    return {k: {**v, **extra} for k, v in sizes.items()}


def families() -> list[Family]:
    qkv = ("q", "k", "v", "scale")
    return [
        Family("attention-full", ATTENTION_FULL, qkv, ATT_SIZES, _qkv, _attention_ref),
        Family("attention-causal", ATTENTION_CAUSAL, qkv, ATT_SIZES, _qkv, _causal_ref),
        Family("attention-window", ATTENTION_WINDOW, (*qkv, "W"), _scaled(ATT_SIZES, W=64),
               _window_make, _window_ref),
        Family("attention-alibi", ATTENTION_ALIBI, (*qkv, "slope"), ATT_SIZES,
               lambda s, rng: _qkv(s, rng) | {"slope": 2.0 ** -np.arange(1, s["H"] + 1, dtype=F32)},
               _alibi_ref, {"plain causal (no ALiBi)": _plain_causal}),
        Family("linear-attention", LINEAR, ("q", "k", "v"), ATT_SIZES, _linear_make, _linear_ref),
        Family("linear-attention-elu", LINEAR_ELU, ("q", "k", "v"), ATT_SIZES, _linear_make,
               _linear_elu_ref),
        Family("mlp", MLP, ("x", "W1", "b1", "W2", "b2"), MLP_SIZES, _mlp_make, _mlp_ref,
               {"numpy relu(x@W1+b1)@W2+b2": _mlp_numpy}),
        Family("tucker", TUCKER, ("T", "U1", "U2", "U3"), TUCKER_SIZES, _tucker_make, _tucker_ref),
        Family("mps", MPS, tuple(MPS_SHAPES), MPS_SIZES, _mps_make, _mps_ref),
        Family("rbf-gram", RBF, ("x", "gamma"), RBF_SIZES, _rbf_make, _rbf_ref),
        Family("gemm", GEMM, ("A", "B"), GEMM_SIZES, _gemm_make,
               lambda inp: np.asarray(inp["A"], np.float64) @ inp["B"]),
        Family("mmd", MMD, ("x", "y", "gamma"), MMD_SIZES, _mmd_make, _mmd_ref),
    ]  # fmt: skip
