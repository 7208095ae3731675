"""Dot-product tiles (target "cpu"): a sum over j of a pointwise function of dot products,
computed tile by tile on per-thread scratch; the N x M matrix is never stored.

Recognises, after temp inlining, a statement

    O(batch.., i, e) = c * sum_j G(i, j) * V(.., j, e)             [mask: bounds on j linear in i]
    O(batch.., i)    = c * op_j G(i, j)            op: sum, max, min, logsumexp

where G is pointwise in (batch.., i, j) and holds
- tiles: dot products `alpha * sum_d X(.., i, d) * Y(.., j, d)` over >= GEMM_MIN_K features,
- row values: reductions without j (computed once per row of a block, e.g. FlashAttention's
  D_i = sum_e dO(i, e) O(i, e)), column values: reductions without i (once per column of a block),
and lowers it to one kernel (the blocking and mask bounds of attention.py):

    parallel for t in [0, batches * ceil(N / BM)):        # (batch, i-block), i-blocks interleaved
      local O[BM, E] = 0 (or acc[BM]), T_k[BM, BN] per tile, R_k[BM] per row value
      R_k[r] = row value k at i0 + r
      serial for j0 in [jlo(block), jhi(block)) step BN:  # fully masked j-blocks never visited
        gemm T_k = alpha_k * X_k[i-block, :] @ Y_k[j-block, :]^T          (each tile)
        C_k[c] = column value k at j0 + c
        per row r, column c inside the mask's bounds: T_0[r, c] = G(T_k[r, c], R_k[r], C_k[c])
        gemm O += T_0 @ V[j-block, :]          (or fold T_0's rows into acc)
      o[.., i, e] = c * O

The attention gradient's dq (over key blocks), dk and dv (over query blocks) and its logsumexp are
such statements: FlashAttention-2's backward, with P = exp(S - lse) recomputed per tile.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import (
    conjoin,
    conjuncts,
    free_indices,
    map_children,
    product_factors,
    reads,
    substitute,
    walk,
)
from tensorc.ir.types import DTYPES, compute_dtype
from tensorc.passes.costs import GEMM_MIN_K, volume
from tensorc.schedule.attention import BlockBuilder, affine_in, split_scalars
from tensorc.schedule.lexpr import const, iadd, imin, isub, sym_to_lexpr
from tensorc.schedule.nest import Level, Nest
from tensorc.schedule.operands import plain_access, replace_node, scalar_alpha, with_temps

OPS = ("sum", "max", "min", "logsumexp")
NOT_TILES = "no dot-product tiles"


@dataclass
class Tile:
    """One dot product `alpha * sum_d x(.., i, d) * y(.., j, d)` of G."""

    d: str
    d_hi: sympy.Expr
    x: T.Access
    y: T.Access
    scalars: list[T.Expr]


@dataclass
class TileSum:
    """The roles of one recognised statement."""

    reduce: T.Reduce
    i: str
    j: str
    e: str | None  # None: a row reduction (no value tensor)
    batch: list[str]
    v: T.Access | None
    g: T.Expr  # G with tiles / row / column values replaced by placeholder indices
    post: list[T.Expr]  # scalar factors outside the reduction
    mask: list[T.Expr]
    tiles: list[Tile] = field(default_factory=list)
    rows: list[T.Reduce] = field(default_factory=list)
    cols: list[T.Reduce] = field(default_factory=list)


def _dot(r: T.Reduce, i: str, j: str, batch: set[str], def_: T.Def) -> Tile | None:
    if r.op != "sum" or len(r.ranges) != 1 or r.mask is not None or not T.is_zero(r.ranges[0].lo):
        return None
    d = r.ranges[0].index
    accs, scalars = split_scalars(r.body)
    if len(accs) != 2 or not all(isinstance(a, T.Access) for a in accs):
        return None
    x, y = accs if j in free_indices(accs[1]) else accs[::-1]
    for acc, need, other in ((x, i, j), (y, j, i)):
        names = free_indices(acc)
        if need not in names or other in names or d not in names or not names <= batch | {need, d}:
            return None
        if not plain_access(acc) or len(acc.indices) != len(def_.tensor(acc.tensor).shape):
            return None
        if DTYPES[acc.dtype].kind != "f":
            return None
    return Tile(d, r.ranges[0].hi, x, y, scalars)


def _index_select(g: T.Expr) -> bool:
    """Whether `g` is `c ? x : 0` with `c` a condition on indices only."""
    zero = isinstance(g, T.Call) and g.fn == "select" and isinstance(g.args[2], T.Const)
    if not (zero and g.args[2].value == 0):
        return False
    return not any(isinstance(x, (T.Access, T.Reduce)) for x in walk(g.args[0]))


def _unguard(g: T.Expr, mask: list[T.Expr]) -> T.Expr:
    """Reductions masked by conditions without their own indices (the front end's guard of a
    reduction in a `?:` branch) lose those that the statement's `mask` implies; a sum keeps the
    others as `select(cond, sum, 0)`: the tile is computed everywhere."""

    def go(x: T.Expr) -> T.Expr:
        x = map_children(x, go)
        if not isinstance(x, T.Reduce) or x.mask is None:
            return x
        own = {g.index for g in x.ranges}
        cs = conjuncts(x.mask)
        outer = [c for c in cs if not free_indices(c) & own]
        left = [c for c in outer if c not in mask]
        if not outer or (left and x.op != "sum"):
            return x
        bare = replace(x, mask=conjoin([c for c in cs if c not in outer]))
        if not left:
            return bare
        return T.Call("select", (conjoin(left), bare, T.Const(0.0, x.dtype)), x.dtype)

    return go(g)


def match(def_: T.Def, st: T.Statement, sizes: dict[str, int]) -> TileSum | str:
    """The roles of `st` if it is a tile sum (module docstring), else why not (NOT_TILES when G
    holds no dot product at all)."""
    if st.mask is not None or len(set(st.indices)) != len(st.indices):
        return NOT_TILES
    if any(not T.is_zero(rg.lo) for rg in st.domain):
        return NOT_TILES
    reds, post = split_scalars(st.rhs)
    if len(reds) != 1 or not isinstance(reds[0], T.Reduce):
        return NOT_TILES
    r = reds[0]
    if r.op not in OPS or len(r.ranges) != 1 or DTYPES[r.dtype].kind != "f" or r.rank:
        return NOT_TILES
    j, lhs = r.ranges[0].index, set(st.indices)
    v = e = None
    g = r.body
    if r.op == "sum":
        vals = [f for f in product_factors(r.body) if isinstance(f, T.Access) and j in free_indices(f)
                and free_indices(f) & lhs and free_indices(f) <= lhs | {j}]  # fmt: skip
        for cand in vals:
            rest = _without(r.body, cand)
            own = free_indices(cand) & lhs - free_indices(rest)
            if len(own) == 1:
                v, e, g = cand, next(iter(own)), rest
                break
    if r.op == "sum" and v is None and not lhs:
        return NOT_TILES
    dots = [x for x in walk(g) if isinstance(x, T.Reduce) and x.op == "sum" and len(x.ranges) == 1]
    if not dots:
        return NOT_TILES
    if v is not None:
        rows_i = [n for n in st.indices if n not in free_indices(v)]
    else:
        rows_i = [n for n in st.indices if not any(n in free_indices(a) for d in dots for a in split_scalars(d.body)[0]
                                                   if isinstance(a, T.Access) and j in free_indices(a))]  # fmt: skip
    if len(rows_i) != 1:
        return NOT_TILES
    i = rows_i[0]
    batch = [n for n in st.indices if n not in (i, e)]
    mask = conjuncts(r.mask)
    if r.op == "sum" and _index_select(g):  # sum_j (c ? x : 0) * v = sum_j x * v where c
        mask, g = mask + [c for c in conjuncts(g.args[0]) if c not in mask], g.args[1]
    g = _unguard(g, mask)
    out = TileSum(r, i, j, e, batch, v, g, post, mask)
    tiles: dict[T.Reduce, str] = {}
    side: dict[T.Reduce, str] = {}

    def sub(x: T.Expr) -> T.Expr:
        if isinstance(x, T.Reduce):
            if x in tiles or x in side:
                return T.Index(tiles.get(x) or side[x], x.dtype)
            tile = _dot(x, i, j, set(batch), def_)
            if tile is not None and volume(x.ranges, sizes) >= GEMM_MIN_K:
                tiles[x] = f"%tile{len(out.tiles)}"
                out.tiles.append(tile)
                return T.Index(tiles[x], x.dtype)
            free = free_indices(x)
            if j not in free:
                side[x] = f"%row{len(out.rows)}"
                out.rows.append(x)
            elif i not in free:
                side[x] = f"%col{len(out.cols)}"
                out.cols.append(x)
            else:
                side[x] = "%pair"
            return T.Index(side[x], x.dtype)
        return map_children(x, sub)

    out.g = sub(g)
    if not out.tiles:
        return NOT_TILES
    if "%pair" in side.values():
        return "G holds a reduction over both i and j that is not a dot product"
    if free_indices(out.g) - {i, j, *batch} - {n for n in free_indices(out.g) if n.startswith("%")}:
        return "G reads an index that is neither a row, a column nor a batch index"
    if any(isinstance(x, T.Access) and x.tensor == st.tensor for x in walk(st.rhs)):
        return "the statement reads its own output"
    t = compute_dtype(r.dtype)
    if any(compute_dtype(d.x.dtype) != t for d in out.tiles):
        return "the tiles and the sum have different compute types"
    if v is not None and (not plain_access(v) or len(v.indices) != len(def_.tensor(v.tensor).shape)
                          or DTYPES[v.dtype].kind != "f"):  # fmt: skip
        return f"{v.tensor} is not read with plain indices over its whole shape"
    if any(not (isinstance(c, T.Call) and len(c.args) == 2 and affine_in(c, i)) for c in out.mask):
        return "the mask is not a conjunction of bounds on j linear in i"
    return out


def _without(e: T.Expr, f: T.Expr) -> T.Expr:
    """The product `e` without its factor `f` (1 if nothing is left)."""
    rest = list(product_factors(e))
    rest.remove(f)
    if not rest:
        return T.Const(1.0, e.dtype)
    out = rest[0]
    for x in rest[1:]:
        out = T.Call("mul", (out, x), e.dtype)
    return out


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
    st, m = _materialise(pb, k, st, m, sizes)
    group = [(k, st, m)] + (_siblings(pb, k, st, m, sizes) if m.v is not None else [])
    names = pb.names()
    decls, pb.def_ = pb.def_, with_temps(pb.def_, pb)
    try:
        nest = Nest(pb.def_, pb.schedule, names, pb.spec, [])
        body = _Tiles(pb, st, m, nest, names, group).kernel()
    finally:
        pb.def_ = decls
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
        shared = len(m.tiles) + sum(len(x.tiles) for _, _, x in group[1:]) - len(_unique(group))
        notes.append(f"{label}: fused with " + ", ".join(f"statement {n + 1} ({s.tensor})"
                     for n, s, _ in group[1:]) + f" in one pass ({shared} dot product tile(s) "
                     f"shared)")  # fmt: skip
        pb.skip.update(n for n, _, _ in group[1:])
    if m.mask:
        notes.append(f"{label}: index mask turned into j-block bounds and per-row column bounds")
    pb.kernel(body, notes)
    return True


def _materialise(pb, k: int, st: T.Statement, m: TileSum, sizes) -> tuple[T.Statement, TileSum]:
    """`st` and its roles with every heavy row or column value (a reduction holding another
    one: the attention gradient's logsumexp of dot products, read by dq alone) computed first,
    by its own kernel, into a vector temp that G reads: per block it would cost a full pass."""
    heavy = [r for r in m.rows + m.cols
             if any(isinstance(x, T.Reduce) for x in walk(r.body))]  # fmt: skip
    ranges = {g.index: g for g in (*st.domain, *m.reduce.ranges)}
    rhs = st.rhs
    for r in heavy:
        idx = [n for n in (*st.indices, m.j) if n in free_indices(r)]
        if any(not T.is_zero(ranges[n].lo) for n in idx):
            continue
        name = pb.add_temp(f"{st.tensor}_side", r.dtype, [ranges[n].hi for n in idx])
        side = T.Statement(name, tuple(idx), tuple(ranges[n] for n in idx), r)
        decls, pb.def_ = pb.def_, with_temps(pb.def_, pb)
        try:
            pb.statement(k, side)
        finally:
            pb.def_ = decls
        rhs = replace_node(rhs, r, T.Access(name, tuple(T.Index(n) for n in idx), r.dtype))
        pb.notes.append(f"statement {k + 1} ({st.tensor}): a reduction of dot products read by "
                        f"every block computed first into {name}")  # fmt: skip
    if rhs is st.rhs:
        return st, m
    st = replace(st, rhs=rhs)
    got = match(with_temps(pb.def_, pb), st, sizes)
    return (st, got) if not isinstance(got, str) else (st, m)


def _canon(m: TileSum) -> dict[str, str]:
    """Statement-free names for the roles of `m`'s indices (to compare two statements)."""
    return {m.i: "%I", m.j: "%J", **{b: f"%B{n}" for n, b in enumerate(m.batch)}}


def _tile_key(t: Tile, m: TileSum) -> tuple:
    ren = {**_canon(m), t.d: "%D"}

    def acc(a: T.Access) -> tuple:
        return a.tensor, tuple(ren.get(x.name) for x in a.indices)

    return acc(t.x), acc(t.y), tuple(t.scalars), str(t.d_hi)


def _roles(pb, st: T.Statement, m: TileSum) -> tuple:
    """What two fused statements must share: row, column and batch extents, and the mask."""
    dom = {g.index: g for g in st.domain}
    rg = m.reduce.ranges[0]
    ren = {k: T.Index(v) for k, v in _canon(m).items()}
    mask = tuple(str(substitute(c, ren)) for c in m.mask)
    batch = tuple(str(dom[b].hi) for b in m.batch)
    return str(dom[m.i].hi), str(rg.lo), str(rg.hi), batch, mask, m.reduce.dtype


def _siblings(pb, k: int, st: T.Statement, m: TileSum, sizes) -> list:
    """Later statements to compute in the same kernel as `st`: tile sums with a value tensor and
    the same roles, sharing a dot product with it, independent of `st` and of the statements
    they would move past."""
    body = pb.def_.body
    out, moved_past = [], []
    want = _roles(pb, st, m)
    keys = {_tile_key(t, m) for t in m.tiles}
    for n in range(k + 1, len(body)):
        s = body[n]
        x = match(pb.def_, s, sizes) if n not in pb.skip else NOT_TILES
        group = [st] + [g for _, g, _ in out]
        ok = not isinstance(x, str) and x.v is not None and _roles(pb, s, x) == want
        ok = ok and bool(keys & {_tile_key(t, x) for t in x.tiles})
        ok = ok and _independent(s, group + moved_past)
        if ok:
            out.append((n, s, x))
        else:
            moved_past.append(s)
    return out


def _independent(s: T.Statement, others: list[T.Statement]) -> bool:
    """Whether `s` neither reads nor writes what `others` write, nor writes what they read."""
    mine = {a.tensor for e in (s.rhs, s.mask) if e is not None for a, _ in reads(e)}
    for o in others:
        theirs = {a.tensor for e in (o.rhs, o.mask) if e is not None for a, _ in reads(e)}
        if o.tensor in mine or o.tensor == s.tensor or s.tensor in theirs:
            return False
    return True


def _unique(group) -> list:
    """(key, tile, statement index) of every distinct dot product of the group."""
    seen: dict = {}
    for n, (_, _, x) in enumerate(group):
        for t in x.tiles:
            seen.setdefault(_tile_key(t, x), (t, n, x))
    return list(seen.items())


class _Tiles(BlockBuilder):
    def __init__(self, pb, st, m, nest, names, group):
        super().__init__(pb, st, m, nest, names)
        self.group = group

    def kernel(self) -> tuple[L.Stmt, ...] | None:
        t, bm, bn, fresh = self.t, self.bm, self.bn, self.fresh
        body: list[L.Stmt] = []
        blk_ = self.blocks(body)
        if blk_ is None:
            return None
        tv, total, bvars, i0, rows, j_lo, j_hi, blo, bhi = blk_
        zero = L.Const(0.0, t)
        unique = _unique(self.group)
        tiles = {key: fresh("T") for key, _ in unique}
        body += [L.Local(x, t, (const(bm), const(bn)), zero) for x in tiles.values()]
        parts = []  # per statement: its G tile, row / column value locals, accumulator(s)
        for _, st, x in self.group:
            p = {"G": fresh("G"), "rows": [fresh("R") for _ in x.rows],
                 "cols": [fresh("C") for _ in x.cols],
                 "tiles": [tiles[_tile_key(tl, x)] for tl in x.tiles]}  # fmt: skip
            body.append(L.Local(p["G"], t, (const(bm), const(bn)), zero))
            body += [L.Local(r, t, (const(bm),), zero) for r in p["rows"]]
            body += [L.Local(c, t, (const(bn),), zero) for c in p["cols"]]
            if x.v is not None:
                p["acc"], p["lsum"] = fresh("O"), None
                body.append(L.Local(p["acc"], t, (const(bm), self.ext_of(st, x.e)), zero))
            else:
                p["acc"], p["lsum"] = fresh("acc"), None
                body.append(L.Local(p["acc"], t, (const(bm),), L.Const(_identity(x.reduce.op), t)))
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
        body.append(L.Loop(j0, blo, bhi, tuple(blk), kind="serial", step=bn))
        for (_, st, x), p in zip(self.group, parts):
            body.append(self.store(st, x, i0, rows, p, self.batch_at(x, bvars)))
        return (L.Loop(tv, const(0), total, tuple(body), kind="parallel"),)

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
            root.stmts.append(L.Assign(name, (L.Var(r),), _cast(val, self.t)))
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
        val = _cast(self.nest.emit(x.g, None, ()), t)
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
            fn = "add" if op == "sum" else op
            out.append(L.Loop(c, clo, chi, (L.Assign(acc, (R,), L.Call(fn, (cur, val), t)),),
                              kind="reduce"))  # fmt: skip
            return r, out
        # logsumexp: a running max (acc) and a sum rescaled to it (lsum), as in online softmax
        bmax, bsum = fresh("bmax"), fresh("bsum")
        ninf = L.Const(float("-inf"), t)
        mn, safe, alpha = fresh("mn"), fresh("safe"), fresh("alpha")
        tile = L.LocalRead(g, (R, C), t)
        out += [
            L.Local(bmax, t, (), ninf),
            L.Loop(c, clo, chi, (
                L.Assign(g, (R, C), val),
                L.Assign(bmax, (), L.Call("max", (L.LocalRead(bmax, (), t), tile), t)),
            ), kind="reduce"),
            L.Let(mn, L.Call("max", (cur, L.LocalRead(bmax, (), t)), t)),
            L.Let(safe, L.Call("select", (L.Call("eq", (L.Var(mn, t), ninf), "bool"), zero,
                                          L.Var(mn, t)), t)),
            L.Let(alpha, L.Call("exp", (L.Call("sub", (cur, L.Var(safe, t)), t),), t)),
            L.Local(bsum, t, (), zero),
            L.Loop(c, clo, chi, (
                L.Assign(bsum, (), L.Call("add", (L.LocalRead(bsum, (), t), L.Call(
                    "exp", (L.Call("sub", (tile, L.Var(safe, t)), t),), t)), t)),
            ), kind="reduce"),
            L.Assign(lsum, (R,), L.Call("add", (L.Call("mul", (L.LocalRead(lsum, (R,), t),
                     L.Var(alpha, t)), t), L.LocalRead(bsum, (), t)), t)),
            L.Assign(acc, (R,), L.Var(mn, t)),
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
        store = L.Store(st.tensor, tuple(at[n] for n in st.indices), _cast(val, dtype))
        if x.v is not None:
            store = L.Loop(e, const(0), self.ext_of(st, x.e), (store,), kind="vector")
        return L.Loop(r, const(0), rows, (store,), kind="vector")


def _identity(op: str) -> float:
    return {"sum": 0.0, "max": float("-inf"), "logsumexp": float("-inf"), "min": float("inf")}[op]


def _cast(v: L.LExpr, dtype: str) -> L.LExpr:
    return v if v.dtype == dtype else L.Call("cast", (v,), dtype)
