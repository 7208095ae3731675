"""`Gemm` -> tiled `tl.dot` code (rendered inside a kernel whose operands are uniform).

`c[b, m, n] (+)= alpha * sum_k a[b, m, k] * b[b, k, n]` over strided views. Tiles are BM x BN with a
BK-step k loop and an fp32 (or the Gemm's compute dtype) accumulator. fp16/bf16 inputs go to
`tl.dot` as they are; fp32 inputs use TF32 only when the config says so (`allow_tf32`, from
`torch.backends.cuda.matmul.allow_tf32`); fp64 and integer Gemms use a broadcast-multiply-sum
(exact, slow: no tensor cores for them here).

Two placements: `grid=True` when the kernel is only this Gemm (one program per output tile and
batch: `program_id(0)` = tile, `program_id(1)` = batch), else tile loops in the current program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tensorc.ir import loop_ir as L
from tensorc.ir.types import compute_dtype

if TYPE_CHECKING:
    from .render import KernelWriter


def _operand_ptr(w: KernelWriter, op: L.Operand, rows: str, cols: str, batch: str) -> str:
    from .values import _ident, cast

    off, sb, sr, sc = (w.scalar(cast(w.expr(x), "int64")) for x in (op.offset, *op.strides))
    off, sb, sr, sc = (w.bind("_g", x) for x in (off, sb, sr, sc))
    return (
        f"p_{_ident(op.buffer)} + {off} + {batch} * {sb} + {rows}[:, None] * {sr}"
        f" + {cols}[None, :] * {sc}"
    )


def render_gemm(w: KernelWriter, g: L.Gemm, grid: bool = False) -> None:
    from .values import _tl, cast

    da, db = w.buffers[g.a.buffer].dtype, w.buffers[g.b.buffer].dtype
    dc = w.buffers[g.c.buffer].dtype
    acc_dt = compute_dtype(g.dtype)
    bm, bn, bk, bb = (
        w.bind("_g" + n, w.scalar(cast(w.expr(x), "int64")))
        for n, x in (("m", g.m), ("n", g.n), ("k", g.k), ("b", g.batch))
    )
    alpha = w.bind("_galpha", w.scalar(cast(w.expr(g.alpha), acc_dt)))
    m = w.full_mask()
    on = f"{w.lanes(m)}[:, None]" if m else None  # BLOCK == 1: a [1, 1] mask broadcasts
    if grid:
        tiles_n = w.bind("_gtn", f"({bn} + BN - 1) // BN")
        w.emit("_gt = tl.cast(tl.program_id(0), tl.int64)")
        batch = w.bind("_gbi", "tl.cast(tl.program_id(1), tl.int64)")
        m0 = w.bind("_gm0", f"(_gt // {tiles_n}) * BM")
        n0 = w.bind("_gn0", f"(_gt % {tiles_n}) * BN")
    else:
        batch, m0, n0 = w.fresh("_gbi"), w.fresh("_gm0"), w.fresh("_gn0")
        w.emit(f"for {batch} in range(0, {bb}):")
        w.depth += 1
        w.emit(f"for {m0} in range(0, {bm}, BM):")
        w.depth += 1
        w.emit(f"for {n0} in range(0, {bn}, BN):")
        w.depth += 1
    rm = w.bind("_grm", f"{m0} + tl.arange(0, BM)")
    rn = w.bind("_grn", f"{n0} + tl.arange(0, BN)")
    acc = w.bind("_gacc", f"tl.zeros([BM, BN], {_tl(acc_dt)})")
    k0 = w.fresh("_gk0")
    w.emit(f"for {k0} in range(0, {bk}, BK):")
    w.depth += 1
    rk = w.bind("_grk", f"{k0} + tl.arange(0, BK)")
    pa = _operand_ptr(w, g.a, rm, rk, batch)
    pb = _operand_ptr(w, g.b, rk, rn, batch)
    a = w.bind(
        "_ga", f"tl.load({pa}, mask=({rm}[:, None] < {bm}) & ({rk}[None, :] < {bk}), other=0)"
    )
    b = w.bind(
        "_gb", f"tl.load({pb}, mask=({rk}[:, None] < {bk}) & ({rn}[None, :] < {bn}), other=0)"
    )
    if da == db and da in ("float16", "bfloat16") and acc_dt == "float32":
        w.emit(f"{acc} = tl.dot({a}, {b}, {acc})")
    elif acc_dt == "float32" and {da, db} <= {"float16", "bfloat16", "float32"}:
        prec = "tf32" if w.config.get("allow_tf32") else "ieee"
        w.emit(
            f"{acc} = tl.dot(tl.cast({a}, tl.float32), tl.cast({b}, tl.float32), {acc}, "
            f'input_precision="{prec}")'
        )
    else:
        t = _tl(acc_dt)
        w.emit(
            f"{acc} = {acc} + tl.sum(tl.cast({a}, {t})[:, :, None] * "
            f"tl.cast({b}, {t})[None, :, :], axis=1)"
        )
    w.depth -= 1
    w.emit(f"{acc} = {acc} * {alpha}")
    pc = _operand_ptr(w, g.c, rm, rn, batch)
    pc = w.bind("_gpc", pc)
    cm = f"({rm}[:, None] < {bm}) & ({rn}[None, :] < {bn})"
    cm = w.bind("_gcm", f"{cm} & {on}" if on else cm)
    if g.accumulate:
        w.emit(f"{acc} = {acc} + tl.cast(tl.load({pc}, mask={cm}, other=0), {_tl(acc_dt)})")
    w.emit(f"tl.store({pc}, tl.cast({acc}, {_tl(dc)}), mask={cm})")
    if not grid:
        w.depth -= 3
    if g.c.buffer in w.loaded:
        w.emit("tl.debug_barrier()")


def render_copy(w: KernelWriter, s: L.Copy) -> None:
    """`dst[r, c] = src[r, c]` as BM x BN tiles of masked loads and stores in the current program
    (`stream` is a CPU hint: ignored)."""
    from .values import _tl, cast

    rows, cols = (w.bind("_cn", w.scalar(cast(w.expr(x), "int64"))) for x in (s.rows, s.cols))
    r0, c0 = w.fresh("_cr0"), w.fresh("_cc0")
    for var, stop, tile in ((r0, rows, "BM"), (c0, cols, "BN")):
        w.emit(f"for {var} in range(0, {stop}, {tile}):")
        w.depth += 1
    rr = w.bind("_crr", f"{r0} + tl.arange(0, BM)")
    rc = w.bind("_crc", f"{c0} + tl.arange(0, BN)")
    m = w.full_mask()
    cm = f"({rr}[:, None] < {rows}) & ({rc}[None, :] < {cols})"
    cm = w.bind("_ccm", f"{cm} & {w.lanes(m)}[:, None]" if m else cm)
    v = f"tl.load({_operand_ptr(w, s.src, rr, rc, '0')}, mask={cm})"
    dt = _tl(w.buffers[s.dst.buffer].dtype)
    w.emit(f"tl.store({_operand_ptr(w, s.dst, rr, rc, '0')}, tl.cast({v}, {dt}), mask={cm})")
    w.depth -= 2
    if s.dst.buffer in w.loaded:
        w.emit("tl.debug_barrier()")
