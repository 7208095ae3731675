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
This module recognises them (`match`); tile_kernel.py lowers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy

from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import (
    alpha_key,
    conjoin,
    conjuncts,
    free_indices,
    map_children,
    product,
    product_factors,
    substitute,
    walk,
)
from tensorc.ir.types import DTYPES, compute_dtype
from tensorc.passes.costs import GEMM_MIN_K, volume
from tensorc.schedule.attention_match import affine_in, split_scalars
from tensorc.schedule.operands import plain_access

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
    source: T.Expr | None = None  # G as written (after unguarding), for `transposed_key`


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
    out = TileSum(r, i, j, e, batch, v, g, post, mask, source=g)
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
    return product(rest, e.dtype) if rest else T.Const(1.0, e.dtype)


def _canon(m: TileSum) -> dict[str, str]:
    """Statement-free names for the roles of `m`'s indices (to compare two statements)."""
    return {m.i: "%I", m.j: "%J", **{b: f"%B{n}" for n, b in enumerate(m.batch)}}


def tile_key(t: Tile, m: TileSum) -> tuple:
    ren = {**_canon(m), t.d: "%D"}

    def acc(a: T.Access) -> tuple:
        return a.tensor, tuple(ren.get(x.name) for x in a.indices)

    return acc(t.x), acc(t.y), tuple(t.scalars), str(t.d_hi)


def unique_tiles(group) -> list:
    """(key, (tile, index in `group`, roles)) of every distinct dot product of `group`, a list
    of (statement number, statement, roles)."""
    seen: dict = {}
    for n, (_, _, x) in enumerate(group):
        for t in x.tiles:
            seen.setdefault(tile_key(t, x), (t, n, x))
    return list(seen.items())


def roles(st: T.Statement, m: TileSum) -> tuple:
    """What two fused statements must share: row, column and batch extents, and the mask."""
    dom = {g.index: g for g in st.domain}
    rg = m.reduce.ranges[0]
    ren = {k: T.Index(v) for k, v in _canon(m).items()}
    mask = tuple(str(substitute(c, ren)) for c in m.mask)
    batch = tuple(str(dom[b].hi) for b in m.batch)
    return str(dom[m.i].hi), str(rg.lo), str(rg.hi), batch, mask, m.reduce.dtype


def transposed_key(m: TileSum, swap: bool = False) -> tuple:
    """G and the mask of `m` with its row and reduced indices named %R and %C (`swap`: %C and
    %R, a statement that reads the same tiles transposed: dq = dS K against dk = dS^T Q) and its
    bound indices canonical: equal keys, equal G tiles."""
    r, c = ("%C", "%R") if swap else ("%R", "%C")
    ren = {m.i: T.Index(r), m.j: T.Index(c), **{b: T.Index(f"%B{n}") for n, b in enumerate(m.batch)}}
    mask = tuple(sorted(str(substitute(x, ren)) for x in m.mask))
    return alpha_key(substitute(m.source, ren)), mask
