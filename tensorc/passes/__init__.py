"""The pass pipeline (TensorIR -> TensorIR); `tensorc.pipeline.to_loops` runs it, then lowers.

Read PIPELINE top to bottom: it is the whole order. Every pass is a pure function `Def -> Def` in
its own file; lowering to LoopIR (`tensorc.schedule.lower`) comes after the last one. A pass whose
decisions have a price (`inline_temps`, `extract_operands`; prices in `costs.py`) also takes the call's sizes as `sizes=`.
"""

from __future__ import annotations

import functools
import inspect

from tensorc import knobs
from tensorc.ir.tensor_ir import Def
from tensorc.passes.distribute_sums import distribute_sums, expand_squares
from tensorc.passes.drop_dead import drop_dead
from tensorc.passes.extract_operands import extract_operands
from tensorc.passes.fold_constants import fold_constants
from tensorc.passes.fuse_updates import fuse_updates
from tensorc.passes.guard_reductions import guard_reductions
from tensorc.passes.hoist_broadcast import hoist_broadcast
from tensorc.passes.hoist_invariants import hoist_invariants
from tensorc.passes.inline_temps import inline_temps
from tensorc.passes.merge_networks import merge_networks
from tensorc.passes.normalize_softmax import normalize_softmax
from tensorc.passes.normalize_sqdist import normalize_sqdist
from tensorc.passes.presum_factors import presum_factors
from tensorc.passes.share_products import share_products
from tensorc.passes.share_sums import nest_shared, share_sums

PIPELINE = [
    fold_constants,  # fold constant arithmetic so later pattern matches see one Const, not 2*s*s
    fuse_updates,  # `O = x W; O = O + b; O = relu(O)` -> one statement: epilogues stay in registers
    distribute_sums,  # sum(j: W(i,j) (x(i,d) - x(j,d))) -> two sums: a row sum and a Gemm
    hoist_invariants,  # sum(j: a*b/c(i)) -> sum(j: a*b)/c(i): plain products reach the planner
    merge_networks,  # nested sums of products -> one network: the planner sees it whole
    nest_shared,  # d_scale = sum(i,j,d: d_s q k) -> sum(i,d: q sum(j: d_s k)), d_q's sum ...
    share_sums,  # ... computed once, so the N x M d_s is read by sums inlining can fuse it into
    inline_temps,  # producer-consumer fusion (W4's s is never stored); network temps (stepwise
    # Tucker, MPS environments) join their reader's network; a Gemm feeding a Gemm is kept (MLP)
    hoist_invariants,  # an inlined normaliser `/ z(i)` leaves the sum it was read in
    normalize_softmax,  # exp(s)/sum(exp(s)), lse temps, ternary -1e30 masks -> one softmax form
    guard_reductions,  # c ? sum(k: x(t - k)) : 0: the sum runs only where c holds (no OOB reads)
    normalize_sqdist,  # n(i) + n(j) - 2 g(i,j) -> sum(d: (x-y)^2): the Gram path, symmetric tiles
    expand_squares,  # sum(i,j: W |x_i - x_j|^2) -> row sums and a Gemm (d_gamma)
    share_products,  # dK(i,j) K(i,j) read by several sums -> one stored product (RBF gradient)
    distribute_sums,  # ... whose sums over (x(i,d) - x(j,d)) split now: Gemms and row sums
    hoist_invariants,
    share_sums,  # a sum read at several places (d_x's Gemm P x, again in d_gamma) computed once
    extract_operands,  # sum(j: relu(x W1 + b1) W2): the inline factor becomes a stored Gemm operand
    merge_networks,  # ... so that nested sums of such operands form one network too
    presum_factors,  # sum(j,d: q(i,d) k(j,d)) -> sum(d: q(i,d) t(d)), t(d) = sum(j: k(j,d)): O(N D)
    share_sums,  # ... and the row sums presum_factors made, where other statements read them too
    hoist_broadcast,  # d_v(j, e) = d_o * sum(i: P(i, j)) (a scalar cotangent): the sum once per j
    drop_dead,  # temps nobody reads any more (after inlining) lose their statements and buffers
    fold_constants,  # inlining can create new constant subexpressions
]


def run_pipeline(
    def_: Def, sizes: dict[str, int] | None = None, trace: list[tuple[str, str, set]] | None = None
) -> Def:
    """Run every pass of PIPELINE in order (with the TensorIR verifier between passes when
    TENSORC_CHECKS=1); `sizes` (the call's, if known) go to the passes that price decisions.
    `trace`, if given, receives (pass name, what it did in words, the temps it removed) for each
    pass that changed the def (`explain` lists them as the rewrites applied)."""
    check = knobs.checks()
    verify = None
    if check:
        from tensorc.ir.verifier import verify
    for p in PIPELINE:
        before = def_
        def_ = p(def_, sizes=sizes) if _priced(p) else p(def_)
        if trace is not None and def_ != before:
            gone = {t.name for t in before.temps} - {t.name for t in def_.temps}
            trace.append((p.__name__, _changes(before, def_), gone))
        if verify is not None:
            verify(def_)
    return def_


@functools.cache
def _priced(p) -> bool:
    """Whether pass `p` takes the call's sizes."""
    return "sizes" in inspect.signature(p).parameters


def _changes(before: Def, after: Def) -> str:
    """Which statements a pass rewrote, added or removed, as `statement o; new temp t; ...`."""
    old = {(st.tensor, st.rhs) for st in before.body}
    new = {(st.tensor, st.rhs) for st in after.body}
    touched = [t for t, _ in dict.fromkeys(sorted(new - old))]
    gone = sorted({t.name for t in before.temps} - {t.name for t in after.temps})
    made = sorted({t.name for t in after.temps} - {t.name for t in before.temps})
    parts = [f"rewrote {', '.join(dict.fromkeys(touched))}"] if touched else []
    parts += [f"new temp {', '.join(made)}"] if made else []
    parts += [f"temp {', '.join(gone)} gone"] if gone else []
    return "; ".join(parts) or "changed the def"


def __getattr__(name: str):
    """`tensorc.passes.to_loops`, kept for existing callers: the function lives above both
    passes/ and schedule/ in `tensorc.pipeline` (imported on first use, so that passes/ does not
    import schedule/)."""
    if name == "to_loops":
        from tensorc.pipeline import to_loops

        return to_loops
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PIPELINE", "run_pipeline", "to_loops"]
