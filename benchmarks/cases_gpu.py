"""The GPU suite (--target gpu): tensorc's Triton backend against torch eager CUDA, torch.compile,
SDPA (flash and cuDNN), flex_attention, cuBLAS (torch.matmul) and pykeops where it builds.

Sizes follow the GPU issue: attention fp16 d=128 N=4096 (B=4, H=16) causal and not, d=64; kernel
sums N=M=1e6 (D=3) and N=M=1e5 (D=64); RBF Gram N=16384 D=1024; Gram in bf16; W5 windows.
"""

from __future__ import annotations

from benchmarks.cases import _s, attention_case, gemm_case, gram_case, ksum_case, window_case
from benchmarks.spec import Case


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
    return [
        attention_case(attn128, "gpu", causal=False, T="half", name="W4-attn-d128"),
        attention_case(attn128, "gpu", causal=True, T="half", name="W4-attn-causal-d128"),
        attention_case(attn64, "gpu", causal=False, T="half", name="W4-attn-d64"),
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
