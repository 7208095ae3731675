"""Temporary elimination: inline a temp's defining expression into its readers.

Input: canonical TensorIR. Output: the same meaning, where every temporary `T` that is
- written by exactly one statement, unmasked, over its whole shape, without reading itself,
- read only through index expressions free of tensor reads (no indirect `T(idx(l))`), and
- not a factor of an n-ary contraction (a sum of a product of >= 3 tensors): there it stays a
  buffer so that the planner can choose the association (W6: phi(q) (phi(k)^T v)) -- unless it is
  itself a pure network (a sum of a product of tensors), which is then spliced (`merged`) into
  the reader's network so that the planner orders the whole (stepwise Tucker, pairwise MPS),
- not an operand of a big Gemm that is pointwise or a big Gemm itself (`h = relu(x W1 + b1)`
  read as a factor of `h W2`, linear attention's `relu(q)`; sizes priced by `costs.gemm_pays`,
  `keeps_gemm`): inlined, the Gemms would be strided dot products (a 2-layer MLP 70x slower than
  numpy); stored, each is one Gemm, and
- cheap to recompute at each read: its RHS has no reduction, or every read site iterates only over
  the read's own indices plus LHS indices of the reader (which the lowering hoists: the reduction is
  computed once per point of the temp, as W4's `s(b,h,i,j)` inside the online softmax) over at
  most `costs.HOIST_MAX` points of those LHS indices (the attention gradient's `lse(i)` read in
  `dv(j, e) = sum(i: ...)` is stored),
is substituted (`T(a, b)` -> RHS[i := a, j := b]) into its readers and its statement removed.
Temps that stay are reported by `not_inlined(def_)` with a plain reason (for `explain`).
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Access, Def, Expr, Index, Reduce, Statement, is_zero
from tensorc.ir.tir_utils import (
    children,
    free_indices,
    has_reduce,
    map_children,
    product_factors,
    reads,
    substitute,
    walk,
)
from tensorc.passes.costs import HOIST_MAX, STORE_RATIO, gemm_pays, only_gemms, shape_volume, volume
from tensorc.passes.merge_networks import is_network, merged


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


def _contraction_factor(e: Expr, temp: str) -> bool:
    """Whether `temp` is read as a plain factor of a sum of a product of >= 3 tensors in `e`."""
    for r in walk(e):
        if isinstance(r, Reduce) and r.op == "sum" and r.mask is None:
            tensors = [f for f in product_factors(r.body) if isinstance(f, Access) and f.indices]
            if len(tensors) >= 3 and any(a.tensor == temp for a in tensors):
                return True
    return False


def _network_reads(def_: Def, temp: str):
    """Each read of `temp` that is a tensor factor of a network sum, with that sum, the reader's
    domain, and whether every read of `temp` is such a factor."""
    found, total = [], 0
    for st in def_.body:
        if st.tensor == temp:
            continue
        for expr in (st.rhs, st.mask):
            for x in walk(expr) if expr is not None else ():
                total += isinstance(x, Access) and x.tensor == temp
                if is_network(x):
                    found += [(x, f, st) for f in product_factors(x.body)
                              if isinstance(f, Access) and f.tensor == temp]  # fmt: skip
    return found, len(found) == total


def keeps_gemm(def_: Def, st: Statement, sizes: dict[str, int] | None) -> bool:
    """Whether temp `st.tensor` is read as a factor of a big Gemm (`costs.gemm_pays`) and is
    itself pointwise or a big Gemm with an epilogue, so that storing it (each a Gemm) beats
    inlining it (strided dot products) -- unless it is more than `costs.STORE_RATIO` times bigger
    than every input."""
    if is_network(st.rhs):
        return False  # a pure network is merged into its reader's and planned as a whole
    if not only_gemms(st.rhs, sizes):
        return False
    biggest = max((shape_volume(d.shape, sizes) for d in def_.inputs), default=1)
    if shape_volume(def_.tensor(st.tensor).shape, sizes) > STORE_RATIO * biggest:
        return False  # an interaction matrix: its readers compute it tile by tile
    reads, _ = _network_reads(def_, st.tensor)
    for red, acc, reader in reads:
        mine = {i.name for i in acc.indices if isinstance(i, Index)}
        others = [f for f in product_factors(red.body) if f is not acc and isinstance(f, Access)]
        summed = {g.index: g for g in red.ranges}
        scope = {g.index: g for g in reader.domain}
        if gemm_pays(mine, summed, [o for o in others if o.indices], scope, sizes):
            return True
    return False


def why_not_inlinable(def_: Def, temp: str, sizes: dict[str, int] | None = None) -> str | None:
    """None if `temp` can be inlined, else the reason in a plain sentence (`sizes`: the call's,
    for the cost of keeping a Gemm; unknown ones count as PLAN_SIZE)."""
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
    if keeps_gemm(def_, st, sizes):
        return (
            f"temp {temp} is an operand of a Gemm (and pointwise or a Gemm itself); inlined, "
            f"the Gemms would be strided dot products"
        )
    network = is_network(st.rhs) and _network_reads(def_, temp)[1]
    costly = has_reduce(st.rhs) and not network
    dots = only_gemms(st.rhs, sizes)  # dot products: their readers compute them as Gemm tiles
    for k, reader in enumerate(def_.body):
        if k <= writers[0]:
            if any(a.tensor == temp for a, _ in reads(reader.rhs)) and k < writers[0]:
                return f"temp {temp} is read before it is written"
            continue
        if not network and _contraction_factor(reader.rhs, temp):
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
                    across = [g for g in reader.domain if g.index in extra]
                    if enclosing and volume(across, sizes) > HOIST_MAX and not dots:
                        return (
                            f"temp {temp} holds a reduction read inside a reduction, across "
                            f"{', '.join(g.index for g in across)} of {reader.tensor}; hoisted, "
                            f"it would need accumulator arrays of more than {HOIST_MAX} points"
                        )
    return None


def _inline_into(e: Expr, temp: str, st: Statement) -> Expr:
    def sub(x: Expr) -> Expr:
        x = map_children(x, sub)
        if isinstance(x, Access) and x.tensor == temp:
            return substitute(st.rhs, dict(zip(st.indices, x.indices)))
        return x

    return sub(e)


def inline_temps(def_: Def, sizes: dict[str, int] | None = None) -> Def:
    changed = True
    while changed:
        changed = False
        for decl in def_.temps:
            if why_not_inlinable(def_, decl.name, sizes) is not None:
                continue
            if not any(s.tensor == decl.name for s in def_.body):
                continue
            st = next(s for s in def_.body if s.tensor == decl.name)
            body = []
            for s in def_.body:
                if s is st:
                    continue
                rhs = _inline_into(s.rhs, decl.name, st)
                body.append(
                    replace(
                        s,
                        rhs=s.rhs if rhs == s.rhs else merged(rhs),  # readers only
                        mask=None if s.mask is None else _inline_into(s.mask, decl.name, st),
                    )
                )
            temps = tuple(t for t in def_.temps if t.name != decl.name)
            def_ = replace(def_, body=tuple(body), temps=temps)
            changed = True
            break
    return def_


# reasons that are a plan's choice (the buffer makes it faster), not a fast path missed
CHOICES = ("is an operand of a Gemm", "is a factor of an n-ary contraction")


def not_inlined(
    def_: Def, sizes: dict[str, int] | None = None, choice: bool | None = None
) -> list[str]:
    """Plain sentences for the temps `inline_temps` left as buffers (`choice`: only those kept
    by choice, True, or only the others, False)."""
    out = []
    for decl in def_.temps:
        why = why_not_inlinable(def_, decl.name, sizes)
        if why is not None and choice is not None and any(c in why for c in CHOICES) != choice:
            continue
        if why is not None:
            shape = ", ".join(str(d) for d in decl.shape)
            out.append(f"{why}; stored as buffer {decl.name}[{shape}]")
    return out
