"""The workload suite as benchmark cases (LANGUAGE.md §7), one constructor per workload.

Each constructor takes its sizes ({"full", "quick", "tiny"} -> size dict) and the target, and
attaches the comparators a user of that target would reach for. `cpu_cases()` lists the CPU suite;
the GPU suite is in `cases_gpu.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks import comparators as C
from benchmarks import fused, references, sources
from benchmarks.spec import Case, Check, Impl, Metric, Sizes, allclose

F32 = np.float32

# ----------------------------------------------------------------------------------------------
# metrics


def pairs_metric(target: str, work=lambda s: s["N"] * s["M"]) -> Metric:
    return Metric("T pairs/s", work, 1e12) if target == "gpu" else Metric("G pairs/s", work, 1e9)


def flops_metric(target: str, work) -> Metric:
    return Metric("TFLOP/s", work, 1e12) if target == "gpu" else Metric("GFLOP/s", work, 1e9)


def device_dtype(T: str) -> str | None:
    """The torch dtype of a case's float inputs on the device for element type T (None: fp32)."""
    return None if T == "float" else {"half": "float16"}.get(T, T)


def tolerance(T: str, fp32: Callable) -> Callable:
    """`fp32` for float cases; half/bf16 cases compare at 2e-2 / 1e-2."""
    return fp32 if T == "float" else allclose(2e-2, 1e-2)


def dense_bytes(factor: float, *dims: str):
    """A dense comparator's extra memory: factor * prod(sizes) float32 elements."""

    def mem(s: Sizes) -> int:
        return int(factor * 4 * np.prod([float(s[d]) for d in dims]))

    return mem


# ----------------------------------------------------------------------------------------------
# kernel sums (W1, W2, W3, W8): points in the unit cube, bandwidth scaled with sqrt(D)


def _points(s: Sizes, rng: np.random.Generator) -> dict:
    return {
        "x": rng.random((s["N"], s["D"]), dtype=F32),
        "y": rng.random((s["M"], s["D"]), dtype=F32),
    }


def ksum_case(
    name: str, sizes: dict[str, Sizes], target: str, memory: bool = False, T: str = "float"
) -> Case:
    def make(s: Sizes, rng: np.random.Generator) -> dict:
        # positive weights: the check then measures rounding, not cancellation
        return {
            **_points(s, rng),
            "b": rng.random((s["M"], s["E"]), dtype=F32),
            "sigma": 0.25 * float(np.sqrt(s["D"] / 3)),
        }

    args = ("x", "y", "b", "sigma")
    impls: list[Impl] = []
    if target == "cpu":
        impls += [
            C.numpy_impl(
                "numpy",
                C.np_ksum,
                args,
                "dense N x M via one GEMM, exp, GEMV",
                dense_bytes(1, "N", "M"),
            ),
            C.torch_impl("torch", C.th_ksum, args, "exp(-cdist^2) @ b", dense_bytes(2, "N", "M")),
            fused.numba_ksum(),
        ]
    else:
        impls.append(
            C.torch_impl(
                "torch (chunked)",
                C.th_ksum_chunked,
                args,
                "exp(-cdist^2) @ b over 1 GiB row blocks",
            )
        )
    impls.append(fused.keops_ksum())
    return Case(
        name,
        "W1",
        "Gaussian kernel sum" + (" (memory)" if memory else ""),
        sizes,
        make,
        sources.tc(sources.GAUSS_KSUM, T),
        "gauss_ksum",
        args,
        tuple(impls),
        Check(references.ksum, allclose(1e-3, 1e-4), rows=("N", 0)),
        pairs_metric(target),
        memory=memory,
        device_dtype=device_dtype(T),
    )


def _pairwise_case(name: str, title: str, sizes: dict[str, Sizes], make, source: str,
                   entry: str, args: tuple[str, ...], dense: tuple, fused_impls: tuple[Impl, ...],
                   check: Check, work=lambda s: s["N"] * s["M"]) -> Case:
    """A CPU reduction over point pairs (W2, W3, W8) against numpy and torch (`dense`: per library
    (function, note, memory)), then the fused numba / pykeops versions."""
    (np_fn, np_note, np_mem), (th_fn, th_note, th_mem) = dense
    impls = (
        C.numpy_impl("numpy", np_fn, args, np_note, np_mem),
        C.torch_impl("torch", th_fn, args, th_note, th_mem),
        *fused_impls,
    )
    workload = name.split("-")[0]
    return Case(name, workload, title, sizes, make, sources.tc(source), entry, args, impls, check,
                pairs_metric("cpu", work))


def nn_case(sizes: dict[str, Sizes]) -> Case:
    dense = (
        (C.np_nn, "argmin of the dense N x M distances", dense_bytes(1, "N", "M")),
        (C.th_nn, "cdist(x, y).argmin(1)", dense_bytes(1, "N", "M")),
    )
    check = Check(references.nn_distances, references.compare_argmin, rows=("N", 0))
    return _pairwise_case("W2-nn", "nearest neighbour (argmin)", sizes, _points, sources.NN, "nn",
                          ("x", "y"), dense, (fused.numba_nn(), fused.keops_nn()), check)


def softmin_case(sizes: dict[str, Sizes]) -> Case:
    def make(s: Sizes, rng: np.random.Generator) -> dict:
        return {
            **_points(s, rng),
            "g": 0.1 * rng.random(s["M"], dtype=F32),
            "eps": 0.1 * s["D"] / 3,
        }

    dense = (
        (C.np_softmin, "dense N x M, stable logsumexp", dense_bytes(1, "N", "M")),
        (C.th_softmin, "torch.logsumexp over cdist^2", dense_bytes(2, "N", "M")),
    )
    check = Check(references.softmin, allclose(1e-3, 1e-4), rows=("N", 0))
    return _pairwise_case("W3-softmin", "log-domain Sinkhorn step (logsumexp)", sizes, make,
                          sources.SOFTMIN, "softmin", ("x", "y", "g", "eps"), dense,
                          (fused.numba_softmin(), fused.keops_softmin()), check)


def mmd_case(sizes: dict[str, Sizes]) -> Case:
    def make(s: Sizes, rng: np.random.Generator) -> dict:
        p = _points(s, rng)
        p["y"] = 0.8 * p["y"] + 0.3  # a shifted sample: MMD^2 well away from 0
        return {**p, "gamma": 8.0 * 3 / s["D"]}

    dense = (
        (C.np_mmd, "three dense kernel matrices, mean", dense_bytes(1, "N", "N")),
        (C.th_mmd, "exp(-gamma cdist^2).mean() x 3", dense_bytes(2, "N", "N")),
    )
    check = Check(references.mmd, allclose(1e-3, 1e-3))
    return _pairwise_case("W8-mmd", "MMD^2 (three kernel sums to a scalar)", sizes, make,
                          sources.MMD, "mmd2", ("x", "y", "gamma"), dense,
                          (fused.numba_mmd(), fused.keops_mmd()), check,
                          work=lambda s: s["N"] ** 2 + s["M"] ** 2 + s["N"] * s["M"])


# ----------------------------------------------------------------------------------------------
# attention (W4, W5, W6)


def _qkv(s: Sizes, rng: np.random.Generator) -> dict:
    shape = (s["B"], s["H"], s["N"], s["D"])
    return {n: rng.standard_normal(shape, dtype=F32) for n in ("q", "k", "v")} | {
        "scale": 1.0 / float(np.sqrt(s["D"]))
    }


def attention_case(
    sizes: dict[str, Sizes], target: str, causal: bool, T: str = "float", name: str | None = None
) -> Case:
    def make(s: Sizes, rng: np.random.Generator) -> dict:
        inp = _qkv(s, rng)
        if causal:
            inp["mask"] = np.tril(np.ones((s["N"], s["N"]), bool))
        return inp

    args = ("q", "k", "v", "scale")
    margs = args + (("mask",) if causal else ())
    impls: list[Impl] = []
    if target == "cpu":
        impls.append(
            C.numpy_impl(
                "numpy",
                C.np_attention,
                margs,
                "dense softmax(QK^T)V",
                dense_bytes(2, "B", "H", "N", "N"),
            )
        )
    impls.append(
        C.torch_impl(
            "torch",
            C.th_attention,
            margs,
            "eager matmul-softmax-matmul",
            dense_bytes(3, "B", "H", "N", "N"),
        )
    )
    sdpa = C.th_sdpa_causal if causal else C.th_sdpa
    if target == "cpu":
        impls.append(C.torch_impl("torch SDPA", sdpa, args, "F.scaled_dot_product_attention"))
    else:
        impls += [
            C.torch_impl(
                "torch.compile", C.th_attention, margs, "torch.compile(eager)", compile=True
            ),
            C.torch_impl(
                "SDPA flash",
                sdpa,
                args,
                "sdpa_kernel(FLASH_ATTENTION)",
                sdpa_backend="FLASH_ATTENTION",
            ),
            C.torch_impl(
                "SDPA cuDNN",
                sdpa,
                args,
                "sdpa_kernel(CUDNN_ATTENTION)",
                sdpa_backend="CUDNN_ATTENTION",
            ),
        ]
        if causal:
            impls.append(C.flex_window_impl(args, causal=True))
    gpu = target == "gpu"

    def work(s: Sizes) -> float:
        pairs = C.causal_pairs(s["N"]) if causal else s["N"] * s["N"]
        return C.attention_flops(s["B"], s["H"], pairs, s["D"])

    return Case(
        name or ("W4-attn-causal" if causal else "W4-attn"),
        "W4",
        "attention" + (", causal" if causal else ""),
        sizes,
        make,
        sources.tc(sources.CAUSAL_ATTENTION if causal else sources.ATTENTION, T),
        "attention",
        args,
        tuple(impls),
        Check(
            lambda inp, rows: references.attention(inp, rows, causal=causal),
            tolerance(T, allclose(1e-3, 1e-3)),
            rows=("N", 2),
            samples=128 if gpu else 256,
        ),
        flops_metric(target, work),
        device_dtype=device_dtype(T),
    )


def window_case(window: int, sizes: dict[str, Sizes], target: str, T: str = "float") -> Case:
    """Sliding window of `window` keys: |i - j| <= window // 2."""
    sizes = {k: {**s, "window": window, "W": window // 2} for k, s in sizes.items()}

    def make(s: Sizes, rng: np.random.Generator) -> dict:
        i = np.arange(s["N"])
        return _qkv(s, rng) | {"W": s["W"], "mask": np.abs(i[:, None] - i[None, :]) <= s["W"]}

    args = ("q", "k", "v", "scale", "W")
    margs = ("q", "k", "v", "scale", "mask")
    impls: list[Impl] = []
    if target == "cpu":
        impls.append(
            C.numpy_impl(
                "numpy",
                C.np_attention,
                margs,
                "dense, masked softmax",
                dense_bytes(2, "B", "H", "N", "N"),
            )
        )
    impls += [
        C.torch_impl(
            "torch",
            C.th_attention,
            margs,
            "eager, dense masked",
            dense_bytes(3, "B", "H", "N", "N"),
        ),
        C.torch_impl("torch SDPA (mask)", C.th_sdpa, margs, "SDPA with a dense bool mask"),
        C.torch_impl(
            "torch blocked",
            C.th_local_attention,
            args,
            "query blocks of 256 against their key band only",
        ),
    ]
    if target == "gpu":
        impls.append(C.flex_window_impl(("q", "k", "v", "scale")))
    return Case(
        f"W5-win{window}",
        "W5",
        f"sliding-window attention, window {window}",
        sizes,
        make,
        sources.tc(sources.WINDOW_ATTENTION, T),
        "window_attention",
        args,
        tuple(impls),
        Check(
            lambda inp, rows: references.attention(inp, rows, W=inp["W"]),
            tolerance(T, allclose(1e-3, 1e-3)),
            rows=("N", 2),
            samples=128,
        ),
        flops_metric(
            target,
            lambda s: C.attention_flops(s["B"], s["H"], C.band_pairs(s["N"], s["W"]), s["D"]),
        ),
        device_dtype=device_dtype(T),
    )


def linear_attention_case(sizes: dict[str, Sizes]) -> Case:
    def make(s: Sizes, rng: np.random.Generator) -> dict:
        qkv = _qkv(s, rng)
        del qkv["scale"]
        return qkv

    args = ("q", "k", "v")
    impls = (
        C.numpy_impl("numpy", C.np_linear_attention, args, "phi(q) (phi(k)^T v), matmuls"),
        C.torch_impl("torch", C.th_linear_attention, args, "elu+1, phi(q) (phi(k)^T v)"),
    )
    return Case(
        "W6-linattn",
        "W6",
        "linear attention (elu+1 feature map)",
        sizes,
        make,
        sources.tc(sources.LINEAR_ATTENTION),
        "linear_attention",
        args,
        impls,
        Check(references.linear_attention, allclose(1e-3, 1e-3), rows=("N", 2)),
        flops_metric("cpu", lambda s: 4.0 * s["B"] * s["H"] * s["N"] * s["D"] * (s["D"] + 1)),
    )


# ----------------------------------------------------------------------------------------------
# Gram, kernel Gram, GEMM (W7)


def gram_case(
    sizes: dict[str, Sizes], target: str, rbf: bool, T: str = "float", name: str | None = None
) -> Case:
    def make(s: Sizes, rng: np.random.Generator) -> dict:
        inp = {"x": rng.standard_normal((s["N"], s["D"]), dtype=F32)}
        if rbf:
            inp["gamma"] = 1.0 / s["D"]
        return inp

    args = ("x", "gamma") if rbf else ("x",)
    impls: list[Impl] = []
    if target == "cpu":
        impls.append(
            C.numpy_impl(
                "numpy",
                C.np_rbf_gram if rbf else C.np_gram,
                args,
                "|x|^2 + |x|^2 - 2 x x^T (BLAS), exp" if rbf else "x @ x.T (BLAS)",
            )
        )
    impls.append(
        C.torch_impl(
            "torch",
            C.th_rbf_gram if rbf else C.th_gram,
            args,
            "exp(-gamma cdist^2)" if rbf else "x @ x.T (BLAS)",
        )
    )
    if target == "gpu":
        impls.append(
            C.torch_impl(
                "torch.compile",
                C.th_rbf_gram if rbf else C.th_gram,
                args,
                "torch.compile(eager)",
                compile=True,
            )
        )
    return Case(
        name or ("W7-rbf" if rbf else "W7-gram"),
        "W7",
        "RBF kernel Gram" if rbf else "Gram",
        sizes,
        make,
        sources.tc(sources.RBF_GRAM if rbf else sources.GRAM, T),
        "rbf_gram" if rbf else "gram",
        args,
        tuple(impls),
        Check(
            references.rbf_gram if rbf else references.gram,
            tolerance(T, allclose(1e-3, 1e-4)),
            rows=("N", 0),
        ),
        flops_metric(target, lambda s: 2.0 * s["N"] * s["N"] * s["D"]),
        device_dtype=device_dtype(T),
    )


def gemm_case(n: int, sizes: dict[str, Sizes], target: str, T: str = "float") -> Case:
    def make(s: Sizes, rng: np.random.Generator) -> dict:
        return {
            "A": rng.standard_normal((s["M"], s["K"]), dtype=F32),
            "B": rng.standard_normal((s["K"], s["N"]), dtype=F32),
        }

    args = ("A", "B")
    impls: list[Impl] = []
    if target == "cpu":
        impls.append(C.numpy_impl("numpy", C.np_gemm, args, "A @ B (numpy's BLAS)"))
    impls.append(
        C.torch_impl(
            "torch", C.th_gemm, args, "torch.matmul (cuBLAS)" if target == "gpu" else "torch.matmul"
        )
    )
    return Case(
        f"GEMM-{n}",
        "W7",
        f"GEMM as an equation, {n}^3",
        sizes,
        make,
        sources.tc(sources.GEMM, T),
        "gemm",
        args,
        tuple(impls),
        Check(references.gemm, tolerance(T, allclose(1e-3, 1e-4)), rows=("M", 0)),
        flops_metric(target, lambda s: 2.0 * s["M"] * s["N"] * s["K"]),
        device_dtype=device_dtype(T),
    )


# ----------------------------------------------------------------------------------------------
# tensor networks (W9)


def _einsum_case(
    name: str,
    title: str,
    eq: str,
    source: str,
    entry: str,
    args: tuple[str, ...],
    shapes,
    sizes: dict[str, Sizes],
    positive: bool = False,
    with_tensorc_einsum: bool = False,
) -> Case:
    def make(s: Sizes, rng: np.random.Generator) -> dict:
        out = {}
        for n, shp in zip(args, shapes(s)):
            # positive entries where the output is one scalar: no cancellation in the check
            a = rng.random(shp, dtype=F32) if positive else rng.standard_normal(shp, dtype=F32)
            out[n] = a / np.float32(np.sqrt(np.prod(shp[:-1]))) if positive else a
        return out

    def work(s: Sizes) -> float:
        import opt_einsum as oe

        return float(oe.contract_path(eq, *shapes(s), shapes=True, optimize="dp")[1].opt_cost)

    impls = list(C.einsum_impls(eq, args))
    if with_tensorc_einsum:
        impls.append(tensorc_einsum_impl(eq, args))
    return Case(
        name,
        "W9",
        title,
        sizes,
        make,
        source,
        entry,
        args,
        tuple(impls),
        Check(references.einsum(eq, args), allclose(1e-3, 1e-3)),
        flops_metric("cpu", work),
        notes=f"einsum '{eq}'; GFLOP/s from opt_einsum's optimal-path flop count",
    )


def tensorc_einsum_impl(eq: str, args: tuple[str, ...]) -> Impl:
    """tensorc.einsum on the same operands: the einsum front end, same backend."""

    def setup(inputs, sizes, env):
        import tensorc
        from benchmarks.comparators import torch_args

        ops = [inputs[n] for n in args] if env.target == "cpu" else torch_args(inputs, args, env)
        return lambda: tensorc.einsum(eq, *ops, backend=env.backend)

    return Impl("tensorc.einsum", setup, "tensorc.einsum(subscripts, ...) front end")


def tucker_case(sizes: dict[str, Sizes]) -> Case:
    return _einsum_case(
        "W9-tucker",
        "Tucker core (4 operands)",
        "ijk,ia,jb,kc->abc",
        sources.tc(sources.TUCKER_CORE),
        "tucker_core",
        ("T", "U1", "U2", "U3"),
        lambda s: [(s["I"],) * 3, (s["I"], s["R"]), (s["I"], s["R"]), (s["I"], s["R"])],
        sizes,
    )


def mps_case(sizes: dict[str, Sizes], sites: int = 6) -> Case:
    args = tuple(f"{n}{i}" for n in "AB" for i in range(1, sites + 1))

    def shapes(s: Sizes):
        P, X = s["P"], s["X"]
        one = [(P, X)] + [(X, P, X)] * (sites - 2) + [(X, P)]
        return one + one

    return _einsum_case(
        "W9-mps",
        f"MPS overlap chain, {sites} sites ({2 * sites} operands)",
        sources.mps_equation(sites),
        sources.mps_overlap(sites),
        "mps_overlap",
        args,
        shapes,
        sizes,
        positive=True,
    )


def bilinear_case(sizes: dict[str, Sizes]) -> Case:
    return _einsum_case(
        "W9-bilinear",
        "batched bilinear 'bij,jk,bkl->bil'",
        "bij,jk,bkl->bil",
        sources.tc(sources.BATCHED_BILINEAR),
        "batched_bilinear",
        ("x", "W", "y"),
        lambda s: [(s["B"], s["I"], s["I"]), (s["I"], s["I"]), (s["B"], s["I"], s["I"])],
        sizes,
        with_tensorc_einsum=True,
    )


# ----------------------------------------------------------------------------------------------
# the CPU suite


def _s(full: Sizes, quick: Sizes, tiny: Sizes) -> dict[str, Sizes]:
    return {"full": full, "quick": quick, "tiny": tiny}


def cpu_cases() -> list[Case]:
    pts = _s(
        {"N": 20000, "M": 20000, "D": 3}, {"N": 2000, "M": 2000, "D": 3}, {"N": 64, "M": 48, "D": 3}
    )
    e1 = {k: {**v, "E": 1} for k, v in pts.items()}
    attn = _s(
        {"B": 1, "H": 8, "N": 2048, "D": 64},
        {"B": 1, "H": 8, "N": 256, "D": 64},
        {"B": 1, "H": 2, "N": 32, "D": 8},
    )
    win = _s(
        {"B": 1, "H": 8, "N": 4096, "D": 64},
        {"B": 1, "H": 4, "N": 1024, "D": 64},
        {"B": 1, "H": 2, "N": 64, "D": 8},
    )
    gram = _s({"N": 4096, "D": 64}, {"N": 512, "D": 64}, {"N": 32, "D": 4})
    return [
        ksum_case("W1-ksum", e1, "cpu"),
        ksum_case(
            "W1-mem",
            _s(
                {"N": 1_000_000, "M": 1000, "D": 3, "E": 1},
                {"N": 100_000, "M": 1000, "D": 3, "E": 1},
                {"N": 256, "M": 16, "D": 3, "E": 1},
            ),
            "cpu",
            memory=True,
        ),
        ksum_case(  # few rows, long reductions: split-j (tensorc/schedule/split.py)
            "W1-smallN",
            _s({"N": 8, "M": 1_000_000, "D": 3, "E": 1}, {"N": 8, "M": 100_000, "D": 3, "E": 1},
               {"N": 8, "M": 4096, "D": 3, "E": 1}),
            "cpu",
        ),
        nn_case(pts),
        softmin_case(pts),
        attention_case(attn, "cpu", causal=False),
        attention_case(attn, "cpu", causal=True),
        *[window_case(w, win, "cpu") for w in (64, 256, 1024)],
        linear_attention_case(
            _s(
                {"B": 2, "H": 8, "N": 4096, "D": 64},
                {"B": 1, "H": 8, "N": 512, "D": 64},
                {"B": 1, "H": 1, "N": 32, "D": 8},
            )
        ),
        gram_case(gram, "cpu", rbf=True),
        gram_case(gram, "cpu", rbf=False),
        *[
            gemm_case(
                n,
                _s(
                    {"M": n, "N": n, "K": n},
                    {"M": n // 8, "N": n // 8, "K": n // 8},
                    {"M": 16, "N": 24, "K": 8},
                ),
                "cpu",
            )
            for n in (1024, 2048)
        ],
        mmd_case(
            _s(
                {"N": 10000, "M": 10000, "D": 3},
                {"N": 1000, "M": 1000, "D": 3},
                {"N": 40, "M": 56, "D": 3},
            )
        ),
        tucker_case(_s({"I": 64, "R": 16}, {"I": 32, "R": 8}, {"I": 8, "R": 4})),
        mps_case(_s({"P": 4, "X": 64}, {"P": 4, "X": 16}, {"P": 2, "X": 4})),
        bilinear_case(_s({"B": 64, "I": 128}, {"B": 8, "I": 64}, {"B": 2, "I": 8})),
    ]
