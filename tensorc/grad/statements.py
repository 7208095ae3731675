"""Helpers that shape the backward's statements: clipped ranges, masks as ternaries, merged
contributions, full domains; which forward statements the backward needs, and its input sizes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import sympy

from tensorc.grad.build import add, const, index, select, substitute, tensors_read, unique_binders
from tensorc.grad.transpose import Transposed
from tensorc.ir.tensor_ir import (
    Access,
    Call,
    Expr,
    Index,
    Range,
    Reduce,
    Statement,
    is_zero,
    size_symbol,
    walk,
)
from tensorc.ir.tir_utils import alpha_key, map_children


def clip_ranges(st: Statement, dims: dict) -> Statement:
    """Ranges up to an output dimension expression `e` that the backward reads as the new size
    `S` run to `min(e, S)`: both equal at call time, and the bounds of every read are provable."""
    if not dims:
        return st

    def hi(r: Range) -> Range:
        for e, s in dims.items():
            if is_zero(sympy.sympify(r.hi) - e):
                return replace(r, hi=sympy.Min(e, s))
        return r

    def expr(e: Expr) -> Expr:
        if isinstance(e, Reduce):
            mask = None if e.mask is None else expr(e.mask)
            return replace(e, ranges=tuple(map(hi, e.ranges)), body=expr(e.body), mask=mask)
        if isinstance(e, Access):
            return replace(e, indices=tuple(map(expr, e.indices)))
        if isinstance(e, Call):
            return replace(e, args=tuple(map(expr, e.args)))
        return e

    mask = None if st.mask is None else expr(st.mask)
    return replace(st, domain=tuple(map(hi, st.domain)), rhs=expr(st.rhs), mask=mask)


def unmasked(rhs: Expr, mask: Expr | None) -> Expr:
    """`mask ? rhs : 0`: a gradient tensor is written everywhere (a temporary written under a
    statement mask would be defined only there, LANGUAGE.md section 2)."""
    return rhs if mask is None else select(mask, rhs, const(0, rhs.dtype))


def merge(a: Transposed, b: Transposed, fresh: Callable[[str], str]) -> Transposed | None:
    """`a + b` as one statement when `b`, its LHS indices renamed to `a`'s, has `a`'s domain
    and mask; else None."""
    if len(a.indices) != len(b.indices):
        return None
    # b's reductions may bind a's LHS names (gram: dx(i, d) sums j, dx(j, d) sums i)
    b = replace(b, rhs=unique_binders(b.rhs, set(a.indices) | set(b.indices), fresh))
    names = dict(zip(b.indices, a.indices))
    subst = {old: index(new) for old, new in names.items() if old != new}
    dom = tuple(replace(r, index=names[r.index]) for r in b.domain)
    mask = None if b.mask is None else substitute(b.mask, subst)
    if dom != a.domain or mask != a.mask:
        return None
    return replace(a, rhs=add(a.rhs, substitute(b.rhs, subst)))


def add_to(groups: dict, key: tuple, g: Expr) -> None:
    groups[key] = add(groups[key], g) if key in groups else g


def full_domain(idx: tuple[str, ...], shape: tuple) -> tuple[Range, ...]:
    return tuple(Range(i, sympy.Integer(0), sympy.sympify(s)) for i, s in zip(idx, shape))


def covers(domain: tuple[Range, ...], shape: tuple) -> bool:
    return all(is_zero(r.lo) and is_zero(r.hi - s) for r, s in zip(domain, shape))


def input_dims(shape: tuple, names: dict, fresh) -> tuple:
    """A saved output's dimensions as the backward's input dimensions, which must be sizes or
    literals: an expression (`(H - KH) // 2 + 1`) becomes a new size (recorded in `names`),
    checked against the reads at call time like any bound."""
    out = []
    for s in shape:
        s = sympy.sympify(s)
        if not (s.is_Symbol or s.is_Integer):
            if s not in names:
                names[s] = size_symbol(fresh(f"S{len(names)}"))
            s = names[s]
        out.append(s)
    return tuple(out)


def use_hoisted(st: Statement, hoisted: dict) -> Statement:
    """`st` with reads of a hoisted reduction's value (inside derivative formulas) reading its
    temp instead (`hoisted`: (reduction, label) -> the temp's access)."""
    values = {node: acc for (node, _), acc in hoisted.items()}

    def use(e: Expr) -> Expr:
        if isinstance(e, Reduce) and e in values:
            return values[e]
        if isinstance(e, Reduce):
            mask = None if e.mask is None else use(e.mask)
            return replace(e, body=use(e.body), mask=mask)
        if isinstance(e, Call):
            return replace(e, args=tuple(map(use, e.args)))
        return e

    return replace(st, rhs=use(st.rhs))


def needed_forward(forward: list[Statement], body: list[Statement], given: set[str]) -> set[str]:
    """The tensors of `forward` statements the backward `body` reads, transitively (inputs and
    saved outputs are `given`)."""
    by_name = {st.tensor: st for st in forward}
    todo = set()
    for st in body:
        todo |= tensors_read(st.rhs) | (tensors_read(st.mask) if st.mask is not None else set())
    needed: set[str] = set()
    while todo:
        t = todo.pop()
        if t in needed or t in given or t not in by_name:
            continue
        needed.add(t)
        st = by_name[t]
        todo |= tensors_read(st.rhs) | (tensors_read(st.mask) if st.mask is not None else set())
    return needed


def reuse_saved(body: list[Statement], saved: list[Statement]) -> list[Statement]:
    """`body` with every subexpression that recomputes a saved output's value (its whole RHS,
    holding a reduction, at some indices) replaced by a read of that output: the RBF Gram
    gradient's `exp(-gamma * sum(d: (x(i,d) - x(j,d))^2))` is `k(i, j)`. `saved`: the statements
    that write the outputs, each once, unmasked, over the whole output."""
    pats = []
    for st in saved:
        if any(isinstance(x, Reduce) for x in walk(st.rhs)):
            holes = {i: Index(f"%O{n}") for n, i in enumerate(st.indices)}
            pats.append((st, alpha_key(substitute(st.rhs, holes))))
    if not pats:
        return body

    def use(e: Expr) -> Expr:
        for st, pat in pats:
            bind: dict[str, str] = {}
            if type(e) is type(st.rhs) and _unify(pat, alpha_key(e), bind):
                at = tuple(Index(bind[f"%O{n}"]) for n in range(len(st.indices)))
                return Access(st.tensor, at, e.dtype)
        return map_children(e, use)

    return [replace(st, rhs=use(st.rhs)) for st in body]


def _unify(p: Expr, e: Expr, bind: dict[str, str]) -> bool:
    """Whether `e` is the pattern `p` with its holes (`%O<n>`) bound to plain indices."""
    if isinstance(p, Index) and p.name.startswith("%O"):
        if not isinstance(e, Index):
            return False
        return bind.setdefault(p.name, e.name) == e.name
    if type(p) is not type(e):
        return False
    if isinstance(p, Reduce):
        same = p.op == e.op and p.ranges == e.ranges and (p.mask is None) == (e.mask is None)
        same = same and p.k == e.k and (p.rank is None) == (e.rank is None)
        if same and p.rank is not None:  # kmin's rank index: a hole like the LHS's others
            same = bind.setdefault(p.rank, e.rank) == e.rank if p.rank.startswith("%O") else (
                p.rank == e.rank)
        return same and _unify(p.body, e.body, bind) and (
            p.mask is None or _unify(p.mask, e.mask, bind))
    if isinstance(p, Access):
        return p.tensor == e.tensor and len(p.indices) == len(e.indices) and all(
            _unify(a, b, bind) for a, b in zip(p.indices, e.indices))
    if isinstance(p, Call):
        return p.fn == e.fn and len(p.args) == len(e.args) and all(
            _unify(a, b, bind) for a, b in zip(p.args, e.args))
    return p == e


def rename_reads(e: Expr, current: dict[str, str]) -> Expr:
    """`e` reading tensor `current[t]` wherever it read `t` (also inside index positions)."""
    if isinstance(e, Access):
        idx = tuple(rename_reads(i, current) for i in e.indices)
        return replace(e, tensor=current.get(e.tensor, e.tensor), indices=idx)
    if isinstance(e, Call):
        return replace(e, args=tuple(rename_reads(a, current) for a in e.args))
    if isinstance(e, Reduce):
        mask = None if e.mask is None else rename_reads(e.mask, current)
        return replace(e, body=rename_reads(e.body, current), mask=mask)
    return e


def read_saved_copies(
    body: list[Statement], recomputed: set[str], values: tuple[str, ...]
) -> tuple[list[Statement], dict[str, str]]:
    """`body` without the recomputed temps that `reuse_saved` turned into copies of a saved
    value (`lse_1(b, i) = lse(b, i)`), its readers reading the value; and {temp: value}."""
    copies = {
        st.tensor: st.rhs.tensor
        for st in body
        if st.tensor in recomputed and isinstance(st.rhs, Access)
        and st.rhs.tensor in values and st.mask is None
        and st.rhs.indices == tuple(index(i) for i in st.indices)
    }  # fmt: skip
    if not copies:
        return body, copies
    body = [
        replace(st, rhs=rename_reads(st.rhs, copies),
                mask=None if st.mask is None else rename_reads(st.mask, copies))
        for st in body if st.tensor not in copies
    ]  # fmt: skip
    return body, copies
