"""One statement as a loop nest (`lower_nest`, the fallback that accepts every statement), and
the LoopIR utilities around it: names a body uses (`stmt_names`) and common subexpressions bound
to lets (`cse_block`). The Gemm-shaped lowerings (contraction, gram) use it for their epilogues.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import conjoin, conjuncts, free_indices, walk
from tensorc.schedule.nest import EXPENSIVE, Inner, KernelNames, Level, Nest, close
from tensorc.schedule.symmetry import symmetric_pair

if TYPE_CHECKING:
    from tensorc.schedule.schedule import Schedule


# --- LoopIR traversal ---------------------------------------------------------------------------
def _expr_names(e: L.LExpr, bufs: set[str], vars_: set[str]) -> None:
    if isinstance(e, L.Var):
        vars_.add(e.name)
    elif isinstance(e, L.Load):
        bufs.add(e.buffer)
        for i in e.index:
            _expr_names(i, bufs, vars_)
    elif isinstance(e, L.LocalRead):
        for i in e.index:
            _expr_names(i, bufs, vars_)
    elif isinstance(e, L.Call):
        for a in e.args:
            _expr_names(a, bufs, vars_)


def stmt_names(stmts, bufs: set[str], vars_: set[str]) -> None:
    """Collect buffer names and Var names used by LoopIR statements."""
    for s in stmts:
        if isinstance(s, L.Loop):
            _expr_names(s.start, bufs, vars_)
            _expr_names(s.stop, bufs, vars_)
            stmt_names(s.body, bufs, vars_)
        elif isinstance(s, L.Let):
            _expr_names(s.value, bufs, vars_)
        elif isinstance(s, L.Local):
            _expr_names(s.init, bufs, vars_)
            for d in s.shape:
                _expr_names(d, bufs, vars_)
        elif isinstance(s, (L.Assign, L.Store)):
            if isinstance(s, L.Store):
                bufs.add(s.buffer)
            _expr_names(s.value, bufs, vars_)
            for i in s.index:
                _expr_names(i, bufs, vars_)
        elif isinstance(s, L.If):
            _expr_names(s.cond, bufs, vars_)
            stmt_names(s.then, bufs, vars_)
            stmt_names(s.orelse, bufs, vars_)
        elif isinstance(s, (L.Gemm, L.Copy)):
            gemm = isinstance(s, L.Gemm)
            for o in (s.a, s.b, s.c) if gemm else (s.dst, s.src):
                if not o.local:
                    bufs.add(o.buffer)
                _expr_names(o.offset, bufs, vars_)
                for x in o.strides:
                    _expr_names(x, bufs, vars_)
            for x in (s.batch, s.m, s.n, s.k, s.alpha) if gemm else (s.rows, s.cols):
                _expr_names(x, bufs, vars_)


# --- common subexpressions ----------------------------------------------------------------------
def _count(e: L.LExpr, seen: dict) -> None:
    if isinstance(e, L.Call):
        seen[e] = seen.get(e, 0) + 1
        if seen[e] == 1:
            for a in e.args:
                _count(a, seen)
    elif isinstance(e, (L.Load, L.LocalRead)):
        for i in e.index:
            _count(i, seen)


def _replace(e: L.LExpr, table: dict) -> L.LExpr:
    if e in table:
        return table[e]
    if isinstance(e, L.Call):
        return replace(e, args=tuple(_replace(a, table) for a in e.args))
    if isinstance(e, L.Load):
        return replace(e, index=tuple(_replace(i, table) for i in e.index))
    if isinstance(e, L.LocalRead):
        return replace(e, index=tuple(_replace(i, table) for i in e.index))
    return e


def _size(e: L.LExpr) -> int:
    if isinstance(e, L.Call):
        return 1 + sum(_size(a) for a in e.args)
    return 1


def cse_value(e: L.LExpr, fresh) -> tuple[list[L.Stmt], L.LExpr]:
    """Bind subexpressions that occur twice in `e` (e.g. `(x - y) * (x - y)`) to `Let`s."""
    seen: dict = {}
    _count(e, seen)
    dup = [x for x, n in seen.items() if n > 1 and _size(x) > 1 and x.dtype != "bool"]
    if not dup:
        return [], e
    dup.sort(key=_size)
    lets, table = [], {}
    for x in dup:
        name = fresh("c")
        lets.append(L.Let(name, _replace(x, table)))
        table[x] = L.Var(name, x.dtype)
    return lets, _replace(e, table)


def cse_block(stmts, fresh) -> tuple:
    out = []
    for s in stmts:
        if isinstance(s, (L.Let, L.Assign, L.Store)):
            lets, v = cse_value(s.value, fresh)
            out += lets
            out.append(replace(s, value=v))
        elif isinstance(s, L.Loop):
            out.append(replace(s, body=cse_block(s.body, fresh)))
        elif isinstance(s, L.If):
            out.append(replace(s, then=cse_block(s.then, fresh), orelse=cse_block(s.orelse, fresh)))
        else:
            out.append(s)
    return tuple(out)


# --- statements ---------------------------------------------------------------------------------
def choose_inner(st: T.Statement, symmetric: bool) -> tuple[str, ...]:
    """LHS indices that some expensive part of the RHS does not depend on (see nest.py)."""
    if symmetric or not st.indices:
        return ()
    lhs = set(st.indices)
    cands: set[str] = set()
    for x in walk(st.rhs):
        if isinstance(x, T.Reduce) or (isinstance(x, T.Call) and x.fn in EXPENSIVE):
            if x is st.rhs and not isinstance(x, T.Reduce):
                continue
            cands |= lhs - set(free_indices(x))
        if isinstance(x, T.Reduce) and x.rank:
            cands.add(x.rank)
    cands &= lhs
    if cands == lhs:
        cands.discard(st.indices[0])
    return tuple(i for i in st.indices if i in cands)


def _order(st: T.Statement, prefer: tuple[str, ...]) -> list[str]:
    pos = {n: k for k, n in enumerate(prefer)}
    return sorted(st.indices, key=lambda n: (pos.get(n, len(pos)), st.indices.index(n)))


def lower_nest(
    def_: T.Def,
    st: T.Statement,
    schedule: Schedule,
    names: KernelNames,
    spec,
    notes: list,
    target: str | None = None,
    split=None,
) -> tuple[tuple[L.Stmt, ...], Nest]:
    """The loop nest of one statement (always succeeds). Writes `target` (default: st.tensor).

    `split`: a `split.SplitJ` that may move reductions with small outputs into partial kernels.
    """
    nest = Nest(def_, schedule, names, spec, notes)
    sym = symmetric_pair(def_, st) if schedule.symmetry else None
    nest.split = split if sym is None else None
    inner = choose_inner(st, sym is not None) if schedule.inner_dims else ()
    outer = [x for x in _order(st, () if sym else schedule.order) if x not in inner]
    root = Level(None)
    cur = root
    parts = list(conjuncts(st.mask))
    bound: set[str] = set()
    for n, x in enumerate(outer):
        rg = next(r for r in st.domain if r.index == x)
        lo, hi = nest.size(rg.lo), nest.size(rg.hi)
        los, his, parts = nest.linear_bounds(x, parts, bound)
        for b in los:
            lo = L.Call("max", (lo, b), "int64")
        for b in his:
            hi = L.Call("min", (hi, b), "int64")
        if sym is not None and x == sym[1]:
            lo = nest.env[sym[0]][0]
        kind = "parallel" if n == 0 or n < len(outer) - 1 else "vector"
        inner_kind = "vector" if n == len(outer) - 1 else "parallel"
        parent = cur
        cur, var = nest.open_loop(cur, x, lo, hi, (kind, inner_kind))
        nest.env[x] = (L.Var(var), cur)
        nest.lhs_levels[cur] = rg
        if cur.parent is not parent:
            nest.lhs_levels[cur.parent] = None  # the tile loop
        bound.add(x)
    for x in inner:
        rg = next(r for r in st.domain if r.index == x)
        var = names(x)
        nest.inner[x] = Inner(var, nest.size(rg.lo), nest.size(rg.hi))
        nest.env[x] = (L.Var(var), None)
    outer_mask = [c for c in parts if not free_indices(c) & set(inner)]
    inner_mask = [c for c in parts if free_indices(c) & set(inner)]
    if outer_mask:
        cond = nest.emit(conjoin(outer_mask), cur, ())
        cur.guards.append((len(cur.stmts), cond))
    val = nest.emit(st.rhs, cur, inner)
    decl = def_.tensor(st.tensor)
    dtype = decl.dtype
    if val.dtype != dtype:
        val = L.Call("cast", (val,), dtype)
    idx = tuple(nest.env[x][0] for x in st.indices)
    name = target or st.tensor
    stores: list[L.Stmt] = [L.Store(name, idx, val)]
    if sym is not None:
        stores.append(L.Store(name, (idx[1], idx[0]), val))
        notes.append(
            f"{st.tensor}({', '.join(st.indices)}) is symmetric in ({sym[0]}, {sym[1]}): only "
            f"{sym[1]} >= {sym[0]} is computed, the rest mirrored"
        )
    if inner_mask:
        stores = [L.If(nest.emit(conjoin(inner_mask), cur, inner), tuple(stores))]
    for x in reversed(inner):
        inn = nest.inner[x]
        stores = [L.Loop(inn.var, inn.lo, inn.hi, tuple(stores), kind="vector")]
    cur.stmts.extend(stores)
    close(cur, root)
    return cse_block(tuple(root.finish()), names), nest
