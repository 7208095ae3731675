"""`Copy` statements (a tile between two strided 2-d views) -> calls of a copy function defined
once per module and dtype pair:

    void @tc.copy.<dst>.<src>[.stream](ptr dst, i64 dsr, i64 dsc, ptr src, i64 ssr, i64 ssc,
                                       i64 rows, i64 cols)

With one float dtype on both sides (float32 / float64) and unit source column stride:
- destination column stride 1 (rows): each row in 16-byte vectors from its first 16-byte-aligned
  element on;
- destination row stride 1 (a transposed write, e.g. the mirror of a symmetric tile): L x L blocks
  (L = 16 bytes / element) are loaded as L source rows, transposed in registers by log2(L) rounds
  of interleaves (one `unpcklps`/`unpckhps` each on x86) and stored as L destination rows, a whole
  cache line of each destination row at a time. 16-byte vectors: their interleaves never cross a
  register half, and znver1 splits 32-byte ops anyway.
Anything else, and the edges of both paths, copy one element at a time (converting dtypes).

`stream` makes the vector stores non-temporal: they skip the read-for-ownership of lines that are
only written. On the 2-core VM the copies of a 4096^2 symmetric Gram (rows and mirror) took 5-6 ms
of one thread against 14-15 ms with plain stores, at either alignment of the output (16 or 64
bytes). They are weakly ordered, so the call ends with a fence.
"""

from __future__ import annotations

import platform

from llvmlite import ir

from tensorc.ir import loop_ir as L

from .codec import Codec, mem_type, reg_type
from .gemm import _base
from .mathlib import I64, declare

VECTOR_BYTES = 16
LINE_BYTES = 64
_FAST = {"float32": 4, "float64": 8}  # element bytes of the dtypes with a vector path


def emit_copy(r, s: L.Copy) -> None:
    """Emit a call for Copy `s` in kernel renderer `r`."""
    b = r.b

    def i64(e):
        return r.conv(r.expr(e), e.dtype, "int64")

    args, dts = [], []
    for op in (s.dst, s.src):
        ptr, dt = _base(r, op)
        base = b.gep(ptr, [i64(op.offset)], inbounds=True, source_etype=mem_type(dt))
        args += [base, i64(op.strides[1]), i64(op.strides[2])]
        dts.append(dt)
    b.call(_function(r.module, *dts, s.stream), [*args, i64(s.rows), i64(s.cols)])


def _function(module: ir.Module, dst_dt: str, src_dt: str, stream: bool) -> ir.Function:
    """The copy function for these dtypes in `module` (defined on first use)."""
    name = f"tc.copy.{dst_dt}.{src_dt}{'.stream' if stream else ''}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    ptr = ir.PointerType()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, I64, I64] * 2 + [I64] * 2), name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    for i in (0, 3):
        fn.args[i].add_attribute("noalias")
    entry_b = ir.IRBuilder(fn.append_basic_block("entry"))
    w = Codec(module, fn, ir.IRBuilder(fn.append_basic_block("body")), entry_b)
    _Copy(w, fn.args, dst_dt, src_dt, stream).emit()
    w.b.ret_void()
    entry_b.branch(fn.blocks[1])
    return fn


def _c(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


class _Copy:
    """The body of one copy function (see the module docstring)."""

    def __init__(self, w: Codec, args, dst_dt: str, src_dt: str, stream: bool):
        self.w, self.b = w, w.b
        self.dst, self.dsr, self.dsc, self.src, self.ssr, self.ssc, self.rows, self.cols = args
        self.dst_dt, self.src_dt, self.stream = dst_dt, src_dt, stream

    def emit(self) -> None:
        b, one = self.b, _c(1)
        if self.dst_dt != self.src_dt or self.dst_dt not in _FAST:
            self.scalar(_c(0), self.rows, _c(0), self.cols)
            return
        size = _FAST[self.dst_dt]
        unit_src = b.icmp_signed("==", self.ssc, one)
        rows_ok = b.and_(unit_src, b.icmp_signed("==", self.dsc, one))
        wide = b.icmp_signed("==", b.srem(b.mul(self.dsc, _c(size)), _c(VECTOR_BYTES)), _c(0))
        cols_ok = b.and_(b.and_(unit_src, b.icmp_signed("==", self.dsr, one)), wide)
        with b.if_else(rows_ok) as (rows_path, other):
            with rows_path:
                self.w.counted_loop(self.rows, self.row)
            with other, b.if_else(cols_ok) as (cols_path, rest):
                with cols_path:
                    self.transposed()
                with rest:
                    self.scalar(_c(0), self.rows, _c(0), self.cols)
        if self.stream:  # non-temporal stores are weakly ordered: x86's lock-or fence skips them
            if platform.machine().lower() in ("x86_64", "amd64"):
                b.call(declare(self.w.module, "llvm.x86.sse.sfence", ir.VoidType(), []), [])
            else:
                b.fence("seq_cst")

    # -- pieces --
    def at(self, base, dt: str, r, rs, c, cs) -> ir.Value:
        """Pointer to base[r * rs + c * cs]."""
        off = self.b.add(self.b.mul(r, rs), self.b.mul(c, cs))
        return self.b.gep(base, [off], inbounds=True, source_etype=mem_type(dt))

    def scalar(self, r0, r1, c0, c1) -> None:
        """dst[r, c] = src[r, c] for r in [r0, r1), c in [c0, c1), one element at a time."""
        w = self.w

        def put(r, c):
            v = w.load_mem(self.at(self.src, self.src_dt, r, self.ssr, c, self.ssc), self.src_dt)
            w.store_mem(w.conv(v, self.src_dt, self.dst_dt),
                        self.at(self.dst, self.dst_dt, r, self.dsr, c, self.dsc), self.dst_dt)

        w.counted_loop(r1, lambda r: w.counted_loop(c1, lambda c: put(r, c), start=c0), start=r0)

    def lanes(self) -> int:
        return VECTOR_BYTES // _FAST[self.dst_dt]

    def vector(self) -> ir.VectorType:
        return ir.VectorType(reg_type(self.dst_dt), self.lanes())

    def load(self, ptr) -> ir.Value:
        return self.b.load(ptr, typ=self.vector(), align=_FAST[self.dst_dt])

    def store(self, v, ptr) -> None:
        """An aligned vector store (non-temporal when streaming)."""
        st = self.b.store(v, ptr, align=VECTOR_BYTES)
        if self.stream:
            one = ir.Constant(ir.IntType(32), 1)
            st.set_metadata("nontemporal", self.w.module.add_metadata([one]))

    def aligned(self, ptr, n, unit: int = VECTOR_BYTES) -> tuple[ir.Value, ir.Value]:
        """(h, e): elements [h, e) of the n from `ptr` on are whole `unit`-aligned runs of `unit`
        bytes (h = e = n when `ptr` is not even element-aligned)."""
        b, size = self.b, _FAST[self.dst_dt]
        addr = b.ptrtoint(ptr, I64)
        skip = b.udiv(b.and_(b.sub(_c(0), addr), _c(unit - 1)), _c(size))
        skip = b.select(b.icmp_signed("==", b.and_(addr, _c(size - 1)), _c(0)), skip, n)
        h = b.select(b.icmp_signed("<", skip, n), skip, n)
        run = unit // size
        return h, b.add(h, b.mul(b.sdiv(b.sub(n, h), _c(run)), _c(run)))

    def row(self, r) -> None:
        """Row r of a plain copy: scalars up to the first aligned element, vectors, scalars."""
        drow = self.at(self.dst, self.dst_dt, r, self.dsr, _c(0), _c(1))
        srow = self.at(self.src, self.src_dt, r, self.ssr, _c(0), _c(1))
        h, e = self.aligned(drow, self.cols)
        r1 = self.b.add(r, _c(1))
        self.scalar(r, r1, _c(0), h)

        def vec(c):
            ptr = self.b.gep(drow, [c], inbounds=True, source_etype=mem_type(self.dst_dt))
            src = self.b.gep(srow, [c], inbounds=True, source_etype=mem_type(self.src_dt))
            self.store(self.load(src), ptr)

        self.w.counted_loop(e, vec, start=h, step=self.lanes())
        self.scalar(r, r1, e, self.cols)

    def transposed(self) -> None:
        """dst[r, c] with unit row stride, by blocks of `lanes` columns (the outer loop). Its rows
        from the first to the last 16-byte boundary are `blocks`, a cache line's worth of rows at
        a time where whole lines fit; the others are scalars."""
        b, n = self.b, self.lanes()
        h, e = self.aligned(self.dst, self.rows)
        start = b.gep(self.dst, [h], inbounds=True, source_etype=mem_type(self.dst_dt))
        lh, le = self.aligned(start, b.sub(e, h), LINE_BYTES)
        lh, le = b.add(h, lh), b.add(h, le)
        cend = b.mul(b.sdiv(self.cols, _c(n)), _c(n))
        per_line = LINE_BYTES // VECTOR_BYTES

        def column_block(c0):
            loop = self.w.counted_loop
            loop(lh, lambda r0: self.blocks(c0, r0, 1), start=h, step=n)
            loop(le, lambda r0: self.blocks(c0, r0, per_line), start=lh, step=n * per_line)
            loop(e, lambda r0: self.blocks(c0, r0, 1), start=le, step=n)

        self.w.counted_loop(cend, column_block, step=n)
        self.scalar(_c(0), h, _c(0), self.cols)
        self.scalar(e, self.rows, _c(0), self.cols)
        self.scalar(h, e, cend, self.cols)

    def blocks(self, c0, r0, count: int) -> None:
        """Rows [r0, r0 + count * lanes) of columns [c0, c0 + lanes): `count` lanes x lanes blocks
        transposed in registers, then each destination row written in consecutive stores.
        Streaming stores combine in a line only while it is written without interruption:
        writing 16 bytes to each of `lanes` rows in turn measured 6x slower than a line at once."""
        b, n = self.b, self.lanes()
        cols = []  # cols[q][k]: column c0 + k of the q-th block
        for q in range(count):
            rows = [self.at(self.src, self.src_dt, b.add(r0, _c(q * n + p)), self.ssr, c0, _c(1))
                    for p in range(n)]
            cols.append(_transpose(b, [self.load(x) for x in rows]))
        for k in range(n):
            for q in range(count):
                ptr = self.at(self.dst, self.dst_dt, b.add(r0, _c(q * n)), _c(1),
                              b.add(c0, _c(k)), self.dsc)
                self.store(cols[q][k], ptr)


def _transpose(b: ir.IRBuilder, rows: list[ir.Value]) -> list[ir.Value]:
    """The columns of the n x n block whose rows are `rows`: log2(n) rounds that interleave row i
    with row i + n/2 (low halves, then high halves)."""
    n = len(rows)
    i32 = ir.IntType(32)
    lo = ir.Constant(ir.VectorType(i32, n), [k + o for k in range(n // 2) for o in (0, n)])
    hi = ir.Constant(ir.VectorType(i32, n), [k + n // 2 + o for k in range(n // 2) for o in (0, n)])
    for _ in range(n.bit_length() - 1):
        half = n // 2
        rows = [b.shuffle_vector(rows[i], rows[i + half], m) for i in range(half) for m in (lo, hi)]
    return rows
