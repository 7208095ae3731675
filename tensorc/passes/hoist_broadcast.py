"""Compute once a reduction that a statement repeats along an index it does not read.

Input: canonical TensorIR. Output: the same meaning, where a statement whose right-hand side
holds a reduction and reads no LHS index `e` (`o(i, e) = sum(j: f(i, j))`: every `e` gets the same
value) is split in two: a temp without `e` holds the value, computed once per remaining index,
and the statement copies it along `e`:

    o(i, e) = sum(j: f(i, j))     ->     b(i) = sum(j: f(i, j));   o(i, e) = b(i)

Why: a gradient whose cotangent is one scalar (the backward of `out.sum()`, runtime/broadcast.py)
has such statements; the attention gradient's `d_v(b, h, j, e) = d_o * sum(i: P(i, j))` is then a
column sum of P, which the dot-product tiles compute in one pass (tiles.py recognises `b`), where
the statement as written would be a loop nest recomputing the scores for every e.

Left alone: statements with a statement mask or a range not starting at 0, and those that read
the tensor they write.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Access, Def, Index, Reduce, Statement, TensorDecl, walk
from tensorc.ir.tir_utils import free_indices


def _repeated(st: Statement) -> tuple[str, ...]:
    """The LHS indices `st`'s value does not depend on, when splitting it pays."""
    if st.mask is not None or any(g.lo != 0 for g in st.domain):
        return ()
    nodes = list(walk(st.rhs))
    if not any(isinstance(x, Reduce) for x in nodes):
        return ()
    if any(isinstance(x, Access) and x.tensor == st.tensor for x in nodes):
        return ()
    used = free_indices(st.rhs)
    return tuple(i for i in st.indices if i not in used)


def hoist_broadcast(def_: Def) -> Def:
    used = {t.name for t in (*def_.inputs, *def_.outputs, *def_.temps)}
    body: list[Statement] = []
    temps = list(def_.temps)
    for st in def_.body:
        rep = _repeated(st)
        if not rep:
            body.append(st)
            continue
        name = next(f"bcast{n}" for n in range(len(used) + 1) if f"bcast{n}" not in used)
        used.add(name)
        keep = tuple(g for g in st.domain if g.index not in rep)
        decl = def_.tensor(st.tensor)
        temps.append(TensorDecl(name, decl.dtype, tuple(g.hi for g in keep), "temp"))
        body.append(Statement(name, tuple(g.index for g in keep), keep, st.rhs, span=st.span))
        read = Access(name, tuple(Index(g.index) for g in keep), decl.dtype)
        body.append(replace(st, rhs=read))
    if len(body) == len(def_.body):
        return def_
    return replace(def_, body=tuple(body), temps=tuple(temps))
