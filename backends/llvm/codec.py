"""Typed values in LLVM IR: the register / memory type of each dtype, and `Codec` (conversions,
typed loads and stores, counted loops) shared by the kernel renderer and the Gemm routines.

Registers hold each dtype's compute type (fp16/bf16 -> float, bool -> i1); memory holds its storage
type (half, i16 bits for bf16, i8 for bool).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from tensorc.ir.types import DTYPES

from .mathlib import F32, F64, I1, I64, declare, type_suffix

I8, I16, I32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)


# --- types -------------------------------------------------------------------------------------
def reg_type(dtype: str) -> ir.Type:
    """The register (compute) type of a dtype."""
    info = DTYPES[dtype]
    if info.kind == "f":
        return F64 if info.bits == 64 else F32
    if info.kind == "b":
        return I1
    return ir.IntType(info.bits)


def mem_type(dtype: str) -> ir.Type:
    """The in-memory type of a dtype."""
    if dtype == "float16":
        return ir.HalfType()
    if dtype == "bfloat16":
        return I16
    if dtype == "bool":
        return I8
    return reg_type(dtype)


class Codec:
    """dtype conversions, typed memory access and counted loops in one function (shared with
    gemm.py): `b` is the current builder, `entry_b` appends allocas to the entry block."""

    def __init__(self, module: ir.Module, fn: ir.Function, b: ir.IRBuilder, entry_b: ir.IRBuilder):
        self.module, self.fn, self.b, self.entry_b = module, fn, b, entry_b

    def const(self, value, dtype: str) -> ir.Constant:
        info = DTYPES[dtype]
        if info.kind == "f":
            v = float(value)
            if dtype == "float16":
                v = float(np.float16(v))
            elif dtype == "bfloat16":
                v = _round_bf16(v)
            return ir.Constant(reg_type(dtype), v)
        if info.kind == "b":
            return ir.Constant(I1, int(bool(value)))
        return ir.Constant(reg_type(dtype), int(value) & ((1 << info.bits) - 1))

    def counted_loop(self, count: ir.Value, body, start: ir.Value | None = None,
                     step: int = 1) -> None:
        """for (i = start; i < count; i += step) body(i), alloca-style."""
        var = self.entry_b.alloca(I64)
        self.b.store(start if start is not None else ir.Constant(I64, 0), var)
        head = self.fn.append_basic_block("loop.head")
        body_bb = self.fn.append_basic_block("loop.body")
        exit_bb = self.fn.append_basic_block("loop.exit")
        self.b.branch(head)
        self.b.position_at_end(head)
        i = self.b.load(var, typ=I64)
        cmp = "<" if step > 0 else ">"
        self.b.cbranch(self.b.icmp_signed(cmp, i, count), body_bb, exit_bb)
        self.b.position_at_end(body_bb)
        body(i)
        self.b.store(self.b.add(i, ir.Constant(I64, step), flags=["nsw"]), var)
        self.b.branch(head)
        self.b.position_at_end(exit_bb)

    # -- conversions --
    def conv(self, v: ir.Value, src: str, dst: str) -> ir.Value:
        """Value of dtype `src` (compute type) as dtype `dst` (numpy astype semantics)."""
        if src == dst:
            return v
        b, s, d = self.b, DTYPES[src], DTYPES[dst]
        rt = reg_type(dst)
        if d.kind == "b":
            if s.kind == "f":
                return b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0))
            return b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
        if s.kind == "b":
            return b.uitofp(v, rt) if d.kind == "f" else b.zext(v, rt)
        if s.kind == "f" and d.kind == "f":
            if v.type != rt:
                v = b.fpext(v, rt) if rt == F64 else b.fptrunc(v, rt)
            return self._round_narrow(v, dst)
        if d.kind == "f":
            v = b.sitofp(v, rt) if s.kind == "i" else b.uitofp(v, rt)
            return self._round_narrow(v, dst)
        if s.kind == "f":
            name = "fptosi.sat" if d.kind == "i" else "fptoui.sat"
            fn = declare(self.module, f"llvm.{name}.i{d.bits}.{type_suffix(v.type)}", rt, [v.type])
            return b.call(fn, [v])
        if s.bits == d.bits:
            return v
        if s.bits > d.bits:
            return b.trunc(v, rt)
        return b.sext(v, rt) if s.kind == "i" else b.zext(v, rt)

    def _round_narrow(self, v: ir.Value, dst: str) -> ir.Value:
        """Round a float register to fp16/bf16 precision (explicit casts only)."""
        if dst == "float16":
            return self.b.fpext(self.b.fptrunc(v, ir.HalfType()), F32)
        if dst == "bfloat16":
            return self._bf16_to_f32(self._f32_to_bf16(v))
        return v

    def _f32_to_bf16(self, v: ir.Value) -> ir.Value:
        b = self.b
        bits = b.bitcast(v, I32)
        lsb = b.and_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 1))
        rounded = b.lshr(b.add(bits, b.add(lsb, ir.Constant(I32, 0x7FFF))), ir.Constant(I32, 16))
        quiet = b.or_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 0x40))
        out = b.select(b.fcmp_unordered("uno", v, v), quiet, rounded)
        return b.trunc(out, I16)

    def _bf16_to_f32(self, bits: ir.Value) -> ir.Value:
        b = self.b
        return b.bitcast(b.shl(b.zext(bits, I32), ir.Constant(I32, 16)), F32)

    def load_mem(self, ptr: ir.Value, dtype: str) -> ir.Value:
        mt = mem_type(dtype)
        v = self.b.load(ptr, typ=mt, align=_size(dtype))
        if dtype == "float16":
            return self.b.fpext(v, F32)
        if dtype == "bfloat16":
            return self._bf16_to_f32(v)
        if dtype == "bool":
            return self.b.icmp_unsigned("!=", v, ir.Constant(I8, 0))
        return v

    def store_mem(self, v: ir.Value, ptr: ir.Value, dtype: str) -> None:
        if dtype == "float16":
            v = self.b.fptrunc(v, ir.HalfType())
        elif dtype == "bfloat16":
            v = self._f32_to_bf16(v)
        elif dtype == "bool":
            v = self.b.zext(v, I8)
        self.b.store(v, ptr, align=_size(dtype))


def _size(dtype: str) -> int:
    return DTYPES[dtype].bits // 8


def _round_bf16(v: float) -> float:
    bits = int(np.array(v, dtype=np.float32).view(np.uint32))
    if np.isnan(v):
        return v
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return float(np.array(bits & 0xFFFFFFFF, dtype=np.uint32).view(np.float32))
