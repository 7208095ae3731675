"""Loop structure, locals, control flow, the workloads, Gemm and threads, against numpy."""

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
    if_,
    kernel,
    ld,
    let,
    local,
    loop,
    lr,
    mul,
    program,
    store,
    vector_lanes,
)
from tensorc.backends.llvm.backend import BACKEND, CpuExecutable
from tensorc.backends.llvm.build import optimized_ir
from workloads import (
    gauss_ksum,
    gauss_ksum_ref,
    gemm_program,
    matmul_loops,
    nn_argmin,
    online_softmax_attention,
)

F32 = "float32"


def run(prog, buffers, sizes, threads=2):
    exe = BACKEND.compile(prog, {"threads": threads})
    exe(buffers, sizes)
    return exe


@pytest.mark.parametrize("n", [1, 7, 1023])
@pytest.mark.parametrize("kind", ["serial", "parallel", "vector"])
def test_sizes_and_kinds(n, kind):
    prog = program("axpy", [buf("x", F32, ("N",)), buf("a", F32, (), "scalar")],
                   [buf("y", F32, ("N",), "output")], ["N"],
                   [loop("i", 0, V("N"), [store("y", [V("i")], add(mul(V("a", F32),
                                                                      ld("x", [V("i")])), c(1.0)))],
                         kind=kind)])
    x = np.arange(n, dtype=np.float32)
    y = np.zeros(n, np.float32)
    run(prog, {"x": x, "a": 2.5, "y": y}, {"N": n})
    np.testing.assert_array_equal(y, 2.5 * x + 1)


@pytest.mark.parametrize("n", [1, 7, 64, 1023])
def test_tiled_loop_with_remainder(n):
    """for i0 in 0:N step 64 (parallel): for i in i0:min(i0+64, N) (vector)."""
    i0, i = V("i0"), V("i")
    inner = loop("i", i0, call("min", add(i0, c(64)), V("N")),
                 [store("y", [i], mul(ld("x", [i]), ld("x", [i])))], kind="vector")
    prog = program("sq", [buf("x", F32, ("N",))], [buf("y", F32, ("N",), "output")], ["N"],
                   [loop("i0", 0, V("N"), [inner], kind="parallel", step=64)])
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    y = np.zeros_like(x)
    run(prog, {"x": x, "y": y}, {"N": n})
    np.testing.assert_array_equal(y, x * x)


def test_array_local_with_symbolic_shape_and_if_else():
    """Row-wise: tmp[E] = x[i, :] * 2; out[i, e] = tmp[e] if tmp[e] > 0 else -1; plus a row sum."""
    i, e = V("i"), V("e")
    body = [loop("i", 0, V("N"), [
        local("tmp", F32, (V("E"),), 0.0),
        local("s", F32, (), 0.0),
        loop("e", 0, V("E"), [assign("tmp", (e,), mul(ld("x", [i, e]), c(2.0)))], kind="vector"),
        loop("e", 0, V("E"), [
            if_(call("gt", lr("tmp", (e,)), c(0.0)),
                [store("out", [i, e], lr("tmp", (e,))),
                 assign("s", (), add(lr("s"), lr("tmp", (e,))))],
                [store("out", [i, e], c(-1.0))]),
        ], kind="reduce"),
        store("rs", [i], lr("s")),
    ], kind="parallel")]
    prog = program("rows", [buf("x", F32, ("N", "E"))],
                   [buf("out", F32, ("N", "E"), "output"), buf("rs", F32, ("N",), "output")],
                   ["N", "E"], body)
    x = np.random.default_rng(1).standard_normal((13, 7)).astype(np.float32)
    out, rs = np.zeros_like(x), np.zeros(13, np.float32)
    run(prog, {"x": x, "out": out, "rs": rs}, {"N": 13, "E": 7})
    t = 2 * x
    np.testing.assert_array_equal(out, np.where(t > 0, t, -1))
    np.testing.assert_allclose(rs, np.where(t > 0, t, 0).sum(1), rtol=1e-6)


def test_multi_kernel_with_temp_int_gather_and_let():
    """k0: tmp[i] = x[idx[i]] * 3 (int32 gather); k1 (serial, single-threaded): prefix sum."""
    i = V("i")
    bx, bidx = buf("x", F32, ("M",)), buf("idx", "int32", ("N",))
    btmp, bout = buf("tmp", F32, ("N",), "temp"), buf("out", F32, ("N",), "output")
    k0 = kernel("gather", [bx, bidx, btmp], ["N", "M"], [loop("i", 0, V("N"), [
        let("j", ld("idx", [i], "int32")),
        store("tmp", [i], mul(ld("x", [V("j", "int32")]), c(3.0)))], kind="parallel")])
    k1 = kernel("scan", [btmp, bout], ["N"], [
        local("acc", F32, (), 0.0),
        loop("i", 0, V("N"), [assign("acc", (), add(lr("acc"), ld("tmp", [i]))),
                              store("out", [i], lr("acc"))])])
    prog = program("two", [bx, bidx], [bout], ["N", "M"], [], temps=[btmp], kernels=[k0, k1])
    rng = np.random.default_rng(2)
    x = rng.standard_normal(50).astype(np.float32)
    idx = rng.integers(0, 50, 33).astype(np.int32)
    tmp, out = np.zeros(33, np.float32), np.zeros(33, np.float32)
    run(prog, {"x": x, "idx": idx, "tmp": tmp, "out": out}, {"N": 33, "M": 50})
    np.testing.assert_allclose(out, np.cumsum(x[idx] * 3, dtype=np.float32), rtol=1e-5)


@pytest.mark.parametrize("unrolled", [False, True])
def test_gauss_ksum_w1(unrolled):
    rng = np.random.default_rng(3)
    n, m = 1023, 517
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = rng.standard_normal((m, 3)).astype(np.float32)
    b = rng.standard_normal((m, 1)).astype(np.float32)
    out = np.zeros((n, 1), np.float32)
    run(gauss_ksum(3, unrolled=unrolled), {"x": x, "y": y, "b": b, "sigma": np.float32(0.8),
                                           "out": out}, {"N": n, "M": m, "D": 3})
    np.testing.assert_allclose(out, gauss_ksum_ref(x, y, b, 0.8), rtol=1e-4, atol=1e-4)


def test_gauss_ksum_symbolic_d_and_vectorised_reduction():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((9, 5)).astype(np.float32)
    y = rng.standard_normal((31, 5)).astype(np.float32)
    b = rng.standard_normal((31, 1)).astype(np.float32)
    out = np.zeros((9, 1), np.float32)
    run(gauss_ksum(None), {"x": x, "y": y, "b": b, "sigma": np.float32(1.3), "out": out},
        {"N": 9, "M": 31, "D": 5})
    np.testing.assert_allclose(out, gauss_ksum_ref(x, y, b, 1.3), rtol=1e-5, atol=1e-5)
    text = optimized_ir(BACKEND.render(gauss_ksum(3)))
    assert vector_lanes(text) >= 4 and "llvm.vector.reduce.fadd" in text


def test_argmin_pairs_ties_go_to_smallest_index():
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, (40, 2)).astype(np.float32)
    y = rng.integers(-2, 3, (70, 2)).astype(np.float32)  # many exact ties
    idx = np.zeros(40, np.int64)
    run(nn_argmin(), {"x": x, "y": y, "idx": idx}, {"N": 40, "M": 70, "D": 2})
    d2 = ((x[:, None, :] - y[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(idx, d2.argmin(1))


@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_online_softmax_attention_is_stable(scale):
    rng = np.random.default_rng(6)
    n, d, e = 37, 8, 5
    q = rng.standard_normal((n, d)).astype(np.float32)
    k = rng.standard_normal((n, d)).astype(np.float32)
    v = rng.standard_normal((n, e)).astype(np.float32)
    o = np.zeros((n, e), np.float32)
    run(online_softmax_attention(), {"q": q, "k": k, "v": v, "scale": np.float32(scale), "o": o},
        {"N": n, "M": n, "D": d, "E": e})
    s = (q.astype(np.float64) @ k.T.astype(np.float64)) * scale
    s[np.triu_indices(n, 1)] = -np.inf
    p = np.exp(s - s.max(1, keepdims=True))
    ref = (p / p.sum(1, keepdims=True)) @ v
    assert np.isfinite(o).all()
    np.testing.assert_allclose(o, ref, rtol=1e-4, atol=1e-4 if scale == 1 else 2e-3)


def test_matmul_loops_and_threads_deterministic():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((67, 45)).astype(np.float32)
    b = rng.standard_normal((45, 31)).astype(np.float32)
    outs = []
    for threads in (1, 2, 2):
        cc = np.zeros((67, 31), np.float32)
        run(matmul_loops(), {"A": a, "B": b, "C": cc}, {"M": 67, "N": 31, "K": 45},
            threads=threads)
        outs.append(cc)
    np.testing.assert_allclose(outs[0], a @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(outs[1], outs[2])
    np.testing.assert_array_equal(outs[0], outs[1])


def test_torch_tensors_without_copies():
    torch = pytest.importorskip("torch")
    prog = program("neg", [buf("x", F32, ("N",))], [buf("y", F32, ("N",), "output")], ["N"],
                   [loop("i", 0, V("N"), [store("y", [V("i")], call("neg", ld("x", [V("i")])))],
                         kind="parallel")])
    x = torch.randn(100)
    y = torch.zeros(100)
    run(prog, {"x": x, "y": y}, {"N": 100})
    assert torch.equal(y, -x)


def test_static_sizes_are_constants():
    prog = gauss_ksum(3)
    text = BACKEND.render(prog)
    assert "size.D" in text  # still a parameter (the calling convention does not change)
    assert isinstance(BACKEND.load(BACKEND.build(text, prog), prog), CpuExecutable)


# --- Gemm --------------------------------------------------------------------------------------
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 33, 129), (33, 7, 1), (129, 129, 300),
                                   (13, 300, 17)])
@pytest.mark.parametrize("trans", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_f32_odd_sizes_and_strides(m, n, k, trans):
    rng = np.random.default_rng(m * 1000 + n + k)
    ta, tb = trans
    a = rng.standard_normal((1, k, m) if ta else (1, m, k)).astype(np.float32)
    b = rng.standard_normal((1, n, k) if tb else (1, k, n)).astype(np.float32)
    cc = np.zeros((1, m, n), np.float32)
    run(gemm_program(m, n, k, trans_a=ta, trans_b=tb), {"A": a, "B": b, "C": cc}, {})
    ref = np.matmul(a.transpose(0, 2, 1) if ta else a, b.transpose(0, 2, 1) if tb else b)
    np.testing.assert_allclose(cc, ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16", "int32"])
def test_gemm_dtypes_batch_alpha_accumulate(dtype):
    from test_ops import bf16_value, to_mem

    rng = np.random.default_rng(11)
    bt, m, n, k = 3, 19, 21, 37
    vals_a = rng.integers(-3, 4, (bt, m, k)).astype(np.float64)
    vals_b = rng.integers(-3, 4, (bt, k, n)).astype(np.float64)
    a, b = to_mem(vals_a, dtype), to_mem(vals_b, dtype)
    c0 = to_mem(np.ones((bt, m, n)), dtype)
    prog = gemm_program(m, n, k, batch=bt, dtype=dtype, accumulate=True,
                        alpha=2 if dtype == "int32" else 0.5)
    run(prog, {"A": a, "B": b, "C": c0}, {})
    got = bf16_value(c0) if dtype == "bfloat16" else c0.astype(np.float64)
    alpha = 2 if dtype == "int32" else 0.5
    ref = 1 + alpha * np.matmul(vals_a, vals_b)
    if dtype == "bfloat16":
        ref = bf16_value(to_mem(ref.astype(np.float32), "bfloat16"))
    np.testing.assert_array_equal(got, ref)


def test_gemm_zero_k_overwrites_and_parallel_tiles_match_threads():
    cc = np.full((1, 5, 4), 7.0, np.float32)
    run(gemm_program(5, 4, 0), {"A": np.zeros((1, 5, 0), np.float32),
                                "B": np.zeros((1, 0, 4), np.float32), "C": cc}, {})
    assert not cc.any()
    rng = np.random.default_rng(12)
    a = rng.standard_normal((1, 100, 70)).astype(np.float32)
    b = rng.standard_normal((1, 70, 90)).astype(np.float32)
    results = []
    for threads, tiles in ((1, None), (2, None), (2, 24)):
        cc = np.zeros((1, 100, 90), np.float32)
        run(gemm_program(100, 90, 70, parallel_tiles=tiles), {"A": a, "B": b, "C": cc}, {},
            threads=threads)
        results.append(cc)
    np.testing.assert_allclose(results[0], a @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
