"""`Gemm` statements -> calls of an internal packed, register-blocked GEMM emitted as IR.

float32 compute (fp16/bf16/fp32 storage): BLIS-style loops jc (NC) -> pc (KC, pack B into
KC x NR panels) -> ic (MC, pack A into MR x KC panels) -> jr -> ir -> an MR x NR micro-kernel
keeping MR x 2 vector accumulators in registers (one fma per row and half-panel per k). The shape
follows the host (`blocking`): 6x16 of `<8 x float>` (12 of 16 ymm registers) on AVX2, 8x32 of
`<16 x float>` (16 of 32 zmm registers) on AVX-512 hosts. float64 compute uses the same code with a
6x8 block of `<4 x double>` (AVX2) or 8x16 of `<8 x double>` (AVX-512). Integer/bool compute runs a
plain triple loop. Packing zero-pads edges, so the micro-kernel never branches; the write-back
applies alpha, converts to C's dtype and adds the old value unless this is the first k block of a
non-accumulating Gemm. A Gemm at most DOT_N columns wide whose A is read along k (a matrix times
a few vectors: the MPS chain's steps) runs as dot products instead (`_dot_products`). Results do not
depend on how rows are split across threads.

    void @tc.gemm.<c>.<a>.<b>.<compute>(ptr C, i64 csb, i64 csr, i64 csc, ptr A, i64 x3,
                                         ptr B, i64 x3, i64 batch, i64 m, i64 n, i64 k,
                                         <compute> alpha, i1 accumulate)

A kernel module only declares the routine it calls (this file); `gemm_routines.routine_ir(name)` is
the module defining it, compiled once per machine (object cache) and linked once per process by
build.py, so its ~2000 lines of IR are not re-optimised for every kernel that multiplies.
"""

from __future__ import annotations

from llvmlite import ir

from tensorc.ir import loop_ir as L

from . import build
from .codec import mem_type, reg_type
from .mathlib import I1, I64

KC = 256
MC = 96
NC = 512
IN_PLACE_B_ROWS = 24  # a Gemm with this few rows reads B's full panels in place (no packing)
DOT_N = 4  # Gemms this narrow, with A read along k, run as dot products (`_dot_products`)


def _c(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def blocking(compute: str) -> tuple[int, int]:
    """(MR, vector width) of the micro-kernel; NR is two vectors. Every cache key holds the host's
    features (build.cache_key), so a kernel or routine built for one shape is never loaded on a
    host that picks the other."""
    lanes = 16 if compute == "float32" else 8  # float32 or float64 lanes in 512 bits
    if "+avx512f" in build.host()[1].split(","):
        return 8, lanes
    return 6, lanes // 2


def emit_gemm(r, s: L.Gemm, split: bool) -> None:
    """Emit a call for Gemm `s` in kernel renderer `r` (rows split across threads if `split`)."""
    b = r.b
    compute = s.dtype if s.dtype not in ("float16", "bfloat16") else "float32"
    bases, dts = zip(*(_base(r, op) for op in (s.c, s.a, s.b)))
    fn = _declare(r.module, routine_name(list(dts), compute), compute)

    def i64(e):
        return r.conv(r.expr(e), e.dtype, "int64")

    ops = []
    for op, dt, ptr in zip((s.c, s.a, s.b), dts, bases):
        base = b.gep(ptr, [i64(op.offset)], inbounds=True, source_etype=mem_type(dt))
        ops.append([base, *(i64(x) for x in op.strides)])
    batch, m, n, k = (i64(x) for x in (s.batch, s.m, s.n, s.k))
    if dts[1] == dts[2]:  # C^T = B^T A^T when C is much wider than tall (see _wide_as_tall)
        ops, m, n = _wide_as_tall(b, ops, m, n)
    if split:  # this thread's rows, cut at multiples of MR so blocks match any thread count
        ps, pe, parts = r.part
        mr = _c(blocking(compute)[0])
        blocks = b.sdiv(b.add(m, _c(blocking(compute)[0] - 1)), mr)
        lo = b.mul(b.sdiv(b.mul(blocks, ps), parts), mr)
        hi = b.mul(b.sdiv(b.mul(blocks, pe), parts), mr)
        hi = b.select(b.icmp_signed("<", hi, m), hi, m)
        lo = b.select(b.icmp_signed("<", lo, hi), lo, hi)
        ops[0][0] = b.gep(ops[0][0], [b.mul(lo, ops[0][2])], inbounds=True,
                          source_etype=mem_type(dts[0]))
        ops[1][0] = b.gep(ops[1][0], [b.mul(lo, ops[1][2])], inbounds=True,
                          source_etype=mem_type(dts[1]))
        m = b.sub(hi, lo)
    alpha = r.conv(r.expr(s.alpha), s.alpha.dtype, compute)
    args = [*ops[0], *ops[1], *ops[2], batch, m, n, k, alpha,
            ir.Constant(I1, int(bool(s.accumulate)))]
    b.call(fn, args)


def _wide_as_tall(b, ops, m, n):
    """Threads split C's rows and each packs all of B: a Gemm with few rows and many columns
    (64 x 4096 = x^T P in the RBF Gram gradient) would pack its large B once per thread. When
    n > 2 m it runs as C^T = B^T A^T instead (strides swapped; same values): (ops, m, n)."""
    swap = b.icmp_signed(">", n, b.mul(m, _c(2)))
    (c, csb, csr, csc), (a, asb, asr, asc), (bb, bsb, bsr, bsc) = ops

    def pick(x, y):
        return b.select(swap, x, y)

    ops = [
        [c, csb, pick(csc, csr), pick(csr, csc)],
        [pick(bb, a), pick(bsb, asb), pick(bsc, asr), pick(bsr, asc)],
        [pick(a, bb), pick(asb, bsb), pick(asc, bsr), pick(asr, bsc)],
    ]
    return ops, pick(n, m), pick(m, n)


def _base(r, op: L.Operand):
    """(pointer, dtype) of an operand: a kernel buffer, or a `Local` (held in its compute type)."""
    if not op.local:
        return r.buffers[op.buffer][0], r.buffers[op.buffer][1].dtype
    kind, (ptr, _), dt = r.env[op.buffer]
    assert kind == "local" and mem_type(dt) == reg_type(dt), f"bad local Gemm operand {op}"
    return ptr, dt


def routine_name(dts: list[str], compute: str) -> str:
    """The symbol of the Gemm routine for operand dtypes (c, a, b) and a compute dtype."""
    return f"{ROUTINE_PREFIX}{'.'.join(dts)}.{compute}"


ROUTINE_PREFIX = "tc.gemm."


def _declare(module: ir.Module, name: str, compute: str) -> ir.Function:
    """The routine `name` in `module` (declared once; defined only by `routine_ir`)."""
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    ptr = ir.PointerType()
    args = [ptr, I64, I64, I64] * 3 + [I64] * 4 + [reg_type(compute), I1]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), name=name)
    fn.attributes.add("nounwind")
    for i in (0, 4, 8):
        fn.args[i].add_attribute("noalias")
    return fn
