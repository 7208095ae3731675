"""Issue 12's memory targets, checked on the lowered programs: W1's forward + backward at
N = 10^6, M = 10^3 and attention's at N = M = 8192 allocate no buffer of N x M elements (none
within 16x of it; inputs and outputs are N x D) -- with a
full cotangent and with the scalar one `out.sum()` hands the backward (runtime/broadcast.py) --
and no kernel holds a local array of that size."""

from __future__ import annotations

import pytest

import tensorc
from tensorc.grad import gradient
from tensorc.ir import loop_ir as L
from tensorc.passes import to_loops
from tensorc.runtime import broadcast
from tensorc.runtime.plan import eval_dim

SOURCE = """
def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
    out(i,e) = sum(j: exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma)) * b(j,e))
}
def attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
}
def attention_full(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)
}
"""
CASES = {
    "gauss_ksum": {"N": 10**6, "M": 10**3, "D": 3, "E": 1},
    "attention": {"B": 1, "H": 8, "N": 8192, "M": 8192, "D": 64, "E": 64},
    "attention_full": {"B": 1, "H": 8, "N": 8192, "M": 8192, "D": 64, "E": 64},
}


def _largest(prog: L.LoopProgram, sizes: dict) -> int:
    """Elements of the largest temp buffer or kernel-local array of `prog`."""
    sizes = {**sizes, **dict(prog.static_sizes)}

    def value(dim) -> int:
        if isinstance(dim, L.Const):
            return int(dim.value)
        if isinstance(dim, L.Var):
            return sizes[dim.name]
        if isinstance(dim, L.Call):  # min/max/add/mul of sizes and literals
            a = [value(x) for x in dim.args]
            ops = {"min": min, "max": max, "add": sum, "mul": lambda v: v[0] * v[1]}
            return ops[dim.fn](a) if dim.fn in ("add", "mul") else ops[dim.fn](*a)
        return eval_dim(dim, sizes)

    def count(shape) -> int:
        n = 1
        for dim in shape:
            n *= value(dim)
        return n

    best = max((count(b.shape) for b in prog.temps), default=0)
    for k in prog.kernels:
        stack = list(k.body)
        while stack:
            s = stack.pop()
            if isinstance(s, L.Local):
                best = max(best, count(s.shape))
            stack += [c for part in ("body", "then", "orelse") for c in getattr(s, part, ())]
    return best


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("scalar_cotangent", [False, True])
def test_no_n_by_m_buffer(name, scalar_cotangent):
    d = tensorc.compile(SOURCE, backend="interp")[name].def_
    g = gradient(d, save_values=True)  # every float input: the scale / sigma too
    back = g.backward
    if scalar_cotangent:
        cot = {c for _, c in g.cotangents}
        dims = tuple(tuple(range(len(t.shape))) if t.name in cot else () for t in back.inputs)
        back = broadcast.specialise(back, dims)
    sizes = CASES[name]
    nm = sizes["N"] * sizes["M"] * sizes.get("B", 1) * sizes.get("H", 1)  # every (i, j) pair
    for part in (g.forward, back):
        largest = _largest(to_loops(part, target="cpu", sizes=dict(sizes)), sizes)
        assert 16 * largest < nm, f"{part.name}: a buffer of {largest} elements ({nm} pairs)"
