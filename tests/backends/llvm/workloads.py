"""Hand-built LoopPrograms of the workloads (what the lowering is expected to produce)."""

from __future__ import annotations

from loopbuild import (
    V,
    add,
    assign,
    buf,
    c,
    call,
    if_,
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

F32 = "float32"


def gauss_ksum(D: int | None = 3, dtype: str = F32, unrolled: bool = False):
    """W1: out[i, 0] = sum_j exp(-|x_i - y_j|^2 / (2 s^2)) * b[j, 0] (streaming, never N x M).

    D=None keeps D symbolic; `unrolled` writes the d-sum as one expression.
    """
    dd = "D"
    i, j = V("i"), V("j")
    if unrolled:
        terms = [mul(sub(ld("x", [i, d], dtype), ld("y", [j, d], dtype)),
                     sub(ld("x", [i, d], dtype), ld("y", [j, d], dtype))) for d in range(D)]
        t = terms[0]
        for term in terms[1:]:
            t = add(t, term)
        dist = [let("t", t)]
        tval = V("t", dtype)
    else:
        diff = sub(ld("x", [i, V("d")], dtype), ld("y", [j, V("d")], dtype))
        dist = [local("t", dtype, (), 0.0),
                loop("d", 0, V(dd), [assign("t", (), add(lr("t", (), dtype), mul(diff, diff)))],
                     kind="reduce")]
        tval = lr("t", (), dtype)
    s = V("sigma", dtype)
    k = call("exp", call("div", call("neg", tval), mul(mul(c(2.0, dtype), s), s)))
    body = [loop("i", 0, V("N"), [
        local("acc", dtype, (), 0.0),
        loop("j", 0, V("M"), [*dist, assign("acc", (), add(lr("acc", (), dtype),
                                                           mul(k, ld("b", [j, 0], dtype))))],
             kind="reduce"),
        store("out", [i, 0], lr("acc", (), dtype)),
    ], kind="parallel")]
    ins = [buf("x", dtype, ("N", dd)), buf("y", dtype, ("M", dd)), buf("b", dtype, ("M", 1)),
           buf("sigma", dtype, (), "scalar")]
    return program("gauss_ksum", ins, [buf("out", dtype, ("N", 1), "output")], ["N", "M", dd], body,
                   static_sizes=() if D is None else (("D", D),))


def gauss_ksum_ref(x, y, b, sigma):
    d2 = ((x[:, None, :].astype("f8") - y[None, :, :]) ** 2).sum(-1)
    import numpy as np

    return np.exp(-d2 / (2 * float(sigma) ** 2)) @ b.astype("f8")


def nn_argmin(dtype: str = F32):
    """W2: idx[i] = argmin_j |x_i - y_j|^2 with a (value, index) pair of locals."""
    i, j = V("i"), V("j")
    diff = sub(ld("x", [i, V("d")], dtype), ld("y", [j, V("d")], dtype))
    body = [loop("i", 0, V("N"), [
        local("best", dtype, (), float("inf")),
        local("bi", "int64", (), c(-1)),
        loop("j", 0, V("M"), [
            local("t", dtype, (), 0.0),
            loop("d", 0, V("D"), [assign("t", (), add(lr("t", (), dtype), mul(diff, diff)))],
                 kind="reduce"),
            if_(call("lt", lr("t", (), dtype), lr("best", (), dtype)),
                [assign("best", (), lr("t", (), dtype)), assign("bi", (), j)]),
        ], kind="reduce"),
        store("idx", [i], lr("bi", (), "int64")),
    ], kind="parallel")]
    ins = [buf("x", dtype, ("N", "D")), buf("y", dtype, ("M", "D"))]
    return program("nn", ins, [buf("idx", "int64", ("N",), "output")], ["N", "M", "D"], body)


def online_softmax_attention(dtype: str = F32, causal: bool = True):
    """W4 (one head): o[i, :] = softmax_j(q_i . k_j * scale) v[j, :] with j <= i, one pass over j.

    Locals: running max m, running sum l, accumulator row acc[E] (symbolic shape).
    """
    i, j, e = V("i"), V("j"), V("e")
    s = V("s", dtype)
    body = [loop("i", 0, V("N"), [
        local("m", dtype, (), float("-inf")),
        local("l", dtype, (), 0.0),
        local("acc", dtype, (V("E"),), 0.0),
        loop("j", 0, add(i, c(1)) if causal else V("M"), [
            local("dot", dtype, (), 0.0),
            loop("d", 0, V("D"), [assign("dot", (), add(lr("dot", (), dtype),
                                                         mul(ld("q", [i, V("d")], dtype),
                                                             ld("k", [j, V("d")], dtype))))],
                 kind="reduce"),
            let("s", mul(lr("dot", (), dtype), V("scale", dtype))),
            let("mnew", call("max", lr("m", (), dtype), s)),
            let("alpha", call("exp", sub(lr("m", (), dtype), V("mnew", dtype)))),
            let("p", call("exp", sub(s, V("mnew", dtype)))),
            assign("l", (), add(mul(lr("l", (), dtype), V("alpha", dtype)), V("p", dtype))),
            loop("e", 0, V("E"), [assign("acc", (e,), add(mul(lr("acc", (e,), dtype),
                                                              V("alpha", dtype)),
                                                          mul(V("p", dtype),
                                                              ld("v", [j, e], dtype))))],
                 kind="vector"),
            assign("m", (), V("mnew", dtype)),
        ], kind="serial"),
        loop("e", 0, V("E"), [store("o", [i, e], call("div", lr("acc", (e,), dtype),
                                                       lr("l", (), dtype)))], kind="vector"),
    ], kind="parallel")]
    ins = [buf("q", dtype, ("N", "D")), buf("k", dtype, ("M", "D")), buf("v", dtype, ("M", "E")),
           buf("scale", dtype, (), "scalar")]
    return program("attention", ins, [buf("o", dtype, ("N", "E"), "output")],
                   ["N", "M", "D", "E"], body)


def matmul_loops(dtype: str = F32):
    """C[m, n] = sum_k A[m, k] B[k, n] as plain loops (i parallel, k serial, n vector)."""
    i, k, n = V("i"), V("k"), V("n")
    body = [loop("i", 0, V("M"), [
        loop("n", 0, V("N"), [store("C", [i, n], c(0.0, dtype))], kind="vector"),
        loop("k", 0, V("K"), [
            let("a", ld("A", [i, k], dtype)),
            loop("n", 0, V("N"), [store("C", [i, n], add(ld("C", [i, n], dtype),
                                                         mul(V("a", dtype), ld("B", [k, n], dtype))))],
                 kind="vector"),
        ]),
    ], kind="parallel")]
    ins = [buf("A", dtype, ("M", "K")), buf("B", dtype, ("K", "N"))]
    return program("matmul", ins, [buf("C", dtype, ("M", "N"), "output")], ["M", "N", "K"], body)






def gemm_program(M, N, K, batch=1, dtype=F32, compute=None, trans_a=False, trans_b=False,
                 accumulate=False, alpha=1.0, parallel_tiles=None, cdtype=None):
    """C[b] (+)= alpha * op(A[b]) @ op(B[b]) as one `Gemm` (optionally inside a parallel row-tile
    loop of `parallel_tiles` rows). A is stored (batch, K, M) when `trans_a`, B (batch, N, K) when
    `trans_b`; sizes are static ints here (symbolic sizes are covered elsewhere)."""
    import sympy

    from tensorc.ir import loop_ir as L

    compute = compute or ("float32" if dtype in ("float16", "bfloat16") else dtype)
    cdtype = cdtype or dtype
    a_shape = (batch, K, M) if trans_a else (batch, M, K)
    b_shape = (batch, N, K) if trans_b else (batch, K, N)
    a_str = (M * K, 1, M) if trans_a else (M * K, K, 1)
    b_str = (K * N, 1, K) if trans_b else (K * N, N, 1)
    c = lambda v: L.Const(v, "int64")
    row0 = V("i0") if parallel_tiles else c(0)
    rows = call("min", c(parallel_tiles), sub(c(M), V("i0"))) if parallel_tiles else c(M)
    a_off = call("mul", row0, c(a_str[1])) if parallel_tiles else c(0)
    g = L.Gemm(
        c=L.Operand("C", call("mul", row0, c(N)) if parallel_tiles else c(0), (c(M * N), c(N), c(1))),
        a=L.Operand("A", a_off, tuple(c(s) for s in a_str)),
        b=L.Operand("B", c(0), tuple(c(s) for s in b_str)),
        batch=c(batch), m=rows, n=c(N), k=c(K), alpha=L.Const(alpha, compute),
        accumulate=accumulate, dtype=compute)
    body = [loop("i0", 0, c(M), [g], kind="parallel", step=parallel_tiles)] if parallel_tiles \
        else [g]
    ins = [buf("A", dtype, a_shape), buf("B", dtype, b_shape)]
    del sympy
    return program("gemm", ins, [buf("C", cdtype, (batch, M, N), "output")], [], body)
