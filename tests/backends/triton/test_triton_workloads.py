"""Hand-built LoopPrograms of the workloads (W1 kernel sum, argmin, kmin, logsumexp, causal
attention, matmul) run through the Triton backend under TRITON_INTERPRET=1, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from triton_loops import (
    C,
    Prog,
    V,
    add,
    assign,
    buf,
    call,
    local,
    loop,
    lt,
    mul,
    ploop,
    rd,
    run,
    sub,
)

from tensorc.ir import loop_ir as L

RNG = np.random.default_rng(0)
SIZES = (1, 7, 33)


def _sqdist(P: Prog, i, j, d_var="d", D="D"):
    """Body pieces: local d2 = sum_d (x[i,d] - y[j,d])^2."""
    diff = sub(P.ld("x", i, V(d_var)), P.ld("y", j, V(d_var)))
    return [
        local("d2", "float32", C(0.0)),
        loop(
            d_var, 0, V(D), assign("d2", add(rd("d2", "float32"), mul(diff, diff))), kind="reduce"
        ),
    ]


def _xy(n, m, d=3):
    return RNG.standard_normal((n, d)).astype(np.float32), RNG.standard_normal((m, d)).astype(
        np.float32
    )


def w1_prog() -> L.LoopProgram:
    """W1: for i parallel: acc = sum_j exp(-|x_i - y_j|^2 / (2 sigma^2)) * b[j, 0]."""
    P = Prog(
        buf("x", "float32", ["N", "D"], "input"),
        buf("y", "float32", ["M", "D"], "input"),
        buf("b", "float32", ["M", 1], "input"),
        buf("sigma", "float32", [], "scalar"),
        buf("out", "float32", ["N", 1], "output"),
        sizes=("N", "M", "D"),
    )
    i, j = V("i"), V("j")
    sigma = P.var("sigma")
    body = ploop(
        "i",
        0,
        V("N"),
        local("acc", "float32", C(0.0)),
        loop(
            "j",
            0,
            V("M"),
            *_sqdist(P, i, j),
            assign(
                "acc",
                add(
                    rd("acc", "float32"),
                    mul(
                        call(
                            "exp",
                            call(
                                "div",
                                call("neg", rd("d2", "float32")),
                                mul(mul(C(2.0), sigma), sigma),
                            ),
                        ),
                        P.ld("b", j, 0),
                    ),
                ),
            ),
            kind="reduce",
        ),
        P.st("out", i, 0, rd("acc", "float32")),
    )
    return P.program(body, name="gauss_ksum")


@pytest.mark.parametrize("n", SIZES)
def test_w1_gaussian_kernel_sum(n):
    m = 9
    x, y = _xy(n, m)
    b = RNG.standard_normal((m, 1)).astype(np.float32)
    out = run(w1_prog(), {"x": x, "y": y, "b": b, "sigma": 0.7}, {"N": n, "M": m, "D": 3})["out"]
    d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    ref = np.exp(-d2 / (2 * 0.7 * 0.7)) @ b
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def argmin_prog() -> L.LoopProgram:
    """W2: idx[i] = argmin_j |x_i - y_j|^2 with value/index locals and an If."""
    P = Prog(
        buf("x", "float32", ["N", "D"], "input"),
        buf("y", "float32", ["M", "D"], "input"),
        buf("idx", "int64", ["N"], "output"),
        sizes=("N", "M", "D"),
    )
    i, j = V("i"), V("j")
    d2 = rd("d2", "float32")
    body = ploop(
        "i",
        0,
        V("N"),
        local("best", "float32", C(float("inf"))),
        local("bi", "int64", C(-1)),
        loop(
            "j",
            0,
            V("M"),
            *_sqdist(P, i, j),
            L.If(lt(d2, rd("best", "float32")), (assign("best", d2), assign("bi", j))),
            kind="reduce",
        ),
        P.st("idx", i, rd("bi", "int64")),
    )
    return P.program(body, name="nn")


@pytest.mark.parametrize("n", SIZES)
def test_argmin_nearest_neighbour(n):
    x, y = _xy(n, 13)
    out = run(argmin_prog(), {"x": x, "y": y}, {"N": n, "M": 13, "D": 3})["idx"]
    ref = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("n", SIZES)
def test_kmin_local_array(n):
    K = 3
    P = Prog(
        buf("x", "float32", ["N", "D"], "input"),
        buf("y", "float32", ["M", "D"], "input"),
        buf("out", "float32", ["N", K], "output"),
        sizes=("N", "M", "D"),
    )
    i, j, k = V("i"), V("j"), V("k")
    cur, vals_k = rd("cur", "float32"), rd("vals", "float32", k)
    body = ploop(
        "i",
        0,
        V("N"),
        local("vals", "float32", C(float("inf")), shape=(C(K),)),
        loop(
            "j",
            0,
            V("M"),
            *_sqdist(P, i, j),
            local("cur", "float32", rd("d2", "float32")),
            loop(
                "k",
                0,
                K,
                L.Let("old", vals_k),
                L.If(
                    lt(cur, V("old", "float32")),
                    (assign("vals", cur, k), assign("cur", V("old", "float32"))),
                ),
            ),
            kind="reduce",
        ),
        loop("k", 0, K, P.st("out", i, k, vals_k)),
    )
    x, y = _xy(n, 11)
    out = run(P.program(body), {"x": x, "y": y}, {"N": n, "M": 11, "D": 3})["out"]
    ref = np.sort(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1), axis=1)[:, :K]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", SIZES)
def test_logsumexp_online(n):
    P = Prog(
        buf("x", "float32", ["N", "D"], "input"),
        buf("y", "float32", ["M", "D"], "input"),
        buf("g", "float32", ["M"], "input"),
        buf("f", "float32", ["N"], "output"),
        sizes=("N", "M", "D"),
    )
    i, j = V("i"), V("j")
    mx, s = rd("m", "float32"), rd("s", "float32")
    val = sub(P.ld("g", j), rd("d2", "float32"))
    mn = V("mn", "float32")
    body = ploop(
        "i",
        0,
        V("N"),
        local("m", "float32", C(float("-inf"))),
        local("s", "float32", C(0.0)),
        loop(
            "j",
            0,
            V("M"),
            *_sqdist(P, i, j),
            L.Let("v", val),
            L.Let("mn", call("max", mx, V("v", "float32"))),
            assign(
                "s", add(mul(s, call("exp", sub(mx, mn))), call("exp", sub(V("v", "float32"), mn)))
            ),
            assign("m", mn),
            kind="reduce",
        ),
        P.st("f", i, add(mx, call("log", s))),
    )
    x, y = _xy(n, 10)
    g = RNG.standard_normal(10).astype(np.float32)
    out = run(P.program(body), {"x": x, "y": y, "g": g}, {"N": n, "M": 10, "D": 3})["f"]
    v = g[None, :] - ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    ref = np.log(np.exp(v - v.max(1, keepdims=True)).sum(1)) + v.max(1)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def _attention_prog(E: int, dtype: str = "float32") -> L.LoopProgram:
    P = Prog(
        buf("q", dtype, ["N", "D"], "input"),
        buf("k", dtype, ["N", "D"], "input"),
        buf("v", dtype, ["N", E], "input"),
        buf("scale", "float32", [], "scalar"),
        buf("o", dtype, ["N", E], "output"),
        sizes=("N", "D"),
    )
    i, j, d, e = V("i"), V("j"), V("d"), V("e")
    f32 = "float32"
    mx, l_, s = rd("m", f32), rd("l", f32), rd("s", f32)
    qd = call("cast", P.ld("q", i, d), dtype=f32)
    kd = call("cast", P.ld("k", j, d), dtype=f32)
    ve = call("cast", P.ld("v", j, e), dtype=f32)
    mn, alpha, p = V("mn", f32), V("alpha", f32), V("p", f32)
    body = ploop(
        "i",
        0,
        V("N"),
        local("m", f32, C(float("-inf"))),
        local("l", f32, C(0.0)),
        local("acc", f32, C(0.0), shape=(C(E),)),
        loop(
            "j",
            0,
            add(i, 1),  # causal: j <= i, a bound that differs per lane
            local("s", f32, C(0.0)),
            loop("d", 0, V("D"), assign("s", add(s, mul(qd, kd))), kind="reduce"),
            assign("s", mul(s, P.var("scale"))),
            L.Let("mn", call("max", mx, s)),
            L.Let("alpha", call("exp", sub(mx, mn))),
            L.Let("p", call("exp", sub(s, mn))),
            assign("l", add(mul(l_, alpha), p)),
            loop("e", 0, E, assign("acc", add(mul(rd("acc", f32, e), alpha), mul(p, ve)), e)),
            assign("m", mn),
            kind="reduce",
        ),
        loop(
            "e",
            0,
            E,
            P.st("o", i, e, call("cast", call("div", rd("acc", f32, e), l_), dtype=dtype)),
        ),
    )
    return P.program(body, name="attention")


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_attention_causal_online_softmax(n, dtype):
    D, E, scale = 4, 5, 0.5
    q, k = (RNG.standard_normal((n, D)).astype(dtype) for _ in range(2))
    v = RNG.standard_normal((n, E)).astype(dtype)
    out = run(
        _attention_prog(E, dtype), {"q": q, "k": k, "v": v, "scale": scale}, {"N": n, "D": D}
    )["o"]
    s = (q.astype(np.float64) @ k.T.astype(np.float64)) * scale
    s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
    p = np.exp(s - s.max(1, keepdims=True))
    ref = (p / p.sum(1, keepdims=True)) @ v.astype(np.float64)
    tol = 1e-5 if dtype == "float32" else 2e-3
    np.testing.assert_allclose(out.astype(np.float64), ref, rtol=tol, atol=tol)


def _matmul_buffers(dtype="float32", out_dtype="float32"):
    return Prog(
        buf("A", dtype, ["M", "K"], "input"),
        buf("B", dtype, ["K", "N"], "input"),
        buf("Cm", out_dtype, ["M", "N"], "output"),
        sizes=("M", "N", "K"),
    )


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (33, 17, 40)])
def test_matmul_plain_loops(shape):
    P = _matmul_buffers()
    m, n, k = V("m"), V("n"), V("k")
    acc = rd("acc", "float32")
    body = ploop(
        "m",
        0,
        V("M"),
        ploop(
            "n",
            0,
            V("N"),
            local("acc", "float32", C(0.0)),
            loop(
                "k",
                0,
                V("K"),
                assign("acc", add(acc, mul(P.ld("A", m, k), P.ld("B", k, n)))),
                kind="reduce",
            ),
            P.st("Cm", m, n, acc),
        ),
    )
    M, N, K = shape
    a = RNG.standard_normal((M, K)).astype(np.float32)
    b = RNG.standard_normal((K, N)).astype(np.float32)
    out = run(P.program(body), {"A": a, "B": b}, {"M": M, "N": N, "K": K})["Cm"]
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)


def _gemm(M, N, K, accumulate=False, alpha=1.0, c_off=None, a_off=None, m=None):
    c_off = C(0) if c_off is None else c_off
    a_off = C(0) if a_off is None else a_off
    return L.Gemm(
        c=L.Operand("Cm", c_off, (C(0), N, C(1))),
        a=L.Operand("A", a_off, (C(0), K, C(1))),
        b=L.Operand("B", C(0), (C(0), N, C(1))),
        batch=C(1),
        m=M if m is None else m,
        n=N,
        k=K,
        alpha=C(alpha),
        accumulate=accumulate,
        dtype="float32",
    )


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int32"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (33, 40, 37)])
def test_gemm_node(shape, dtype):
    out_dtype = "float64" if dtype == "float64" else "float32"
    P = _matmul_buffers(dtype, out_dtype)
    g = _gemm(V("M"), V("N"), V("K"), alpha=0.5)
    if dtype == "float64":
        g = L.Gemm(**{**{f: getattr(g, f) for f in g.__dataclass_fields__}, "dtype": "float64"})
    M, N, K = shape
    a = RNG.integers(-3, 4, (M, K)).astype(dtype)
    b = RNG.integers(-3, 4, (K, N)).astype(dtype)
    out = run(P.program(g), {"A": a, "B": b}, {"M": M, "N": N, "K": K})["Cm"]
    np.testing.assert_allclose(out, 0.5 * (a.astype(np.float64) @ b), rtol=1e-6)


def test_gemm_inside_parallel_tile_loop_accumulate():
    """Row tiles of 16 as a parallel loop, each a Gemm on a view; accumulate into C."""
    P = _matmul_buffers()
    M, N, K = V("M"), V("N"), V("K")
    i0 = V("i0")
    g = _gemm(
        M,
        N,
        K,
        accumulate=True,
        c_off=mul(i0, N),
        a_off=mul(i0, K),
        m=call("min", C(16), sub(M, i0)),
    )
    body = ploop("i0", 0, M, g, step=16)
    a = RNG.standard_normal((37, 9)).astype(np.float32)
    b = RNG.standard_normal((9, 6)).astype(np.float32)
    # accumulate=True adds into C, which the runtime zero-fills: run twice would double
    out = run(P.program(body), {"A": a, "B": b}, {"M": 37, "N": 6, "K": 9})["Cm"]
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
