"""The Gemm routines' bodies (see gemm.py for the design): `routine_ir(name)` is the LLVM IR text of
the module defining routine `name`; build.py compiles it once per machine and links it once per
process. Kernel modules never include it, they call the routine declared by `gemm.emit_gemm`.
"""

from __future__ import annotations

from llvmlite import ir

from .codec import Codec, mem_type, reg_type
from .gemm import DOT_N, IN_PLACE_B_ROWS, KC, MC, NC, ROUTINE_PREFIX, _c, _declare, blocking
from .mathlib import I1, I64, declare, type_suffix


def routine_ir(name: str) -> str:
    """LLVM IR text of a module defining the Gemm routine `name` (see `routine_name`)."""
    assert name.startswith(ROUTINE_PREFIX), name
    *dts, compute = name[len(ROUTINE_PREFIX):].split(".")
    assert len(dts) == 3, name
    module = ir.Module(name=name)
    fn = _declare(module, name, compute)
    entry = fn.append_basic_block("entry")
    entry_b = ir.IRBuilder(entry)
    b = ir.IRBuilder(fn.append_basic_block("body"))
    w = Codec(module, fn, b, entry_b)
    if compute in ("float32", "float64"):
        _packed_body(w, fn, dts, compute)
    else:
        _naive_body(w, fn, dts, compute)
    w.b.ret_void()
    entry_b.branch(fn.blocks[1])
    return str(module)


def _operand(fn, i):
    a = fn.args[4 * i: 4 * i + 4]
    return a[0], a[1], a[2], a[3]


def _at(w, base, dt, *terms):
    """Pointer to base[sum(x * stride)]."""
    off = None
    for x, st in terms:
        t = w.b.mul(x, st)
        off = t if off is None else w.b.add(off, t)
    return w.b.gep(base, [off], inbounds=True, source_etype=mem_type(dt))


def _min(w, a, b):
    return w.b.select(w.b.icmp_signed("<", a, b), a, b)


def _naive_body(w: Codec, fn, dts, compute):
    """c[b,i,j] (+)= alpha * sum_p a[b,i,p] * b[b,p,j] for integer/bool compute dtypes."""
    (C, csb, csr, csc), (A, asb, asr, asc), (B, bsb, bsr, bsc) = (_operand(fn, i) for i in range(3))
    batch, m, n, k, alpha, accumulate = fn.args[12:]
    ct = reg_type(compute)
    acc = w.entry_b.alloca(ct)

    def cell(bi, i, j):
        w.b.store(ir.Constant(ct, 0), acc)

        def kstep(p):
            av = w.conv(w.load_mem(_at(w, A, dts[1], (bi, asb), (i, asr), (p, asc)), dts[1]),
                        dts[1], compute)
            bv = w.conv(w.load_mem(_at(w, B, dts[2], (bi, bsb), (p, bsr), (j, bsc)), dts[2]),
                        dts[2], compute)
            prod = w.b.and_(av, bv) if ct == I1 else w.b.mul(av, bv)
            old = w.b.load(acc, typ=ct)
            w.b.store(w.b.or_(old, prod) if ct == I1 else w.b.add(old, prod), acc)

        w.counted_loop(k, kstep)
        val = w.b.load(acc, typ=ct)
        val = w.b.and_(val, alpha) if ct == I1 else w.b.mul(val, alpha)
        cp = _at(w, C, dts[0], (bi, csb), (i, csr), (j, csc))
        old = w.conv(w.load_mem(cp, dts[0]), dts[0], compute)
        summed = w.b.or_(old, val) if ct == I1 else w.b.add(old, val)
        val = w.b.select(accumulate, summed, val)
        w.store_mem(w.conv(val, compute, dts[0]), cp, dts[0])

    w.counted_loop(batch, lambda bi: w.counted_loop(
        m, lambda i: w.counted_loop(n, lambda j: cell(bi, i, j))))


def _packed_body(w: Codec, fn, dts, compute):
    (C, csb, csr, csc), (A, asb, asr, asc), (B, bsb, bsr, bsc) = (_operand(fn, i) for i in range(3))
    batch, m, n, k, alpha, accumulate = fn.args[12:]
    ct = reg_type(compute)
    mr, vw = blocking(compute)
    nr = 2 * vw
    zero = ir.Constant(ct, 0.0)
    ap = w.entry_b.alloca(ct, size=_c(MC * KC), name="apack")
    bp = w.entry_b.alloca(ct, size=_c(KC * NC), name="bpack")
    tile = w.entry_b.alloca(ct, size=_c(mr * nr), name="tile")
    for a in (ap, bp, tile):
        a.align = 64
    ukernel = _micro_kernel(w.module, compute)
    ukernel_c = _micro_kernel(w.module, compute, direct=True)
    b = w.b
    # few rows: B is read by few row panels, so full panels are read in place, not packed
    in_place_b = b.and_(b.icmp_signed("<=", m, _c(IN_PLACE_B_ROWS)),
                        b.icmp_signed("==", bsc, _c(1))) if dts[2] == compute else ir.Constant(I1, 0)

    def elem(base, idx):
        return w.b.gep(base, [idx], inbounds=True, source_etype=ct)

    # k == 0 and not accumulating: C = 0 (the k-block loop below never runs)
    def zero_c():
        def cell(bi, i, j):
            w.store_mem(w.conv(zero, compute, dts[0]),
                        _at(w, C, dts[0], (bi, csb), (i, csr), (j, csc)), dts[0])

        w.counted_loop(batch, lambda bi: w.counted_loop(
            m, lambda i: w.counted_loop(n, lambda j: cell(bi, i, j))))

    need_zero = b.and_(b.icmp_signed("<=", k, _c(0)), b.not_(accumulate))
    with b.if_then(need_zero):
        zero_c()

    def per_batch(bi):
        def per_jc(jc):
            nc = _min(w, _c(NC), w.b.sub(n, jc))

            def per_pc(pc):
                kc = _min(w, _c(KC), w.b.sub(k, pc))
                first = w.b.and_(w.b.icmp_signed("==", pc, _c(0)), w.b.not_(accumulate))
                # pack B[pc:pc+kc, jc:jc+nc] into KC x NR panels (zero-padded columns)
                def pack_b(jp):
                    full = w.b.icmp_signed("<=", w.b.add(jp, _c(nr)), nc)
                    with w.b.if_else(full) as (then, otherwise):
                        with then, w.b.if_then(w.b.not_(in_place_b)):
                            _pack_full(w, bp, w.b.mul(jp, kc), kc, nr, B, dts[2], compute,
                                       (bi, bsb), (pc, bsr), (w.b.add(jc, jp), bsc))
                        with otherwise:
                            _pack_edge(w, bp, w.b.mul(jp, kc), kc, nr, B, dts[2], compute,
                                       (bi, bsb), (pc, bsr), (w.b.add(jc, jp), bsc), n)

                w.counted_loop(nc, pack_b, step=nr)

                def per_ic(ic):
                    mc = _min(w, _c(MC), w.b.sub(m, ic))

                    def pack_a(ip):
                        full = w.b.icmp_signed("<=", w.b.add(ip, _c(mr)), mc)
                        with w.b.if_else(full) as (then, otherwise):
                            with then:
                                _pack_full(w, ap, w.b.mul(ip, kc), kc, mr, A, dts[1], compute,
                                           (bi, asb), (pc, asc), (w.b.add(ic, ip), asr))
                            with otherwise:
                                _pack_edge(w, ap, w.b.mul(ip, kc), kc, mr, A, dts[1], compute,
                                           (bi, asb), (pc, asc), (w.b.add(ic, ip), asr), m)

                    w.counted_loop(mc, pack_a, step=mr)

                    def per_jr(jr):
                        def per_ir(ir_):
                            rows = _min(w, _c(mr), w.b.sub(mc, ir_))
                            cols = _min(w, _c(nr), w.b.sub(nc, jr))
                            apan, bpan = elem(ap, w.b.mul(ir_, kc)), elem(bp, w.b.mul(jr, kc))
                            ldb = _c(nr)
                            if dts[2] == compute:
                                here = w.b.and_(in_place_b, w.b.icmp_signed("==", cols, _c(nr)))
                                bsrc = _at(w, B, compute, (bi, bsb), (pc, bsr),
                                           (w.b.add(jc, jr), _c(1)))
                                bpan = w.b.select(here, bsrc, bpan)
                                ldb = w.b.select(here, bsr, ldb)
                            if dts[0] != compute:
                                w.b.call(ukernel, [kc, apan, bpan, ldb, tile])
                                write_edge(ir_, rows, cols)
                                return
                            # a whole MR x NR block of unit column stride: straight into C
                            whole = w.b.and_(w.b.icmp_signed("==", rows, _c(mr)),
                                             w.b.and_(w.b.icmp_signed("==", cols, _c(nr)),
                                                      w.b.icmp_signed("==", csc, _c(1))))
                            with w.b.if_else(whole) as (then, otherwise):
                                with then:
                                    cp = _at(w, C, compute, (bi, csb), (w.b.add(ic, ir_), csr),
                                             (w.b.add(jc, jr), _c(1)))
                                    w.b.call(ukernel_c, [kc, apan, bpan, ldb, cp, csr, alpha,
                                                         first])
                                with otherwise:
                                    w.b.call(ukernel, [kc, apan, bpan, ldb, tile])
                                    tile_to_c(ir_, rows, cols)

                        def tile_to_c(ir_, rows, cols):  # full-width rows: vectors
                            full = w.b.and_(w.b.icmp_signed("==", cols, _c(nr)),
                                            w.b.icmp_signed("==", csc, _c(1)))
                            with w.b.if_else(full) as (then, otherwise):
                                with then:
                                    _write_full(w, tile, rows, C, compute, vw, alpha, first,
                                                (bi, csb), (w.b.add(ic, ir_), csr),
                                                w.b.add(jc, jr))
                                with otherwise:
                                    write_edge(ir_, rows, cols)

                        def write_edge(ir_, rows, cols):
                            def wrow(rr):
                                def wcol(cc):
                                    t = w.b.load(elem(tile, w.b.add(w.b.mul(rr, _c(nr)), cc)),
                                                 typ=ct)
                                    t = w.b.fmul(t, alpha)
                                    i = w.b.add(w.b.add(ic, ir_), rr)
                                    j = w.b.add(w.b.add(jc, jr), cc)
                                    cp = _at(w, C, dts[0], (bi, csb), (i, csr), (j, csc))
                                    old = w.conv(w.load_mem(cp, dts[0]), dts[0], compute)
                                    v = w.b.select(first, t, w.b.fadd(old, t))
                                    w.store_mem(w.conv(v, compute, dts[0]), cp, dts[0])

                                w.counted_loop(cols, wcol)

                            w.counted_loop(rows, wrow)

                        w.counted_loop(mc, per_ir, step=mr)

                    w.counted_loop(nc, per_jr, step=nr)

                w.counted_loop(m, per_ic, step=MC)

            w.counted_loop(k, per_pc, step=KC)

        w.counted_loop(n, per_jc, step=NC)

    if dts[1] != compute:
        w.counted_loop(batch, per_batch)
        return
    narrow = b.and_(b.icmp_signed("<=", n, _c(DOT_N)), b.icmp_signed("==", asc, _c(1)))
    with w.b.if_else(narrow) as (then, otherwise):
        with then:
            _dot_products(w, fn, dts, compute)
        with otherwise:
            w.counted_loop(batch, per_batch)


def _dot_products(w: Codec, fn, dts, compute: str) -> None:
    """The Gemm for n <= DOT_N with A contiguous along k (A of the compute dtype): each C element
    is one dot product of an A row with a B column (B^T packed once per KC block of k), vectors
    along k. A micro-kernel panel would be 16 columns wide with at most DOT_N of them used."""
    (C, csb, csr, csc), (A, asb, asr, _), (B, bsb, bsr, bsc) = (_operand(fn, i) for i in range(3))
    batch, m, n, k, alpha, accumulate = fn.args[12:]
    ct = reg_type(compute)
    vw = blocking(compute)[1]
    vt = ir.VectorType(ct, vw)
    align = 4 if compute == "float32" else 8
    bt = w.entry_b.alloca(ct, size=_c(DOT_N * KC), name="btpack")
    bt.align = 64
    vacc = [w.entry_b.alloca(vt, name=f"vacc{j}") for j in range(DOT_N)]
    sacc = [w.entry_b.alloca(ct, name=f"sacc{j}") for j in range(DOT_N)]
    vfma = declare(w.module, f"llvm.fma.{type_suffix(vt)}", vt, [vt, vt, vt])
    sfma = declare(w.module, f"llvm.fma.{type_suffix(ct)}", ct, [ct, ct, ct])
    end = w.fn.append_basic_block("dot.end")
    cases = [w.fn.append_basic_block(f"dot.n{nj}") for nj in range(1, DOT_N + 1)]
    switch = w.b.switch(n, end)
    for nj, block in enumerate(cases, 1):
        switch.add_case(_c(nj), block)
        w.b.position_at_end(block)

        def per_pc(bi, pc, nj=nj):
            kc = _min(w, _c(KC), w.b.sub(k, pc))
            first = w.b.and_(w.b.icmp_signed("==", pc, _c(0)), w.b.not_(accumulate))
            for j in range(nj):  # bt[j][p] = B[pc + p, j]
                w.counted_loop(kc, lambda p, j=j: w.b.store(
                    w.conv(w.load_mem(_at(w, B, dts[2], (bi, bsb), (w.b.add(pc, p), bsr),
                                          (_c(j), bsc)), dts[2]), dts[2], compute),
                    w.b.gep(bt, [w.b.add(_c(j * KC), p)], inbounds=True, source_etype=ct)))
            w.counted_loop(m, lambda i: row(bi, pc, kc, first, i, nj))

        def row(bi, pc, kc, first, i, nj):
            arow = _at(w, A, compute, (bi, asb), (i, asr), (pc, _c(1)))
            for j in range(nj):
                w.b.store(ir.Constant(vt, [0.0] * vw), vacc[j])
                w.b.store(ir.Constant(ct, 0.0), sacc[j])

            def vstep(p):
                av = w.b.load(w.b.gep(arow, [p], inbounds=True, source_etype=ct), typ=vt,
                              align=align)
                for j in range(nj):
                    bv = w.b.load(w.b.gep(bt, [w.b.add(_c(j * KC), p)], inbounds=True,
                                          source_etype=ct), typ=vt, align=align)
                    w.b.store(w.b.call(vfma, [av, bv, w.b.load(vacc[j], typ=vt)]), vacc[j])

            def sstep(p):
                a = w.b.load(w.b.gep(arow, [p], inbounds=True, source_etype=ct), typ=ct)
                for j in range(nj):
                    bv = w.b.load(w.b.gep(bt, [w.b.add(_c(j * KC), p)], inbounds=True,
                                          source_etype=ct), typ=ct)
                    w.b.store(w.b.call(sfma, [a, bv, w.b.load(sacc[j], typ=ct)]), sacc[j])

            w.counted_loop(w.b.sub(kc, _c(vw - 1)), vstep, step=vw)
            w.counted_loop(kc, sstep, start=w.b.and_(kc, _c(-vw)))
            for j in range(nj):
                t = w.b.fadd(_hsum(w.b, w.b.load(vacc[j], typ=vt)), w.b.load(sacc[j], typ=ct))
                t = w.b.fmul(t, alpha)
                cp = _at(w, C, dts[0], (bi, csb), (i, csr), (_c(j), csc))
                old = w.conv(w.load_mem(cp, dts[0]), dts[0], compute)
                v = w.b.select(first, t, w.b.fadd(old, t))
                w.store_mem(w.conv(v, compute, dts[0]), cp, dts[0])

        w.counted_loop(batch, lambda bi: w.counted_loop(k, lambda pc: per_pc(bi, pc), step=KC))
        w.b.branch(end)
    w.b.position_at_end(end)


def _hsum(b: ir.IRBuilder, v: ir.Value) -> ir.Value:
    """The sum of a vector's lanes, by halves."""
    n = v.type.count
    i32 = ir.IntType(32)
    while n > 1:
        n //= 2
        undef = ir.Constant(v.type, None)
        lo = b.shuffle_vector(v, undef, ir.Constant(ir.VectorType(i32, n), list(range(n))))
        hi = b.shuffle_vector(v, undef, ir.Constant(ir.VectorType(i32, n), list(range(n, 2 * n))))
        v = b.fadd(lo, hi)
    return b.extract_element(v, ir.Constant(i32, 0))


def _pack_edge(w: Codec, dst, start, kc, width: int, src, dt: str, compute: str, batch, kdim,
               wdim, limit) -> None:
    """`_pack_full` for the last panel: dst[start + p*width + q] = src[batch, kdim0 + p, wdim0 + q],
    zero where wdim0 + q >= limit (the padding the micro-kernel multiplies by)."""
    (bi, sb), (k0, sk), (w0, sw) = batch, kdim, wdim
    ct = reg_type(compute)
    zero = ir.Constant(ct, 0.0)

    def row(p):
        def col(q):
            j = w.b.add(w0, q)
            inside = w.b.icmp_signed("<", j, limit)
            v = w.conv(w.load_mem(_at(w, src, dt, (bi, sb), (w.b.add(k0, p), sk),
                                      (w.b.select(inside, j, _c(0)), sw)), dt), dt, compute)
            idx = w.b.add(start, w.b.add(w.b.mul(p, _c(width)), q))
            w.b.store(w.b.select(inside, v, zero),
                      w.b.gep(dst, [idx], inbounds=True, source_etype=ct))

        w.counted_loop(_c(width), col)

    w.counted_loop(kc, row)


def _pack_full(w: Codec, dst, start, kc, width: int, src, dt: str, compute: str, batch, kdim,
               wdim) -> None:
    """dst[start + p*width + q] = src[batch, kdim0 + p, wdim0 + q] for p < kc, q < width: a full
    panel (no padding). Loops run along whichever of the two source strides is 1."""
    (bi, sb), (k0, sk), (w0, sw) = batch, kdim, wdim
    ct = reg_type(compute)
    b = w.b
    base = _at(w, src, dt, (bi, sb), (k0, sk), (w0, sw))

    def value(p, q):
        ptr = _at(w, base, dt, (p, sk), (q, sw))
        return w.conv(w.load_mem(ptr, dt), dt, compute)

    def put(p, q, v):
        idx = w.b.add(start, w.b.add(w.b.mul(p, _c(width)), q))
        w.b.store(v, w.b.gep(dst, [idx], inbounds=True, source_etype=ct))

    def unit_rows(p):  # a row of `width` contiguous elements: whole vectors
        vt = ir.VectorType(ct, width)
        align = 4 if compute == "float32" else 8
        src_p = _at(w, base, dt, (p, sk))
        v = w.b.load(src_p, typ=vt, align=align)
        idx = w.b.add(start, w.b.mul(p, _c(width)))
        ptr = w.b.bitcast(w.b.gep(dst, [idx], inbounds=True, source_etype=ct), ir.PointerType(vt))
        w.b.store(v, ptr, align=align)

    # k contiguous (a transposed panel, or A rows): p innermost; otherwise q innermost
    with b.if_else(b.icmp_signed("==", sk, _c(1))) as (then, otherwise):
        with then:  # one p step fills a whole panel row: the vectoriser sees `width` streams
            w.counted_loop(kc, lambda p: [put(p, _c(q), value(p, _c(q))) for q in range(width)])
        with otherwise:
            if dt == compute:
                with w.b.if_else(w.b.icmp_signed("==", sw, _c(1))) as (vec, gen):
                    with vec:
                        w.counted_loop(kc, unit_rows)
                    with gen:
                        w.counted_loop(kc, lambda p: w.counted_loop(
                            _c(width), lambda q: put(p, q, value(p, q))))
            else:
                w.counted_loop(kc, lambda p: w.counted_loop(
                    _c(width), lambda q: put(p, q, value(p, q))))


def _write_full(w: Codec, tile, rows, C, compute: str, vw: int, alpha, first, batch, row0,
                col0) -> None:
    """C[batch, row0 + rr, col0 : col0 + 2*vw] (+)= alpha * tile[rr] for rr < rows, in vectors
    (C holds the compute dtype with unit column stride)."""
    ct = reg_type(compute)
    vt = ir.VectorType(ct, vw)
    nr = 2 * vw
    align = 4 if compute == "float32" else 8
    undef = ir.Constant(vt, None)
    splat = ir.Constant(ir.VectorType(ir.IntType(32), vw), [0] * vw)
    b = w.b
    av = b.shuffle_vector(b.insert_element(undef, alpha, ir.Constant(ir.IntType(32), 0)), undef,
                          splat)
    (bi, sb), (r0, sr) = batch, row0

    def wrow(rr):
        crow = _at(w, C, compute, (bi, sb), (w.b.add(r0, rr), sr), (col0, _c(1)))
        for h in range(2):
            t = w.b.load(w.b.gep(tile, [w.b.add(w.b.mul(rr, _c(nr)), _c(h * vw))], inbounds=True,
                                 source_etype=ct), typ=vt, align=align)
            t = w.b.fmul(t, av)
            cp = w.b.gep(crow, [_c(h * vw)], inbounds=True, source_etype=ct)
            old = w.b.load(cp, typ=vt, align=align)
            w.b.store(w.b.select(first, t, w.b.fadd(old, t)), cp, align=align)

    w.counted_loop(rows, wrow)


def _micro_kernel(module: ir.Module, compute: str, direct: bool = False) -> ir.Function:
    """tile[MR][NR] = sum_p ap[p][0:MR] outer bp[p*ldb : p*ldb + NR] with MR x 2 vector
    accumulators (ldb = NR for a packed panel, B's row stride for one read in place).

    `direct`: (kc, ap, bp, ldb, c, ldc, alpha, first) writes c[r*ldc + 0:NR] = alpha * acc[r]
    (+ c[...] unless `first`) instead: C of the compute dtype, unit column stride.
    """
    name = f"tc.ukernel{'.c' if direct else ''}.{compute}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    ct = reg_type(compute)
    mr, vw = blocking(compute)
    nr = 2 * vw
    vt = ir.VectorType(ct, vw)
    ptr = ir.PointerType()
    extra = [I64, ct, I1] if direct else []
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64, ptr, ptr, I64, ptr, *extra]),
                     name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    kc, ap, bp, ldb, tile = fn.args[:5]
    entry, loop, done = (fn.append_basic_block(x) for x in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    vzero = ir.Constant(vt, [0.0] * vw)
    fma = declare(module, f"llvm.fma.{type_suffix(vt)}", vt, [vt, vt, vt])
    align = 4 if compute == "float32" else 8  # numpy buffers: element alignment only
    b.branch(loop)
    b.position_at_end(loop)
    p = b.phi(I64)
    p.add_incoming(_c(0), entry)
    accs = [[b.phi(vt) for _ in range(2)] for _ in range(mr)]
    for row in accs:
        for a in row:
            a.add_incoming(vzero, entry)
    bbase = b.gep(bp, [b.mul(p, ldb)], inbounds=True, source_etype=ct)
    bv = [b.load(b.gep(bbase, [_c(h * vw)], inbounds=True, source_etype=ct), typ=vt, align=align)
          for h in range(2)]
    abase = b.gep(ap, [b.mul(p, _c(mr))], inbounds=True, source_etype=ct)
    undef = ir.Constant(vt, None)
    mask = ir.Constant(ir.VectorType(ir.IntType(32), vw), [0] * vw)
    new = []
    for rr in range(mr):
        a = b.load(b.gep(abase, [_c(rr)], inbounds=True, source_etype=ct), typ=ct, align=align)
        av = b.shuffle_vector(b.insert_element(undef, a, ir.Constant(ir.IntType(32), 0)), undef,
                              mask)
        new.append([b.call(fma, [av, bv[h], accs[rr][h]]) for h in range(2)])
    pn = b.add(p, _c(1), flags=["nsw"])
    p.add_incoming(pn, loop)
    for rr in range(mr):
        for h in range(2):
            accs[rr][h].add_incoming(new[rr][h], loop)
    b.cbranch(b.icmp_signed("<", pn, kc), loop, done)
    b.position_at_end(done)
    if direct:
        ldc, alpha, first = fn.args[5:]
        av = b.shuffle_vector(b.insert_element(undef, alpha, ir.Constant(ir.IntType(32), 0)),
                              undef, mask)
    for rr in range(mr):
        for h in range(2):
            if not direct:
                dst = b.gep(tile, [_c(rr * nr + h * vw)], inbounds=True, source_etype=ct)
                b.store(new[rr][h], dst, align=align)
                continue
            off = b.add(b.mul(_c(rr), ldc), _c(h * vw))
            dst = b.gep(tile, [off], inbounds=True, source_etype=ct)
            v = b.fmul(new[rr][h], av)
            old = b.load(dst, typ=vt, align=align)
            b.store(b.select(first, v, b.fadd(old, v)), dst, align=align)
    b.ret_void()
    return fn
