"""Temporary elimination: inline a temp's defining expression into its readers.

Input: canonical TensorIR. Output: the same meaning, where every temporary `T` that is
- written by exactly one statement, unmasked, over its whole shape, without reading itself,
- read only through index expressions free of tensor reads (no indirect `T(idx(l))`), and
- not a factor of an n-ary contraction (a sum of a product of >= 3 tensors): there it stays a
  buffer so that the planner can choose the association (W6: phi(q) (phi(k)^T v)), and
- cheap to recompute at each read: its RHS has no reduction, or every read site iterates only over
  the read's own indices plus LHS indices of the reader (which the lowering hoists: the reduction is
  computed once per point of the temp, as W4's `s(b,h,i,j)` inside the online softmax),
is substituted (`T(a, b)` -> RHS[i := a, j := b]) into its readers and its statement removed.
Temps that stay are reported by `not_inlined(def_)` with a plain reason (for `explain`).
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Access, Call, Def, Expr, Reduce, Statement, is_zero
from tensorc.passes.tir_utils import (
    children,
    free_indices,
    has_reduce,
    map_children,
    reads,
    substitute,
    walk,
)


def _full_shape(st: Statement, shape) -> bool:
    if len(st.domain) != len(shape):
        return False
    return all(
        is_zero(r.lo) and is_zero(r.hi - d) for r, d in zip(st.domain, shape)
    )


def _reads_with_loops(e: Expr, bound: frozenset = frozenset()):
    """Each read with the reduction indices whose loops really enclose it after hoisting: those of
    its innermost reduction, plus the outer ones that reduction depends on."""
    if isinstance(e, Access):
        yield e, set(bound)
    if isinstance(e, Reduce):
        own = {r.index for r in e.ranges}
        keep = frozenset(bound & free_indices(e)) | own
        for c in (e.body, e.mask):
            if c is not None:
                yield from _reads_with_loops(c, keep)
        return
    for c in children(e):
        yield from _reads_with_loops(c, bound)


def _factors(e: Expr) -> list[Expr]:
    if isinstance(e, Call) and e.fn == "mul":
        return _factors(e.args[0]) + _factors(e.args[1])
    return [e]


def _contraction_factor(e: Expr, temp: str) -> bool:
    """Whether `temp` is read as a plain factor of a sum of a product of >= 3 tensors in `e`."""
    for r in walk(e):
        if isinstance(r, Reduce) and r.op == "sum" and r.mask is None:
            tensors = [f for f in _factors(r.body) if isinstance(f, Access) and f.indices]
            if len(tensors) >= 3 and any(a.tensor == temp for a in tensors):
                return True
    return False


def why_not_inlinable(def_: Def, temp: str) -> str | None:
    """None if `temp` can be inlined, else the reason in a plain sentence."""
    writers = [k for k, s in enumerate(def_.body) if s.tensor == temp]
    if len(writers) != 1:
        return f"temp {temp} is written by {len(writers)} statements"
    st = def_.body[writers[0]]
    if st.mask is not None:
        return f"temp {temp} is written under a mask"
    if len(set(st.indices)) != len(st.indices):
        return f"temp {temp} is written on a diagonal"
    if not _full_shape(st, def_.tensor(temp).shape):
        return f"temp {temp} is written on part of its shape only"
    if any(isinstance(x, Access) and x.tensor == temp for x in walk(st.rhs)):
        return f"temp {temp} reads itself"
    costly = has_reduce(st.rhs)
    for k, reader in enumerate(def_.body):
        if k <= writers[0]:
            if any(a.tensor == temp for a, _ in reads(reader.rhs)) and k < writers[0]:
                return f"temp {temp} is read before it is written"
            continue
        if _contraction_factor(reader.rhs, temp):
            return (
                f"temp {temp} is a factor of an n-ary contraction; kept so that the planner "
                f"can choose the contraction order"
            )
        for expr in (reader.rhs, reader.mask):
            if expr is None:
                continue
            for acc, enclosing in _reads_with_loops(expr):
                if acc.tensor != temp:
                    continue
                if any(isinstance(x, Access) for i in acc.indices for x in walk(i)):
                    return f"temp {temp} read through an indirect index"
                if costly:
                    used = set().union(*(free_indices(i) for i in acc.indices))
                    extra = (set(reader.indices) | enclosing) - used
                    if not extra <= set(reader.indices):
                        return (
                            f"temp {temp} holds a reduction read inside a loop over "
                            f"{', '.join(sorted(extra - set(reader.indices)))}; recomputing it "
                            f"there would multiply its cost"
                        )
    return None


def _inline_into(e: Expr, temp: str, st: Statement) -> Expr:
    def sub(x: Expr) -> Expr:
        x = map_children(x, sub)
        if isinstance(x, Access) and x.tensor == temp:
            return substitute(st.rhs, dict(zip(st.indices, x.indices)))
        return x

    return sub(e)


def inline_temps(def_: Def) -> Def:
    changed = True
    while changed:
        changed = False
        for decl in def_.temps:
            if why_not_inlinable(def_, decl.name) is not None:
                continue
            if not any(s.tensor == decl.name for s in def_.body):
                continue
            st = next(s for s in def_.body if s.tensor == decl.name)
            body = []
            for s in def_.body:
                if s is st:
                    continue
                body.append(
                    replace(
                        s,
                        rhs=_inline_into(s.rhs, decl.name, st),
                        mask=None if s.mask is None else _inline_into(s.mask, decl.name, st),
                    )
                )
            temps = tuple(t for t in def_.temps if t.name != decl.name)
            def_ = replace(def_, body=tuple(body), temps=temps)
            changed = True
            break
    return def_


def not_inlined(def_: Def) -> list[str]:
    """Plain sentences for the temps `inline_temps` left as buffers."""
    out = []
    for decl in def_.temps:
        why = why_not_inlinable(def_, decl.name)
        if why is not None:
            shape = ", ".join(str(d) for d in decl.shape)
            out.append(f"{why}; stored as buffer {decl.name}[{shape}]")
    return out
