"""Split-j: a reduction whose output is small, computed in parallel over chunks of its range.

A streaming reduction parallelises over its output rows only; with a scalar or few rows (W8 MMD,
`s = sum(i, j: ...)`, a kernel sum with N = 8 and M = 10^6) the threads / Triton programs sit idle.
Split-j moves such a reduction `r` of a statement into a partial kernel that runs first:

    kernel <def>_k:   parallel for c in [0, C) {              # split across threads / programs
                        <the statement's loops around r> {
                          state = identity
                          reduce for j in chunk c of [lo, hi) { state = update(state, term_j) }
                          part_<state>[c, rows...] = state } }
    kernel <def>_k+1: ... state = identity
                      serial for c in [0, C) { state = combine(state, part_<state>[c, rows...]) }
                      ... r's value from state, the statement as before

Chunk c covers [lo + E*c//C, lo + E*(c+1)//C) of the first range (E = hi - lo after mask bounds);
an empty chunk leaves the identity. `C` comes from the schedule and the sizes, never from the
thread count, and the combine runs in chunk order: results are bitwise the same for any
TENSORC_NUM_THREADS. The state and its combine are the reduction's own rule
(`reduction_rules.combine`): sums (float64 for multi-index fp32 sums), prod, max/min,
argmax/argmin and kmin/argkmin (ties: smallest index), logsumexp, online softmax.

A multi-index sum/prod/max/min/logsumexp to a scalar (W8's sum over (i, j)) splits finer: one
partial per index of its first range (`Plan.chunks == 0`, "rows"), so the partial kernel is an
ordinary streaming reduction over j that row blocking vectorises (8 rows per sweep), and the combine
adds N partials in order.

Which reductions split: those placed under the statement's own loops only (not inside another
reduction), of non-symmetric statements. `Schedule.split_j = k` forces k chunks, 1 never splits,
0 (default) decides from the sizes the schedule plans for (see `SplitJ.plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tensor_ir import size_symbol
from tensorc.ir.tir_utils import conjoin, conjuncts, free_indices, walk
from tensorc.ir.verifier import size_value_of
from tensorc.schedule import reduction_rules as rules
from tensorc.schedule.lexpr import I64, const, iadd, imax, imin, imul, isub
from tensorc.schedule.loop_nest import cse_block
from tensorc.schedule.nest import Level, close
from tensorc.schedule.schedule import SPLIT_CHUNKS, SPLIT_MIN_WORK, SPLIT_PARTIAL_BYTES, SPLIT_UNITS

ROW_OPS = ("sum", "prod", "max", "min", "logsumexp")  # no flat index: one partial per row works
ROWS_MAX = 1 << 20  # at most this many row partials (scratch); longer first ranges use chunks
COMBINE_WORDS = {
    "logsumexp": "rescaled by the larger running max",
    "online": "rescaled by the larger running max",
    "argmax": "first NaN, else best value, smallest index on ties",
    "argmin": "first NaN, else best value, smallest index on ties",
    "kmin": "merged K smallest, smallest index on ties",
    "argkmin": "merged K smallest, smallest index on ties",
}


def chunk_bounds(lo: L.LExpr, hi: L.LExpr, c: L.LExpr, chunks: int) -> tuple[L.LExpr, L.LExpr]:
    """[lo, hi) of chunk `c` of `chunks` equal parts of [lo, hi) (empty chunks when hi <= lo)."""
    ext = imax(isub(hi, lo), const(0))

    def at(k: L.LExpr) -> L.LExpr:
        return iadd(lo, L.Call("floordiv", (imul(ext, k), const(chunks)), I64))

    return at(c), at(iadd(c, const(1)))


def _sym(e: L.LExpr) -> sympy.Expr:
    """An integer LoopIR expression over sizes (a local's shape) as sympy."""
    if isinstance(e, L.Const):
        return sympy.Integer(int(e.value))
    if isinstance(e, L.Var):
        return size_symbol(e.name)
    a = [_sym(x) for x in e.args]
    ops = {"add": lambda: a[0] + a[1], "sub": lambda: a[0] - a[1], "mul": lambda: a[0] * a[1],
           "max": lambda: sympy.Max(*a), "min": lambda: sympy.Min(*a)}  # fmt: skip
    if isinstance(e, L.Call) and e.fn in ops:
        return ops[e.fn]()
    raise AssertionError(f"local shape {e} is not a size expression")


def _chain(place: Level) -> list[Level]:
    """The loop levels enclosing `place` (itself included), outermost first."""
    out = []
    while place.parent is not None:
        out.append(place)
        place = place.parent
    return out[::-1]


def _extent(rg: T.Range, sizes: dict[str, int]) -> int | None:
    e = sympy.sympify(rg.hi - rg.lo).subs({size_symbol(k): v for k, v in sizes.items()})
    return max(int(e), 0) if e.is_Integer else None


def _extent_product(ranges, sizes: dict[str, int]) -> int | None:
    extents = [_extent(rg, sizes) for rg in ranges]
    return None if None in extents else int(sympy.prod(extents))


ROW_BLOCKS_MIN = 256  # an innermost vector loop this long is split into row blocks across threads


@dataclass(frozen=True)
class Plan:
    """How one reduction splits: `chunks` equal chunks of its first range, or (chunks == 0) one
    partial per index of its first range ("rows": the partial kernel is a streaming reduction
    over the other ranges, which row blocking vectorises)."""

    chunks: int
    reason: str


class _Top:
    """The partial kernel's parallel loop `var in [start, stop)` and what it splits: the slot of
    an iteration in the scratch (`slot`, `extent` slots), the reduction left for each iteration
    (`red`) and the narrowing of its first range (`restrict`)."""

    def __init__(self, nest, r: T.Reduce, plan: Plan):
        first = r.ranges[0]
        self.red, self.restrict = r, None
        if plan.chunks:
            self.var = nest.fresh("chunk")
            self.start, self.stop, self.extent = const(0), const(plan.chunks), plan.chunks
            self.restrict = lambda lo, hi: chunk_bounds(lo, hi, L.Var(self.var), plan.chunks)
            self.slot = lambda v: v
            return
        # rows: the first range is the loop; the size-only parts of the mask are its bounds
        los, his, rest = nest.linear_bounds(first.index, conjuncts(r.mask), set())
        self.var = nest.fresh(first.index)
        self.start, self.stop = nest.size(first.lo), nest.size(first.hi)
        for b in los:
            self.start = imax(self.start, b)
        for b in his:
            self.stop = imin(self.stop, b)
        self.extent = first.hi - first.lo
        self.slot = lambda v: isub(v, nest.size(first.lo))
        self.red = replace(r, ranges=r.ranges[1:], mask=conjoin(rest))


class SplitJ:
    """Split-j for the reductions of one statement (`lower.ProgramBuilder.statement`).

    `kernels`: the partial kernels (body, notes) to run before the statement's kernel; each note
    says what was split and why (`explain` lists them under "split-j:").
    """

    def __init__(self, pb, label: str):
        self.pb, self.label = pb, label
        self.kernels: list[tuple[tuple[L.Stmt, ...], list[str]]] = []

    # --- the decision ----------------------------------------------------------------------------
    def plan(self, nest, r: T.Reduce, place: Level, dims: tuple[str, ...], online) -> Plan | None:
        """Whether and how `r` (placed at `place`) splits; None = it does not.

        `online`: (a, rest) when `r` runs as an online softmax (its logsumexp is the state)."""
        sched = nest.schedule
        chain = _chain(place)
        if sched.split_j == 1 or any(lv not in nest.lhs_levels for lv in chain):
            return None
        bound = {rg.index for rg in r.ranges}
        terms = online or (r.body,)
        invariant = [x for t in terms for x in walk(t) if isinstance(x, T.Reduce)
                     and not free_indices(x) & bound and size_value_of(x) is None]
        if invariant:  # (a size used as a value, `/ (N * N)`, costs nothing to recompute)
            return None  # an invariant inner reduction would be recomputed by every chunk
        if sched.split_j > 1:
            return Plan(sched.split_j, f"forced by Schedule(split_j={sched.split_j})")
        sizes = dict(sched.plan_sizes) | dict(sched.specialise)
        extents = [_extent(rg, sizes) for rg in r.ranges]
        units, rows = 1, 1
        levels = [(lv, nest.lhs_levels[lv]) for lv in chain if nest.lhs_levels[lv] is not None]
        for k, (lv, rg) in enumerate(levels):
            n = _extent(rg, sizes)
            if n is None:
                return None
            rows *= n
            # the threads share every enclosing level (parallel.collapse_parallel merges small
            # specialised batch loops): one unit per tile or, innermost, per row block
            step = max(dict(sched.tiles).get(rg.index, 0), 1)
            if sched.target == "cpu" and k == len(levels) - 1:
                step = max(step, sched.row_block)
                if lv.loop is not None and lv.loop[3] != "parallel" and n < ROW_BLOCKS_MIN:
                    continue  # a short vector loop (W6's d) is one unit's work, not row blocks
            units *= -(-n // step)
        if sched.target == "gpu":  # Triton programs cover every parallel level, ~64 rows each
            units = -(-rows // 64)
        if None in extents or extents[0] < 2:
            return None
        # terms: the split ranges times the largest reduction nested in the body (`sum(i: sum(j:
        # ...))`, MMD through row-sum temporaries, is as much work as `sum(i, j: ...)`)
        inner = [_extent_product(x.ranges, sizes) for t in terms for x in walk(t)
                 if isinstance(x, T.Reduce) and x is not r and size_value_of(x) is None]
        work = rows * int(sympy.prod(extents)) * max([1, *(n for n in inner if n is not None)])
        limit = SPLIT_UNITS[sched.target]
        if units >= limit or work < SPLIT_MIN_WORK:
            return None
        reason = f"{units} parallel unit(s) < {limit}, {work} terms"
        # chunks: enough that units x chunks feeds the threads twice over, and more while their
        # partial buffers (as big as the rows each) stay small — short chunks stream better (W6's
        # column sum: 4 chunks 2.1 ms, 64 chunks 1.2 ms) — but never 64 x N x E (up to 1 GB)
        # (cpu only: on gpu, unmeasured, each chunk is a Triton program and every partial a
        # combine step)
        cheap = SPLIT_PARTIAL_BYTES // (8 * rows) if sched.target == "cpu" else 0
        chunks = min(SPLIT_CHUNKS[sched.target], max(2, -(-2 * limit // units), cheap))
        if not chain and len(r.ranges) > 1 and r.op in ROW_OPS and chunks <= extents[0] <= ROWS_MAX:
            return Plan(0, reason)
        return Plan(min(chunks, extents[0]), reason)

    # --- the lowering ----------------------------------------------------------------------------
    def lower(self, nest, r: T.Reduce, place: Level, dims, online, plan: Plan) -> rules.Acc:
        """Emit `r`'s partial kernel and, at `place`, its combine; returns the combined state."""
        top = _Top(nest, r, plan)
        root = Level(None)
        at = outer = Level(root, (top.var, top.start, top.stop, "parallel", 1))
        copies: dict[Level, Level] = {}
        for lv in _chain(place):  # the statement's loops around r, same variables and bounds
            at = copies[lv] = Level(at, lv.loop)
        saved = dict(nest.env), nest.memo, nest.floor
        nest.env.update({x: (v, copies[lv]) for x, (v, lv) in nest.env.items() if lv in copies})
        if not plan.chunks:
            nest.env[r.ranges[0].index] = (L.Var(top.var), outer)
        nest.memo, nest.floor = {}, outer  # main-kernel values do not exist in the partial kernel
        acc, decls = nest.accumulate(top.red, at, dims, online, top.restrict, wide=len(r.ranges) > 1)
        nest.env, nest.memo, nest.floor = saved

        rows = [(nest.env[rg.index][0], rg) for rg in map(nest.lhs_levels.get, copies) if rg]

        def index(var: str, el: tuple[L.LExpr, ...]) -> tuple[L.LExpr, ...]:
            return (top.slot(L.Var(var)), *(isub(v, nest.size(rg.lo)) for v, rg in rows), *el)

        scratch, dtypes = {}, {}
        for d in decls:  # one scratch buffer per state local: [chunk, rows..., local's shape]
            shape = (top.extent, *(rg.hi - rg.lo for _, rg in rows), *map(_sym, d.shape))
            scratch[d.name] = self.pb.add_temp(nest.fresh(f"part_{d.name}"), d.dtype, shape)
            dtypes[d.name] = d.dtype
            at.stmts.append(_store_all(d, scratch[d.name], lambda el: index(top.var, el), nest.fresh))
        close(at, root)
        note = self._note(r, plan, acc, scratch.values())
        self.kernels.append((self._partial_body(root.finish(), nest, plan), [note]))

        c = nest.fresh("chunk")

        def part(role: str, el: tuple[L.LExpr, ...]) -> L.LExpr:
            name = acc.names[role]
            return L.Load(scratch[name], index(c, el), dtypes[name])

        place.stmts.extend(decls)
        body = rules.combine(acc, nest._at(dims), part, nest.fresh, lambda s: nest._wrap_dims(dims, s))
        place.stmts.append(L.Loop(c, top.start, top.stop, tuple(body), kind="serial"))
        return acc

    def _partial_body(self, body: tuple[L.Stmt, ...], nest, plan: Plan) -> tuple[L.Stmt, ...]:
        (loop,) = cse_block(body, nest.fresh)
        if plan.chunks:  # the rows of a chunk share its loads, as unsplit
            inner, _ = self.pb.block_rows(loop.body)
            return (replace(loop, body=inner),)
        blocked, _ = self.pb.block_rows((loop,))  # rows: the partial kernel is one streaming sweep
        return blocked

    def _note(self, r: T.Reduce, plan: Plan, acc: rules.Acc, scratch) -> str:
        how = COMBINE_WORDS.get(acc.op, f"{acc.op} of {acc.dtype} partials")
        op = "softmax-weighted sum" if acc.op == "online" else r.op
        first = r.ranges[0].index
        split = f"{plan.chunks} chunks of {first}" if plan.chunks else f"one partial per {first}"
        return (f"split-j: {self.label}: {op} over ({', '.join(rg.index for rg in r.ranges)}) in "
                f"{split} computed in parallel, combined in order ({how}) from "
                f"{', '.join(scratch)}; {plan.reason}")


def _store_all(d: L.Local, buffer: str, index, fresh) -> L.Stmt:
    """Store every element of local `d` into `buffer` at `index(element)`."""
    vars_ = [fresh("s") for _ in d.shape]
    el = tuple(L.Var(v) for v in vars_)
    stmt: L.Stmt = L.Store(buffer, index(el), L.LocalRead(d.name, el, d.dtype))
    for v, n in reversed(list(zip(vars_, d.shape))):
        stmt = L.Loop(v, const(0), n, (stmt,), kind="serial")
    return stmt
