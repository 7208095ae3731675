"""Compute once a sum that several places read.

Input: canonical TensorIR. Output: the same meaning, where a `sum` found at two or more places
(in one statement or several, under any index names) is a temp `t(a, b) = sum(...)` computed
before its first reader, and each place reads `t` at its own indices; a temp that already holds
exactly that sum (a statement whose whole RHS it is) is read instead of adding one.

Only sums whose reads are plain indices of tensors written at most once qualify: evaluated over
the whole range of their free indices they read nothing out of bounds (no guard protects them)
and every place sees the same values.

Why: the RBF Gram gradient's d_x reads `sum(j: P(i,j) x(j,d))` (a Gemm) and d_gamma's cross term
`sum(i,d: x(i,d) sum(j: P(i,j) x(j,d)))` reads it again; its row sum `sum(j: P(i,j))` appears in
d_x and in d_gamma. Each network is planned alone, so without this each pays for its own Gemm.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Access, Def, Expr, Index, Range, Reduce, Statement, TensorDecl
from tensorc.ir.tir_utils import (
    alpha_key,
    free_indices,
    map_children,
    product,
    product_factors,
    substitute,
    walk,
)

MAX_ROUNDS = 8  # shared sums per def (each round shares the largest repeated one)


def _plain_reads(e: Reduce, once: set[str]) -> bool:
    return all(
        x.tensor in once and all(isinstance(i, Index) for i in x.indices)
        for x in walk(e)
        if isinstance(x, Access)
    )


def _occurrences(st: Statement):
    """(reduce, {free index: its range}) for every sum in `st`, outermost first."""
    scope = {g.index: g for g in st.domain}

    def visit(e: Expr, scope: dict):
        if isinstance(e, Reduce):
            if e.op == "sum" and e.mask is None and not e.rank:
                free = free_indices(e)
                if all(i in scope for i in free):
                    yield e, {i: scope[i] for i in free}
            scope = {**scope, **{g.index: g for g in e.ranges}}
        for c in (e.args if hasattr(e, "args") else ()):
            yield from visit(c, scope)
        if isinstance(e, Reduce):
            yield from visit(e.body, scope)

    yield from visit(st.rhs, scope)


def _key(e: Reduce, ranges: dict[str, Range]) -> tuple[tuple, tuple[str, ...]]:
    """A key equal for the same sum under other index names, and its free indices in key order."""
    order = sorted(ranges, key=lambda i: _first_use(e, i))
    holes = {i: Index(f"%f{n}") for n, i in enumerate(order)}
    extents = tuple((ranges[i].lo, ranges[i].hi) for i in order)
    return (alpha_key(substitute(e, holes)), extents), tuple(order)


def _first_use(e: Expr, name: str) -> int:
    for n, x in enumerate(walk(e)):
        if isinstance(x, Index) and x.name == name:
            return n
    return 0


def _share_one(def_: Def, once: set[str]) -> Def | None:
    found: dict[tuple, list] = {}
    for k, st in enumerate(def_.body):
        for e, ranges in _occurrences(st):
            if _plain_reads(e, once) and all(g.lo == 0 for g in ranges.values()):
                key, order = _key(e, ranges)
                if _small(key[1], def_):
                    found.setdefault(key, []).append((k, e, order))
    repeated = [(key, occ) for key, occ in found.items() if len(occ) >= 2]
    if not repeated:
        return None
    key, occ = max(repeated, key=lambda kv: sum(1 for _ in walk(kv[1][0][1])))
    first, e0, order0 = occ[0]
    provider = next(
        (def_.body[k] for k, e, order in occ
         if def_.body[k].rhs is e and def_.body[k].tensor in once
         and tuple(def_.body[k].indices) == order and def_.body[k].mask is None),
        None,
    )  # fmt: skip
    body = list(def_.body)
    temps = list(def_.temps)
    # as early as its reads allow: a statement between siblings would keep them apart (the
    # attention gradient's dv and dk share a pass)
    reads = {x.tensor for x in walk(e0) if isinstance(x, Access)}
    first = max((n + 1 for n, st in enumerate(body[:first]) if st.tensor in reads), default=0)
    if provider is not None:
        body.remove(provider)
    if provider is None:
        used = {t.name for t in (*def_.inputs, *def_.outputs, *def_.temps)}
        name = next(f"shared{n}" for n in range(len(used) + 1) if f"shared{n}" not in used)
        idx = tuple(f"s{n}" for n in range(len(order0)))
        rhs = substitute(e0, {i: Index(j) for i, j in zip(order0, idx)})
        domain = tuple(Range(j, lo, hi) for j, (lo, hi) in zip(idx, key[1]))
        provider = Statement(name, idx, domain, rhs)
        temps.append(TensorDecl(name, e0.dtype, tuple(hi for _, hi in key[1]), "temp"))
    body.insert(first, provider)
    sites = {id(e): order for _, e, order in occ}

    def use(x: Expr) -> Expr:
        if id(x) in sites:
            return Access(provider.tensor, tuple(Index(i) for i in sites[id(x)]), x.dtype)
        return map_children(x, use)

    body = [st if st is provider else replace(st, rhs=use(st.rhs)) for st in body]
    return replace(def_, body=tuple(body), temps=tuple(temps))


def share_sums(def_: Def) -> Def:
    for _ in range(MAX_ROUNDS):
        writes = [st.tensor for st in def_.body]
        once = {t.name for t in def_.inputs} | {t for t in writes if writes.count(t) == 1}
        nxt = _share_one(def_, once)
        if nxt is None:
            return def_
        def_ = nxt
    return def_


def _small(extents: tuple, def_: Def) -> bool:
    """Whether a temp of these extents is no bigger than an input: its extents are among one
    input's dimensions (x(N, D) for W x; never attention's N x M scores)."""
    want = [hi for _, hi in extents]
    for t in def_.inputs:
        dims = list(t.shape)
        if all(dims.count(d) >= want.count(d) for d in want):
            return True
    return not want


def nest_shared(def_: Def) -> Def:
    """A sum of a product, `sum(i, j: P(i, j) sum(d: q(i, d) k(j, d)))`, nested as
    `sum(i, d: q(i, d) sum(j: P(i, j) k(j, d)))` when that inner sum is one another place of the
    def computes (alpha-equivalent, same extents): `share_sums` then computes it once. The
    attention gradient's d_scale (a learnable temperature) is this sum over d_s, d_q's Gemm: as
    written, it stored the N x M d_s; nested, d_s is a tile that is never stored."""
    keys = {_key(e, ranges)[0] for st in def_.body for e, ranges in _occurrences(st)}

    def nest(e: Reduce, scope: dict[str, Range]) -> Reduce | None:
        e = _flat(e)
        scope = {**scope, **{g.index: g for g in e.ranges}}
        factors = product_factors(e.body)
        own = {g.index for g in e.ranges}
        for n, a in enumerate(factors):
            inner = own - free_indices(a)
            rest = factors[:n] + factors[n + 1:]
            moved = [f for f in rest if free_indices(f) & inner]
            if not inner or inner == own or not moved:
                continue
            body = Reduce("sum", tuple(g for g in e.ranges if g.index in inner),
                          product(moved, e.dtype), None, e.dtype)
            free = free_indices(body)
            key = _key(body, {i: scope[i] for i in free})[0] if free <= scope.keys() else None
            if key not in keys or not _small(key[1], def_):
                continue  # not found elsewhere, or too big to share (attention's scores)
            kept = [f for f in rest if not free_indices(f) & inner]
            return replace(e, ranges=tuple(g for g in e.ranges if g.index not in inner),
                           body=product([a, *kept, body], e.dtype))
        return None

    def go(x: Expr, scope: dict[str, Range]) -> Expr:
        if not isinstance(x, Reduce):
            return map_children(x, lambda c: go(c, scope))
        x = replace(x, body=go(x.body, {**scope, **{g.index: g for g in x.ranges}}))
        if x.op == "sum" and x.mask is None and not x.rank:
            return nest(x, scope) or x
        return x

    body = tuple(
        replace(st, rhs=go(st.rhs, {g.index: g for g in st.domain})) for st in def_.body
    )
    return def_ if body == def_.body else replace(def_, body=body)


def _flat(e: Reduce) -> Reduce:
    """`sum(i: a * sum(d: b * c))` as `sum(i, d: a * b * c)` (unmasked sums, distinct indices)."""
    factors, ranges = [], list(e.ranges)
    for f in product_factors(e.body):
        names = {g.index for g in ranges}
        if (isinstance(f, Reduce) and f.op == "sum" and f.mask is None and not f.rank
                and not names & {g.index for g in f.ranges}):
            ranges += f.ranges
            factors += product_factors(f.body)
        else:
            factors.append(f)
    return replace(e, ranges=tuple(ranges), body=product(factors, e.dtype))
