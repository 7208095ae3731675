"""Forward + backward timings of compiled defs through torch.autograd (issue 12), one process.

    python -m benchmarks.grad [--quick]

Cases (all inputs receive gradients, except `w1dx`):
- W1 Gaussian kernel sum, N = M = 20000, D = 3, E = 1, vs torch autograd over row blocks of
  2000 (pykeops is used instead when installed); `w1dx`: only x requires grad (forward + d/dx,
  how NOTES.md measured pykeops: 2.53 s),
- attention, B1 H8 N2048 d64, non-causal and causal, vs torch SDPA forward + backward,
- RBF Gram 4096 x 4096, D = 64, vs torch autograd through cdist + exp.
Each time is the median of `repeat` runs after one warm-up (which includes compilation, timed
separately as "first call"). `--quick` divides the sizes by 4.

Session 7 (same host, `python -m benchmarks.grad --repeat 5`, several runs): W1 all inputs
364-385 ms (40-43x torch blocks); d/dx 173-190 ms (13.3-14.6x NOTES' pykeops); attention
186-216 ms vs SDPA 194-204 (0.94-1.08x); causal 97-112 vs 133-147 (1.18-1.41x); RBF 74-83 ms vs
288-386 (3.9-5.1x). The `.sum()` cotangent is a broadcast view, read as one scalar.
Session 6 (2026-12-07, 2-core AVX-512 host, `python -m benchmarks.grad --repeat 5`, several
runs; same-run ratios):
- W1 20k all inputs: 543-874 ms (torch blocks 15.8-19.7 s, 23-29x); d/dx only (`--only
  w1dx`): 197-226 ms, 11.2-12.8x NOTES' pykeops 2.53 s (measured in an earlier session).
- attention: 212-243 ms vs SDPA 199-349 ms (0.94-1.00x in quiet runs); causal 116-147 ms vs
  126-263 ms (1.05-1.79x). The forward saves the lse (grad.saving_forward): the backward is one
  pass, FlashAttention-2's 5 Gemms per tile pair.
- RBF Gram: 102-123 ms vs torch 305-424 ms (2.7-3.7x, six `--only rbf` runs). Before big
  outputs became populated mappings (runtime/arrays.zeros_numpy) it was 92-198 ms: `np.zeros`
  of 64 MB takes 8 ms or 118-145 ms on this VM, bimodally (THP compaction).
Session 5: W1 545-641 ms, w1dx 256 ms; attention 261-264 ms (0.74-0.77x), causal 139-151 ms;
RBF 208-217 ms (1.36-1.80x).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import tensorc

W1 = """def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
    out(i,e) = sum(j: exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma)) * b(j,e))
}"""
ATTN = """def attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
}
def attention_full(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)
}"""
RBF = """def rbf_gram(float(N,D) x, float gamma) -> (k) {
    k(i,j) = exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))
}"""


def _time(fn, repeat: int) -> tuple[float, float]:
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def _leaves(*shapes):
    return [torch.randn(*s, requires_grad=True) for s in shapes]


def _fwd_bwd(f, leaves):
    def run():
        for t in leaves:
            t.grad = None
        f(*leaves).sum().backward()

    return run


def w1(n: int, repeat: int, only_x: bool = False):
    """`only_x`: only x requires grad (forward + d/dx, how NOTES.md measured pykeops)."""
    mod = tensorc.compile(W1, backend="cpu")
    x, y, b = _leaves((n, 3), (n, 3), (n, 1))
    sigma = torch.tensor(0.5, requires_grad=True)
    if only_x:
        for t in (y, b, sigma):
            t.requires_grad_(False)
    ours = _fwd_bwd(lambda x, y, b, s: mod.gauss_ksum(x, y, b, s), [x, y, b, sigma])

    def torch_blocks(x, y, b, s, block=2000):
        outs = []
        for i in range(0, x.shape[0], block):
            d2 = torch.cdist(x[i : i + block], y).square()
            outs.append(torch.exp(-d2 / (2 * s * s)) @ b)
        return torch.cat(outs)

    try:
        from pykeops.torch import LazyTensor

        def ref(x, y, b, s):
            d2 = ((LazyTensor(x[:, None, :]) - LazyTensor(y[None, :, :])) ** 2).sum(-1)
            return (-d2 / (2 * s * s)).exp() @ b

        name = "pykeops"
    except ImportError:
        ref, name = torch_blocks, "torch autograd, 2000-row blocks"
    return ours, _fwd_bwd(ref, [x, y, b, sigma]), name


def attention(n: int, causal: bool, repeat: int):
    mod = tensorc.compile(ATTN, backend="cpu")
    fn = mod.attention if causal else mod.attention_full
    q, k, v = _leaves((1, 8, n, 64), (1, 8, n, 64), (1, 8, n, 64))
    scale = 64**-0.5
    ours = _fwd_bwd(lambda q, k, v: fn(q, k, v, scale), [q, k, v])
    sdpa = torch.nn.functional.scaled_dot_product_attention
    ref = _fwd_bwd(lambda q, k, v: sdpa(q, k, v, is_causal=causal), [q, k, v])
    return ours, ref, "torch SDPA"


def rbf(n: int, repeat: int):
    mod = tensorc.compile(RBF, backend="cpu")
    (x,) = _leaves((n, 64))
    gamma = torch.tensor(0.01, requires_grad=True)
    ours = _fwd_bwd(lambda x, g: mod.rbf_gram(x, g), [x, gamma])
    ref = _fwd_bwd(lambda x, g: torch.exp(-g * torch.cdist(x, x).square()), [x, gamma])
    return ours, ref, "torch autograd cdist + exp"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", default="w1,w1dx,attention,causal,rbf")
    args = p.parse_args()
    div = 4 if args.quick else 1
    cases = {
        "w1": lambda: (f"W1 N=M={20000 // div} D3", w1(20000 // div, args.repeat)),
        "w1dx": lambda: (
            f"W1 N=M={20000 // div} D3, d/dx only",
            w1(20000 // div, args.repeat, only_x=True),
        ),
        "attention": lambda: (
            f"attention B1 H8 N{2048 // div} d64",
            attention(2048 // div, False, args.repeat),
        ),
        "causal": lambda: (
            f"causal attention B1 H8 N{2048 // div} d64",
            attention(2048 // div, True, args.repeat),
        ),
        "rbf": lambda: (f"RBF Gram {4096 // div}^2 D64", rbf(4096 // div, args.repeat)),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for key in args.only.split(","):
        label, (ours, ref, ref_name) = cases[key]()
        first, t = _time(ours, args.repeat)
        _, r = _time(ref, args.repeat)
        print(
            f"{label}: tensorc fwd+bwd {t * 1e3:.0f} ms (first call {first:.1f} s), "
            f"{ref_name} {r * 1e3:.0f} ms, ratio {r / t:.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
