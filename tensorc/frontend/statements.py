"""Checking one statement: `LHS op RHS where ...` -> a canonical TensorIR `Statement`.

Order of work: lets are substituted, softmax expanded and binders renamed apart (rewrite.py); the
right-hand side is typed (exprs.py); the implicit sum / `op=!` / `op=` rewrite wraps it in `Reduce`s;
ranges are inferred (ranges.py) and filled in; `where` masks are attached to the reductions over the
indices they mention (and to the statement when they mention only LHS indices).
"""

from __future__ import annotations

import dataclasses

import sympy

from tensorc.errors import NameError_, ShapeError, StatementError, TypeError_
from tensorc.frontend import syntax as S
from tensorc.frontend.einstein import place_sums
from tensorc.frontend.exprs import Env, Lowerer, retype_weak, settle
from tensorc.frontend.masks import inherit_masks
from tensorc.frontend.names import ASSIGN_OPS, did_you_mean
from tensorc.frontend.ranges import bound_to_sympy, constraints_of, infer_ranges
from tensorc.frontend.rewrite import Renamer, all_names, free_names, subst
from tensorc.ir.ops import result_dtype
from tensorc.ir.tensor_ir import (
    Access,
    Call,
    Expr,
    Index,
    Range,
    Reduce,
    Statement,
    TensorDecl,
    size_symbol,
)
from tensorc.ir.tir_utils import conjoin, conjuncts
from tensorc.ir.types import DTYPES
from tensorc.ir.verifier import index_names, map_expr

_KIND_ORDER = {"b": 0, "u": 1, "i": 1, "f": 2}


def check_statement(st: S.Stmt, env: Env, outputs: set[str]) -> tuple[Statement, TensorDecl]:
    name = st.tensor.id
    lhs = tuple(i.id for i in st.indices)
    _check_lhs(st, env)
    decl = env.decls.get(name)
    if decl is not None and len(decl.shape) != len(lhs):
        raise ShapeError(
            f"'{name}' has {len(decl.shape)} dimension(s) but is written with {len(lhs)} index(es)",
            st.span,
            f"'{name}' is {decl.dtype}({', '.join(map(str, decl.shape))})",
        )

    ranges: dict[str, S.RangeClause] = {}
    lets: dict[str, S.Node] = {}
    masks: list[S.Node] = []
    exists: list[S.Node] = []
    for c in st.clauses:
        if isinstance(c, S.RangeClause):
            if c.index.id in ranges:
                raise StatementError(f"two ranges for index '{c.index.id}'", c.span)
            ranges[c.index.id] = c
        elif isinstance(c, S.LetClause):
            lets[c.name.id] = subst(c.value, lets)
        elif isinstance(c, S.ExistsClause):
            exists.append(c.expr)
        else:
            masks.append(c.cond)
    rhs = subst(st.rhs, lets)
    if st.op == "=":
        rhs = place_sums(rhs, lhs, env.names, env.sizes)
    masks = [subst(m, lets) for m in masks]
    exists = [subst(e, lets) for e in exists]

    used = set(lhs) | set(ranges) | set(lets)
    for node in (rhs, *masks, *exists):
        all_names(node, used)
    ren = Renamer(used)
    rhs = ren.expand_softmax(rhs)
    rhs = ren.rename_binders(rhs, set(free_names(rhs)) | set(lhs), set(lhs))

    low = Lowerer(env, lhs)
    low.reserved = ren.used
    typed = low.lower(rhs)
    op = st.op
    init = op.endswith("!")
    base = op[:-2] if init else op[:-1]
    if op != "=" and not init and name not in env.defined:
        raise StatementError(
            f"'{name}' {op} ... updates a tensor that no earlier statement defined",
            st.span,
            f"use {base}=! to initialise '{name}' (or define it in an earlier statement)",
        )

    rank = None
    if low.knn:
        if len(low.knn) > 1:
            raise StatementError(
                "only one kmin/argkmin per statement", st.span, "split the statement in two"
            )
        cands = [i for i in lhs if i not in low.free]
        if len(cands) != 1:
            raise StatementError(
                f"{low.knn[0].op} needs exactly one left-hand index that appears nowhere on the right"
                " (the rank 0..K-1)",
                st.span,
                "e.g. `nn(i, r) = argkmin(j: d(i, j), 5)`",
            )
        rank = cands[0]
    implicit = [n for n in low.free if n not in lhs]

    low.mask_mode = True
    mask_exprs = []
    for m in masks:
        e = settle(low.lower(m))
        if e.dtype != "bool":
            raise TypeError_(
                f"a where condition must be bool, not {e.dtype}",
                m.span,
                "write a comparison, e.g. `j <= i`",
            )
        mask_exprs.append(e)
    for e in exists:  # `exists A(i)` only informs range inference: it reads nothing
        first = len(low.accesses)
        low.lower(e)
        low.guarded.update(range(first, len(low.accesses)))

    # --- ranges -------------------------------------------------------------------------------
    all_idx = [*lhs, *implicit, *[b for b in low.binders if b not in implicit]]
    fixed: dict[str, tuple] = {}
    for n, c in ranges.items():
        targets = [x for x in all_idx if x == n or ren.aliases.get(x) == n]
        if not targets:
            raise NameError_(
                f"range for unknown index '{n}'",
                c.index.span,
                did_you_mean(n, all_idx) or "ranges name indices of this statement",
            )
        r = (bound_to_sympy(c.lo, env.sizes), bound_to_sympy(c.hi, env.sizes))
        for x in targets:
            if x == n or x not in ranges:
                fixed[x] = r
    if decl is not None:
        for i, dim in zip(lhs, decl.shape, strict=True):
            fixed.setdefault(i, (0, dim))
    if rank is not None:
        fixed.setdefault(rank, (0, low.knn[0].k))
    for z, size in low.size_ranges.items():
        fixed[z] = (0, size_symbol(size))
    fixed = {n: (_sym(lo), _sym(hi)) for n, (lo, hi) in fixed.items()}
    bounds = {
        n: env.ranges.get(n) or tuple((0, dim) for dim in d.shape) for n, d in env.decls.items()
    }
    int_scalars = {n for n in env.sizes if n in env.decls}
    first_use = {i.id: i.span for i in st.indices}
    first_use.update({**low.binders, **low.free})
    cons = constraints_of(low.accesses, bounds, int_scalars, low.size_ranges, low.guarded)
    where = frozenset(x for x in all_idx if x in ranges or ren.aliases.get(x) in ranges)
    got = infer_ranges(all_idx, fixed, cons, first_use, where)
    for i in lhs:  # arrays start at 0: `O(i) = I(i + 5)` writes O(0 .. I_0 - 6)
        if i not in fixed and sympy.sympify(got[i][0]).is_negative:
            got[i] = (sympy.Integer(0), got[i][1])

    def fill(e: Expr) -> Expr:
        if isinstance(e, Reduce) and e.ranges and e.ranges[0].lo is None:
            rs = tuple(Range(r.index, *got[r.index]) for r in e.ranges)
            return dataclasses.replace(
                e, ranges=rs, rank=rank if e.op in ("kmin", "argkmin") else None
            )
        return e

    body = map_expr(typed[0], fill)  # weak values settle once, below, against the LHS dtype
    mask_exprs = [map_expr(m, fill) for m in mask_exprs]
    if implicit:
        red = "sum" if op == "=" else ASSIGN_OPS[base][0]
        if body.dtype == "bool" and red in ("sum", "prod"):
            raise TypeError_("summing bool values", st.rhs.span, "cast first, e.g. int32(c)")
        body = Reduce(red, tuple(Range(n, *got[n]) for n in implicit), body, None, body.dtype)
    body = _attach_masks(body, mask_exprs, set(lhs), ren.aliases, st)
    body, inherited = inherit_masks(body, env.masks, st.span)
    stmt_mask = conjoin(conjuncts(_stmt_mask(mask_exprs, set(lhs))) + conjuncts(inherited))

    if op != "=" and not init:
        comb = ASSIGN_OPS[base][1]
        cur = Access(name, tuple(Index(i) for i in lhs), decl.dtype)
        body = retype_weak((body, typed[1]), decl.dtype)
        body = Call(comb, (cur, body), result_dtype(comb, (decl.dtype, body.dtype)))
        typed = (body, None)
    else:
        typed = (body, typed[1])

    domain = tuple(Range(i, *got[i]) for i in lhs)
    if decl is not None:
        rhs_e = _assign_cast(typed, decl.dtype, st)
        new_decl = decl
    else:
        rhs_e = settle(typed)
        new_decl = TensorDecl(name, rhs_e.dtype, tuple(r.hi for r in domain), "temp", st.span)
    low.warn_overflows(rhs_e)
    return Statement(name, lhs, domain, rhs_e, stmt_mask, st.span), new_decl


def _sym(x):
    return sympy.sympify(x)


def _check_lhs(st: S.Stmt, env: Env) -> None:
    seen = set()
    for i in st.indices:
        if i.id in seen:
            raise StatementError(
                f"index '{i.id}' appears twice on the left-hand side",
                i.span,
                "a diagonal is written on the right: `d(i) = A(i, i)`",
            )
        seen.add(i.id)
        if i.id in env.names or i.id in env.sizes:
            raise NameError_(
                f"'{i.id}' is a tensor or size, not an index", i.span, "use another index name"
            )


def _rename(e: Expr, mapping: dict[str, str]) -> Expr:
    if not mapping:
        return e
    return map_expr(
        e, lambda x: Index(mapping[x.name]) if isinstance(x, Index) and x.name in mapping else x
    )


def _attach_masks(body: Expr, masks: list[Expr], lhs: set[str], aliases, st: S.Stmt) -> Expr:
    conj = [c for m in masks for c in conjuncts(m)]
    if not conj:
        return body
    placed = [False] * len(conj)
    ments = [index_names(c) for c in conj]

    def go(e: Expr, scope: frozenset[str]) -> Expr:
        if isinstance(e, Reduce):
            names = {r.index for r in e.ranges}
            inner = scope | names
            attached = []
            for k, c in enumerate(conj):
                mapping = {
                    aliases[x]: x
                    for x in names
                    if aliases.get(x) in ments[k] and aliases[x] not in names
                }
                c2 = _rename(c, mapping)
                m2 = index_names(c2)
                if m2 & names and m2 <= inner:
                    attached.append(c2)
                    placed[k] = True
            body2 = go(e.body, inner)
            mask = conjoin(conjuncts(e.mask) + attached)
            return dataclasses.replace(e, body=body2, mask=mask)
        return _descend_children(e, scope)

    def _descend_children(e, scope):
        if isinstance(e, Call):
            return dataclasses.replace(e, args=tuple(go(a, scope) for a in e.args))
        if isinstance(e, Access):
            return dataclasses.replace(e, indices=tuple(go(a, scope) for a in e.indices))
        return e

    out = go(body, frozenset(lhs))
    for k, c in enumerate(conj):
        if not placed[k] and not ments[k] <= lhs:
            raise StatementError(
                "a where condition mixes indices of separate reductions",
                st.span,
                "split the condition, or write the reductions explicitly",
            )
    return out


def _stmt_mask(masks: list[Expr], lhs: set[str]) -> Expr | None:
    conj = [c for m in masks for c in conjuncts(m)]
    return conjoin([c for c in conj if index_names(c) <= lhs])


def _assign_cast(typed, dtype: str, st: S.Stmt) -> Expr:
    e = retype_weak(typed, dtype)
    if e.dtype == dtype:
        return e
    src, dst = DTYPES[e.dtype].kind, DTYPES[dtype].kind
    if _KIND_ORDER[src] > _KIND_ORDER[dst]:
        raise TypeError_(
            f"cannot store a {e.dtype} value into {dtype} tensor '{st.tensor.id}'",
            st.span,
            f"cast explicitly, e.g. {dtype}(...), or declare the output with another dtype",
        )
    return Call("cast", (e,), dtype)
