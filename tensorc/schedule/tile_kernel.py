"""Lowering of tile sums (tiles.py recognises them): `lower_tiles` emits one kernel per group of
statements that share rows, columns, mask and a dot product (the attention gradient's dk and dv),
after computing any heavy row or column value (a logsumexp of dot products) by its own kernel.
"""

from __future__ import annotations

import os

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.ops import reduce_identity
from tensorc.ir.tir_utils import alpha_key, free_indices, reads, substitute, walk
from tensorc.ir.types import compute_dtype
from tensorc.passes.costs import volume
from tensorc.schedule.attention import BlockBuilder
from tensorc.schedule.lexpr import as_dtype, const, iadd, imin, isub, sym_to_lexpr
from tensorc.schedule.nest import Level, Nest
from tensorc.schedule.operands import scalar_alpha
from tensorc.schedule.tiles import (
    NOT_TILES,
    TileSum,
    match,
    roles,
    tile_key,
    transposed_key,
    unique_tiles,
)


def lower_tiles(pb, k: int, st: T.Statement) -> bool:
    """Emit the tile kernel for `st` (see the module docstring), fused with the later statements
    that are tile sums over the same rows, columns and mask (their shared dot products computed
    once: the attention gradient's dk and dv); those are added to `pb.skip`. False if no match."""
    sizes = {**dict(pb.schedule.plan_sizes), **pb.spec}
    m = match(pb.def_, st, sizes)
    label = f"statement {k + 1} ({st.tensor})"
    if isinstance(m, str):
        if m != NOT_TILES:
            pb.notes.append(f"{label}: dot products not computed as tiles: {m}")
        return False
    group = [(k, st, m)] + (_siblings(pb, k, st, m, sizes) if m.v is not None else [])
    for n, s, x in group:
        _materialise(pb, n, s, x)
    trans = _transposed(pb, k, st, m, group, sizes) if m.v is not None else []
    names = pb.names()
    with pb.declaring_temps():
        nest = Nest(pb.def_, pb.schedule, names, pb.spec, [])
        body = TileKernel(pb, st, m, nest, names, group, trans).kernel()
    if body is None:
        pb.notes.append(f"{label}: dot products not computed as tiles: its mask gives no j bounds "
                        f"for a block of rows")  # fmt: skip
        return False
    bm, bn = pb.schedule.flash_blocks
    notes = []
    for n, s, x in group:
        what = f"sum of G * {x.v.tensor}" if x.v is not None else f"{x.reduce.op} of G"
        notes.append(f"statement {n + 1} ({s.tensor}): {what} over {x.j} computed tile by tile "
                     f"(BM={bm}, BN={bn}): {len(x.tiles)} dot product(s) of G as Gemm tiles, "
                     f"never stored")  # fmt: skip
        if x.rows or x.cols:
            notes.append(f"statement {n + 1} ({s.tensor}): {len(x.rows)} row and {len(x.cols)} "
                         f"column value(s) of G computed once per block")  # fmt: skip
    if len(group) > 1:
        shared = len(m.tiles) + sum(len(x.tiles) for _, _, x in group[1:]) - len(unique_tiles(group))
        notes.append(f"{label}: fused with " + ", ".join(f"statement {n + 1} ({s.tensor})"
                     for n, s, _ in group[1:]) + f" in one pass ({shared} dot product tile(s) "
                     f"shared)")  # fmt: skip
        pb.skip.update(n for n, _, _ in group[1:])
    for n, s, x, host in trans:
        notes.append(f"statement {n + 1} ({s.tensor}): its G is statement {group[host][0] + 1}'s "
                     f"transposed: accumulated into {s.tensor} by a Gemm of each G tile in the "
                     f"same pass (one iteration per batch owns its rows; i-blocks in order)")  # fmt: skip
        pb.skip.add(n)
    if m.mask:
        notes.append(f"{label}: index mask turned into j-block bounds and per-row column bounds")
    pb.kernel(body, notes)
    return True

# a statement that reads a group's G transposed is fused only when the batches alone give each
# core this many parallel iterations (B1 H8 on 2 cores: 4)
TRANSPOSED_MIN_UNITS = 4


def _heavy(r: T.Reduce) -> bool:
    """A side value that costs a pass of its own: a reduction holding another one."""
    return any(isinstance(x, T.Reduce) for x in walk(r.body))


def _materialise(pb, k: int, st: T.Statement, m: TileSum) -> None:
    """Compute every heavy row or column value of `m` (a reduction holding another one: the
    attention gradient's logsumexp of dot products, read by dq alone) first, by its own kernel,
    into a vector temp that G reads instead: per block it would cost a full pass."""
    ranges = {g.index: g for g in (*st.domain, *m.reduce.ranges)}
    for kind, values in (("row", m.rows), ("col", m.cols)):
        for n in reversed(range(len(values))):
            r = values[n]
            idx = [x for x in (*st.indices, m.j) if x in free_indices(r)]
            if not _heavy(r) or any(not T.is_zero(ranges[x].lo) for x in idx):
                continue
            shape = [ranges[x].hi for x in idx]
            key = (alpha_key(substitute(r, {x: T.Index(f"%P{n}") for n, x in enumerate(idx)})),
                   tuple(map(str, shape)))  # fmt: skip
            name = pb.shared.get(key)
            if name is None:  # not computed for an earlier statement yet
                name = pb.shared[key] = pb.add_temp(f"{st.tensor}_side", r.dtype, shape)
                with pb.declaring_temps():
                    side = T.Statement(name, tuple(idx), tuple(ranges[x] for x in idx), r)
                    pb.statement(k, side)
            # G reads the vector; later values of this kind move down one placeholder
            ren = {f"%{kind}{n}": T.Access(name, tuple(T.Index(x) for x in idx), r.dtype)}
            ren |= {f"%{kind}{x}": T.Index(f"%{kind}{x - 1}", values[x].dtype)
                    for x in range(n + 1, len(values))}  # fmt: skip
            m.g = substitute(m.g, ren)
            del values[n]
            pb.notes.append(f"statement {k + 1} ({st.tensor}): a reduction of dot products read "
                            f"by every block computed first into {name}")  # fmt: skip


def _siblings(pb, k: int, st: T.Statement, m: TileSum, sizes) -> list:
    """Later statements to compute in the same kernel as `st`: tile sums with a value tensor and
    the same roles, sharing a dot product with it, independent of `st` and of the statements
    they would move past."""
    body = pb.def_.body
    out, moved_past = [], []
    want = roles(st, m)
    keys = {tile_key(t, m) for t in m.tiles}
    for n in range(k + 1, len(body)):
        s = body[n]
        x = match(pb.def_, s, sizes) if n not in pb.skip else NOT_TILES
        group = [st] + [g for _, g, _ in out]
        ok = not isinstance(x, str) and x.v is not None and roles(s, x) == want
        ok = ok and bool(keys & {tile_key(t, x) for t in x.tiles})
        ok = ok and _independent(s, group + moved_past)
        if ok:
            out.append((n, s, x))
        else:
            moved_past.append(s)
    return out


def _transposed(pb, k: int, st: T.Statement, m: TileSum, group: list, sizes) -> list:
    """Later statements whose G is a group member's G transposed (the attention gradient's dq
    against dk): (number, statement, roles, member) for each. Their Gemms accumulate into their
    output from every block, so one parallel iteration must own a batch: only when the batches
    alone feed the threads (>= TRANSPOSED_MIN_UNITS per core)."""
    if volume([g for g in st.domain if g.index in m.batch], sizes) < _units_needed():
        return []
    hd, hr = {g.index: g for g in st.domain}, m.reduce.ranges[0]
    t = compute_dtype(m.reduce.dtype)
    keys = [transposed_key(x) for _, _, x in group]
    writes = [s.tensor for s in pb.def_.body]
    out, moved_past = [], []
    taken = {n for n, _, _ in group}
    for n in range(k + 1, len(pb.def_.body)):
        s = pb.def_.body[n]
        if n in taken or n in pb.skip:
            continue
        x = match(pb.def_, s, sizes)
        ok = not isinstance(x, str) and x.v is not None and writes.count(s.tensor) == 1
        if ok:
            xd, xr = {g.index: g for g in s.domain}, x.reduce.ranges[0]
            ok = (T.is_zero(hr.lo) and T.is_zero(xr.lo) and str(xd[x.i].hi) == str(hr.hi)
                  and str(xr.hi) == str(hd[m.i].hi)
                  and [str(xd[b].hi) for b in x.batch] == [str(hd[b].hi) for b in m.batch]
                  and pb.def_.tensor(s.tensor).dtype == t
                  and transposed_key(x, swap=True) in keys)  # fmt: skip
        others = [g for _, g, _ in group] + [g for _, g, _, _ in out] + moved_past
        if ok and _independent(s, others):
            out.append((n, s, x, keys.index(transposed_key(x, swap=True))))
        else:
            moved_past.append(s)
    return out


def _units_needed() -> int:
    return TRANSPOSED_MIN_UNITS * (os.cpu_count() or 1)


def _independent(s: T.Statement, others: list[T.Statement]) -> bool:
    """Whether `s` neither reads nor writes what `others` write, nor writes what they read."""
    mine = {a.tensor for e in (s.rhs, s.mask) if e is not None for a, _ in reads(e)}
    for o in others:
        theirs = {a.tensor for e in (o.rhs, o.mask) if e is not None for a, _ in reads(e)}
        if o.tensor in mine or o.tensor == s.tensor or s.tensor in theirs:
            return False
    return True


class TileKernel(BlockBuilder):
    """The kernel of a group of tile sums (the first one's blocking; see tiles.py)."""

    def __init__(self, pb, st, m, nest, names, group, trans=()):
        super().__init__(pb, st, m, nest, names)
        self.group, self.trans = group, list(trans)

    def kernel(self) -> tuple[L.Stmt, ...] | None:
        t, bm, bn, fresh = self.t, self.bm, self.bn, self.fresh
        outer: list[L.Stmt] = []
        body: list[L.Stmt] = [] if self.trans else outer
        blk_ = self.blocks(outer, body if self.trans else None)
        if blk_ is None:
            return None
        tv, total, bvars, i0, rows, j_lo, j_hi, blo, bhi = blk_
        zero = L.Const(0.0, t)
        unique = unique_tiles(self.group)
        tiles = {key: fresh("T") for key, _ in unique}
        body += [L.Local(x, t, (const(bm), const(bn)), zero) for x in tiles.values()]
        parts = []  # per statement: its G tile, row / column value locals, accumulator(s)
        for _, st, x in self.group:
            p = {"G": fresh("G"), "rows": [fresh("R") for _ in x.rows],
                 "cols": [fresh("C") for _ in x.cols],
                 "tiles": [tiles[tile_key(tl, x)] for tl in x.tiles]}  # fmt: skip
            body.append(L.Local(p["G"], t, (const(bm), const(bn)), zero))
            body += [L.Local(r, t, (const(bm),), zero) for r in p["rows"]]
            body += [L.Local(c, t, (const(bn),), zero) for c in p["cols"]]
            if x.v is not None:
                p["acc"], p["lsum"] = fresh("O"), None
                body.append(L.Local(p["acc"], t, (const(bm), self.ext_of(st, x.e)), zero))
            else:
                p["acc"], p["lsum"] = fresh("acc"), None
                body.append(L.Local(p["acc"], t, (const(bm),), L.Const(float(reduce_identity(x.reduce.op, t)), t)))
                if x.reduce.op == "logsumexp":
                    p["lsum"] = fresh("l")
                    body.append(L.Local(p["lsum"], t, (const(bm),), zero))
            parts.append(p)
        j0 = fresh("j0")
        blk: list[L.Stmt] = []
        cols = self.let(blk, "bn", isub(imin(iadd(L.Var(j0), const(bn)), bhi), L.Var(j0)))
        for (_, st, x), p in zip(self.group, parts):
            self.bind(x, bvars)
            if x.rows:
                body.append(self.side_values(x.i, i0, rows, x.rows, p["rows"]))
        for key, (tile, n, x) in unique:
            at_i = {**self.batch_at(x, bvars), x.i: i0}
            at_j = {**self.batch_at(x, bvars), x.j: L.Var(j0)}
            blk.append(L.Gemm(
                c=self.local(tiles[key], const(bn)), a=self.operand(tile.x, x.i, tile.d, at_i),
                b=self.operand(tile.y, tile.d, x.j, at_j), batch=const(1), m=rows, n=cols,
                k=self.size(tile.d_hi), alpha=scalar_alpha(tile.scalars, t), accumulate=False,
                dtype=t,
            ))  # fmt: skip
        for (_, st, x), p in zip(self.group, parts):
            self.bind(x, bvars)
            if x.cols:
                blk.append(self.side_values(x.j, L.Var(j0), cols, x.cols, p["cols"]))
            row = self.elements(x, L.Var(j0), cols, i0, j_lo, j_hi, p)
            if row is None:
                return None
            blk.append(L.Loop(row[0], const(0), rows, tuple(row[1]), kind="vector"))
            if x.v is not None:
                e_ext = self.ext_of(st, x.e)
                blk.append(L.Gemm(
                    c=self.local(p["acc"], e_ext), a=self.local(p["G"], const(bn)),
                    b=self.operand(x.v, x.j, x.e, {**self.batch_at(x, bvars), x.j: L.Var(j0)}),
                    batch=const(1), m=rows, n=e_ext, k=cols, alpha=L.Const(1.0, t),
                    accumulate=True, dtype=t,
                ))  # fmt: skip
            for _, ts, tx, host in self.trans:
                if self.group[host][2] is x:
                    blk.append(self.transposed_gemm(ts, tx, p["G"], i0, rows, L.Var(j0), cols,
                                                    bvars))  # fmt: skip
        body.append(L.Loop(j0, blo, bhi, tuple(blk), kind="serial", step=bn))
        for (_, st, x), p in zip(self.group, parts):
            body.append(self.store(st, x, i0, rows, p, self.batch_at(x, bvars)))
        if self.trans:  # one iteration per batch: its i-blocks in order
            qv, n_blocks = self.serial_rows
            outer.append(L.Loop(qv, const(0), n_blocks, tuple(body), kind="serial"))
        return (L.Loop(tv, const(0), total, tuple(outer), kind="parallel"),)

    def transposed_gemm(self, st, x: TileSum, g: str, i0, rows, j0, cols, bvars) -> L.Gemm:
        """out[.., j0 + c, e] += post * sum_r G[r, c] * V[.., i0 + r, e]: statement `st`, whose
        rows are this block's columns, from the G tile it shares transposed."""
        at = self.batch_at(x, bvars)
        out = T.Access(st.tensor, tuple(T.Index(n) for n in st.indices), self.t)
        e_ext = self.ext_of(st, x.e)
        return L.Gemm(
            c=self.operand(out, x.i, x.e, {**at, x.i: j0}),
            a=L.Operand(g, const(0), (const(0), const(1), const(self.bn)), local=True),
            b=self.operand(x.v, x.j, x.e, {**at, x.j: i0}), batch=const(1), m=cols, n=e_ext,
            k=rows, alpha=scalar_alpha(x.post, self.t), accumulate=True, dtype=self.t,
        )  # fmt: skip

    def batch_at(self, x: TileSum, bvars: dict) -> dict:
        """The batch index values of the first statement under `x`'s own batch names."""
        return {b: bvars[b0] for b, b0 in zip(x.batch, self.m.batch)}

    def bind(self, x: TileSum, bvars: dict) -> None:
        for b, v in self.batch_at(x, bvars).items():
            self.nest.env[b] = (v, None)

    def ext_of(self, st: T.Statement, index: str) -> L.LExpr:
        rg = next(r for r in st.domain if r.index == index)
        return sym_to_lexpr(rg.hi, self.spec)

    def size(self, e) -> L.LExpr:
        return sym_to_lexpr(e, self.spec)

    def local(self, name: str, row: L.LExpr) -> L.Operand:
        return L.Operand(name, const(0), (const(0), row, const(1)), local=True)

    def side_values(self, index: str, at0, count, reds: list[T.Reduce], names: list[str]) -> L.Stmt:
        """A loop over the `count` rows (or columns) from `at0` storing each reduction of `reds`
        (no other index of the tile) into its local vector."""
        r = self.fresh("r")
        out: list[L.Stmt] = []
        var = self.let(out, index, iadd(at0, L.Var(r)))
        root = Level(None)
        self.nest.env[index] = (var, root)
        self.nest.memo.clear()
        for red, name in zip(reds, names):
            val = self.nest.emit(red, root, ())
            root.stmts.append(L.Assign(name, (L.Var(r),), as_dtype(val, self.t)))
        self.nest.memo.clear()
        return L.Loop(r, const(0), count, tuple(out) + root.finish(), kind="serial")

    def elements(self, x: TileSum, j0, cols, i0, j_lo, j_hi, p):
        """(row var, body): G of statement `x` at every kept (r, c) of the block into its G tile
        (0 elsewhere), or folded into its row accumulator for a row reduction."""
        t, fresh = self.t, self.fresh
        r, c = fresh("r"), fresh("c")
        R, C = L.Var(r), L.Var(c)
        out: list[L.Stmt] = []
        i = self.let(out, x.i, iadd(i0, R))
        got = self.columns(out, i, j0, cols, j_lo, j_hi)
        if got is None:
            return None
        clo, chi = got
        env = self.nest.env
        env[x.i] = (i, None)
        env[x.j] = (iadd(j0, C), None)
        for n, name in enumerate(p["tiles"]):
            env[f"%tile{n}"] = (L.LocalRead(name, (R, C), t), None)
        for n, name in enumerate(p["rows"]):
            env[f"%row{n}"] = (L.LocalRead(name, (R,), t), None)
        for n, name in enumerate(p["cols"]):
            env[f"%col{n}"] = (L.LocalRead(name, (C,), t), None)
        val = as_dtype(self.nest.emit(x.g, None, ()), t)
        g, acc, lsum = p["G"], p["acc"], p["lsum"]
        zero = L.Const(0.0, t)
        if x.v is not None:
            out += [
                L.Loop(c, const(0), clo, (L.Assign(g, (R, C), zero),), kind="vector"),
                L.Loop(c, clo, chi, (L.Assign(g, (R, C), val),), kind="vector"),
                L.Loop(c, chi, cols, (L.Assign(g, (R, C), zero),), kind="vector"),
            ]
            return r, out
        op = x.reduce.op
        cur = L.LocalRead(acc, (R,), t)
        if op in ("sum", "max", "min"):
            # the row's columns fold into a scalar, then into acc[r]: a loop-carried acc[r] in
            # memory vectorised worse (a column sum of attention's P: 210 -> 184 ms)
            fn, part = "add" if op == "sum" else op, fresh("part")
            ident = L.Const(float(reduce_identity(op, t)), t)
            run = L.Call(fn, (L.LocalRead(part, (), t), val), t)
            out += [
                L.Local(part, t, (), ident),
                L.Loop(c, clo, chi, (L.Assign(part, (), run),), kind="reduce"),
                L.Assign(acc, (R,), L.Call(fn, (cur, L.LocalRead(part, (), t)), t)),
            ]
            return r, out
        # logsumexp: a running max (acc) and a sum rescaled to it (lsum), as in online softmax
        bmax, bsum = fresh("bmax"), fresh("bsum")
        tile = L.LocalRead(g, (R, C), t)
        out += [
            L.Local(bmax, t, (), L.Const(float("-inf"), t)),
            L.Loop(c, clo, chi, (
                L.Assign(g, (R, C), val),
                L.Assign(bmax, (), L.Call("max", (L.LocalRead(bmax, (), t), tile), t)),
            ), kind="reduce"),
        ]  # fmt: skip
        mn, safe, alpha = self.running_max(out, cur, L.LocalRead(bmax, (), t))
        out += [
            L.Local(bsum, t, (), zero),
            L.Loop(c, clo, chi, (
                L.Assign(bsum, (), L.Call("add", (L.LocalRead(bsum, (), t), L.Call(
                    "exp", (L.Call("sub", (tile, safe), t),), t)), t)),
            ), kind="reduce"),
            L.Assign(lsum, (R,), L.Call("add", (L.Call("mul", (L.LocalRead(lsum, (R,), t),
                     alpha), t), L.LocalRead(bsum, (), t)), t)),
            L.Assign(acc, (R,), mn),
        ]  # fmt: skip
        return r, out

    def store(self, st: T.Statement, x: TileSum, i0, rows, p, batch_at) -> L.Stmt:
        """The block's rows of `st` into its output, times the scalar factors outside the sum."""
        t, fresh = self.t, self.fresh
        acc, lsum = p["acc"], p["lsum"]
        r = fresh("r")
        R = L.Var(r)
        at = {**batch_at, x.i: iadd(i0, R)}
        post = scalar_alpha(x.post, t)
        if x.v is not None:
            e = fresh(x.e)
            at[x.e] = L.Var(e)
            val = L.LocalRead(acc, (R, L.Var(e)), t)
        elif lsum is not None:  # logsumexp = max + log(rescaled sum); -inf for an empty row
            mx, ls = L.LocalRead(acc, (R,), t), L.LocalRead(lsum, (R,), t)
            val = L.Call("select", (
                L.Call("eq", (ls, L.Const(0.0, t)), "bool"), L.Const(float("-inf"), t),
                L.Call("add", (mx, L.Call("log", (ls,), t)), t)), t)  # fmt: skip
        else:
            val = L.LocalRead(acc, (R,), t)
        if post != L.Const(1.0, t):
            val = L.Call("mul", (post, val), t)
        dtype = self.pb.def_.tensor(st.tensor).dtype
        store = L.Store(st.tensor, tuple(at[n] for n in st.indices), as_dtype(val, dtype))
        if x.v is not None:
            store = L.Loop(e, const(0), self.ext_of(st, x.e), (store,), kind="vector")
        return L.Loop(r, const(0), rows, (store,), kind="vector")
