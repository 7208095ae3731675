"""The GPU suite (--target gpu): tensorc's Triton backend against torch eager CUDA, torch.compile,
SDPA (flash and cuDNN), flex_attention, cuBLAS (torch.matmul) and pykeops where it builds.

Sizes follow issue 5: attention fp16 d=128 and d=64, N=4096 (B=4, H=16), causal and not; kernel
sums N=M=1e6 (D=3) and N=M=1e5 (D=64, TF32 allowed); RBF Gram N=16384 D=1024 (TF32 allowed); Gram
in bf16 vs cuBLAS; W5 windows 64/256/1024. Metrics are TFLOP/s (attention, Gram) and T pairs/s
(kernel sums); the JSON's machine.gpu records the device name.

    python -m benchmarks --target gpu --out /tmp/gpu.json      # the whole suite, one command
"""

from __future__ import annotations

from dataclasses import replace

from benchmarks import comparators as C
from benchmarks.cases import _s, attention_case, gemm_case, gram_case, ksum_case, window_case
from benchmarks.spec import Case, Impl, allclose


def _tf32(case: Case, on: bool) -> Case:
    """Set torch's TF32 flags for the case before its inputs are made, so tensorc (whose Triton
    config follows torch.backends.cuda.matmul.allow_tf32 when it compiles) and the torch
    comparators run under the same rule; TF32 cases get a looser check."""
    make = case.make_inputs

    def make_inputs(sizes, rng):
        import torch

        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on
        return make(sizes, rng)

    out = replace(case, make_inputs=make_inputs)
    if on:
        check = replace(case.check, compare=allclose(1e-2, 1e-3))
        out = replace(out, name=case.name + "-tf32", check=check, notes="TF32 allowed for all")
    return out


def _compiled_ksum() -> Impl:
    """torch.compile of the dense row-block kernel sum (the chunk loop stays in Python)."""

    def setup(inputs, sizes, env):
        torch = C._torch()
        x, y, b, sigma = C.torch_args(inputs, ("x", "y", "b", "sigma"), env)
        f = torch.compile(C.th_ksum, dynamic=False)
        rows = max(1, min(x.shape[0], (1 << 28) // max(y.shape[0], 1)))

        def call():
            with torch.inference_mode():
                return torch.cat([f(x[s : s + rows], y, b, sigma) for s in range(0, len(x), rows)])

        call()  # compile (both the full and the last, shorter block) before timing
        return call

    return Impl("torch.compile", setup, "torch.compile(exp(-cdist^2) @ b) per 1 GiB row block")


def gpu_cases() -> list[Case]:
    attn128 = _s(
        {"B": 4, "H": 16, "N": 4096, "D": 128},
        {"B": 1, "H": 8, "N": 1024, "D": 128},
        {"B": 1, "H": 2, "N": 64, "D": 16},
    )
    attn64 = _s(
        {"B": 4, "H": 16, "N": 4096, "D": 64},
        {"B": 1, "H": 8, "N": 1024, "D": 64},
        {"B": 1, "H": 2, "N": 64, "D": 16},
    )
    win = _s(
        {"B": 2, "H": 16, "N": 8192, "D": 64},
        {"B": 1, "H": 8, "N": 2048, "D": 64},
        {"B": 1, "H": 2, "N": 128, "D": 16},
    )
    gram = _s({"N": 16384, "D": 1024}, {"N": 2048, "D": 256}, {"N": 64, "D": 16})
    cases = [
        attention_case(attn128, "gpu", causal=False, T="half", name="W4-attn-d128"),
        attention_case(attn128, "gpu", causal=True, T="half", name="W4-attn-causal-d128"),
        attention_case(attn64, "gpu", causal=False, T="half", name="W4-attn-d64"),
        attention_case(attn64, "gpu", causal=True, T="half", name="W4-attn-causal-d64"),
        ksum_case(
            "W1-ksum-1e6",
            _s(
                {"N": 10**6, "M": 10**6, "D": 3, "E": 1},
                {"N": 10**5, "M": 10**5, "D": 3, "E": 1},
                {"N": 256, "M": 128, "D": 3, "E": 1},
            ),
            "gpu",
        ),
        ksum_case(
            "W1-ksum-d64",
            _s(
                {"N": 10**5, "M": 10**5, "D": 64, "E": 1},
                {"N": 10**4, "M": 10**4, "D": 64, "E": 1},
                {"N": 256, "M": 128, "D": 64, "E": 1},
            ),
            "gpu",
        ),
        gram_case(gram, "gpu", rbf=True, name="W7-rbf"),
        gram_case(gram, "gpu", rbf=False, T="bfloat16", name="W7-gram-bf16"),
        gemm_case(
            8192,
            _s(
                {"M": 8192, "N": 8192, "K": 8192},
                {"M": 2048, "N": 2048, "K": 2048},
                {"M": 64, "N": 32, "K": 16},
            ),
            "gpu",
            T="half",
        ),
        *[window_case(w, win, "gpu", T="half") for w in (64, 256, 1024)],
    ]
    for n, c in enumerate(cases):
        if c.workload == "W1":
            c = replace(c, impls=(*c.impls, _compiled_ksum()))
        cases[n] = _tf32(c, on=c.name in TF32_CASES)
    return cases


TF32_CASES = ("W1-ksum-d64", "W7-rbf")  # issue 5 allows TF32 for these targets
