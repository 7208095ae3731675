"""`lower(def_, schedule) -> LoopProgram`: TensorIR (after the passes) to LoopIR kernels.

Each statement becomes one or more kernels, tried in this order:
1. contraction: a sum of a product of accesses (matmul/bmm/Gram shapes, n-ary networks via the
   contraction planner) becomes `Gemm` nodes, with any pointwise epilogue in its own loop nest;
2. Gram rewrite (schedule.gram_rewrite): `sum_d (x_id - y_jd)^2` inside an (i, j) output becomes
   row norms + a Gemm + a fused epilogue;
3. the loop nest of `nest.Nest` (streaming reductions, online softmax, masks as bounds, symmetry),
   which accepts every statement of the language: it is the fallback that never fails.
"""

from __future__ import annotations

from dataclasses import replace

import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import free_indices, reads, walk
from tensorc.schedule.lexpr import isub
from tensorc.schedule.nest import EXPENSIVE, KernelNames, Level, Nest, close
from tensorc.schedule.parallel import collapse_parallel
from tensorc.schedule.schedule import Schedule, validate
from tensorc.schedule.split import SplitJ
from tensorc.schedule.symmetry import symmetric_pair


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
    def_: T.Def, st: T.Statement, schedule: Schedule, names: KernelNames, spec, notes: list,
    target: str | None = None, split=None,
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
    parts = list(_conj(st.mask))
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
    from tensorc.schedule.nest import Inner

    for x in inner:
        rg = next(r for r in st.domain if r.index == x)
        var = names(x)
        nest.inner[x] = Inner(var, nest.size(rg.lo), nest.size(rg.hi))
        nest.env[x] = (L.Var(var), None)
    outer_mask = [c for c in parts if not free_indices(c) & set(inner)]
    inner_mask = [c for c in parts if free_indices(c) & set(inner)]
    if outer_mask:
        cond = nest.emit(_and(outer_mask), cur, ())
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
        stores = [L.If(nest.emit(_and(inner_mask), cur, inner), tuple(stores))]
    for x in reversed(inner):
        inn = nest.inner[x]
        stores = [L.Loop(inn.var, inn.lo, inn.hi, tuple(stores), kind="vector")]
    cur.stmts.extend(stores)
    close(cur, root)
    return cse_block(tuple(root.finish()), names), nest


def _conj(e):
    from tensorc.ir.tir_utils import conjuncts

    return conjuncts(e)


def _and(parts):
    from tensorc.ir.tir_utils import conjoin

    return conjoin(parts)


# --- the program ----------------------------------------------------------------------------------
class ProgramBuilder:
    def __init__(self, def_: T.Def, schedule: Schedule):
        self.def_ = def_
        self.schedule = schedule
        self.spec = dict(schedule.specialise)
        self.kernels: list[L.Kernel] = []
        self.extra_temps: list[L.Buffer] = []
        self.notes: list[str] = []
        self.reserved = {d.name for d in (*def_.inputs, *def_.outputs, *def_.temps)} | set(def_.sizes)

    def shape(self, dims) -> tuple:
        return tuple(sympy.sympify(d).subs(self._spec_subs()) for d in dims)

    def _spec_subs(self):
        from tensorc.ir.tensor_ir import size_symbol

        return {size_symbol(k): v for k, v in self.spec.items()}

    def names(self) -> KernelNames:
        return KernelNames(self.reserved | {b.name for b in self.extra_temps})

    def add_temp(self, base: str, dtype: str, shape) -> str:
        name = base
        n = 1
        while name in self.reserved or any(b.name == name for b in self.extra_temps):
            name, n = f"{base}{n}", n + 1
        self.extra_temps.append(L.Buffer(name, dtype, self.shape(shape), "temp"))
        return name

    def buffer(self, name: str) -> L.Buffer:
        for b in self.extra_temps:
            if b.name == name:
                return b
        d = self.def_.tensor(name)
        role = "scalar" if d.role == "input" and not d.shape else d.role
        return L.Buffer(d.name, d.dtype, self.shape(d.shape), role)

    def kernel(self, body: tuple, notes: list[str]) -> None:
        bufs: set[str] = set()
        vars_: set[str] = set()
        stmt_names(body, bufs, vars_)
        if self.schedule.target == "cpu":  # every thread gets rows: one parallel loop over b, h, i
            body = collapse_parallel(tuple(body), vars_ | bufs)
        # 0-d buffers (scalar inputs, scalar temps such as a pre-summed factor) may be read as Var.
        scalars = {d.name for d in (*self.def_.inputs, *self.def_.temps) if not d.shape}
        scalars |= {b.name for b in self.extra_temps if not b.shape}
        order = [d.name for d in (*self.def_.inputs, *self.def_.outputs, *self.def_.temps)]
        order += [b.name for b in self.extra_temps]
        used = [n for n in order if n in bufs or (n in scalars and n in vars_)]
        # A size is a parameter if the body reads it or a used buffer's shape needs it (strides).
        vars_ |= {str(x) for n in used for d in self.buffer(n).shape for x in d.free_symbols}
        sizes = tuple(s for s in self.def_.sizes if s in vars_ and s not in self.spec)
        name = f"{self.def_.name}_{len(self.kernels)}"
        self.kernels.append(
            L.Kernel(name, tuple(self.buffer(n) for n in used), sizes, body, tuple(notes))
        )

    def statement(self, k: int, st: T.Statement) -> None:
        from tensorc.schedule import contraction, gram

        def_ = self.def_
        label = f"statement {k + 1} ({st.tensor})"
        hazard = any(
            a.tensor == st.tensor and a.indices != tuple(T.Index(i) for i in st.indices)
            for e in (st.rhs, st.mask) if e is not None for a, _ in reads(e)
        )
        if hazard:  # reads other points of the tensor it writes: compute into a copy first
            decl = def_.tensor(st.tensor)
            tmp = self.add_temp(f"{st.tensor}_next", decl.dtype, decl.shape)
            notes = [f"{label} reads {st.tensor} at other points than it writes; computed into "
                     f"buffer {tmp} and copied back"]  # fmt: skip
            body, _ = lower_nest(def_, st, self.schedule, self.names(), self.spec, notes, tmp)
            self.kernel(body, notes)
            self._copy_back(tmp, st)
            return
        if self.schedule.gemm:
            done = contraction.lower_contraction(self, k, st)
            if done:
                return
        if self.schedule.gram_rewrite:
            done = gram.lower_gram(self, k, st)
            if done:
                return
        if self.schedule.flash_blocks and self.schedule.target == "cpu" and self.schedule.online_softmax:
            from tensorc.schedule.attention import lower_attention

            if lower_attention(self, k, st):
                return
        notes: list[str] = []
        split = SplitJ(self, label)
        body, nest = lower_nest(def_, st, self.schedule, self.names(), self.spec, notes, split=split)
        for part_body, part_notes in split.kernels:  # partial states first (split-j)
            self.kernel(part_body, part_notes)
        body, blocked = self.block_rows(body)
        if blocked:
            notes.append(f"{label}: {self.schedule.row_block} rows per sweep over the reduction "
                         "(accumulators per row, one SIMD lane each; the rows share each load)")
        s = nest.stats
        if s["online_softmax"]:
            notes.append(f"{label}: softmax-weighted sum in one online pass (running max, rescaled sum)")
        if s["mask_bounds"]:
            notes.append(f"{label}: index mask turned into loop bounds ({s['mask_bounds']} loop(s))")
        if s["mask_if"]:
            notes.append(f"{label}: mask not expressible as bounds; evaluated per element (If)")
        if nest.inner:
            dims = ", ".join(nest.inner)
            notes.append(f"{label}: work shared across {dims} hoisted; accumulators are local arrays over {dims}")
        if self.schedule.target == "cpu" and self.schedule.gemm:
            notes += [f"{label}: {why}" for why in contraction.why_no_gemm(st)]
        self.kernel(body, notes)

    def block_rows(self, body: tuple) -> tuple[tuple, bool]:
        """Row blocking of a streaming kernel body (cpu schedules with row_block > 1)."""
        if self.schedule.target != "cpu" or self.schedule.row_block <= 1:
            return body, False
        from tensorc.passes.block_rows import block_rows

        return block_rows(body, self.schedule.row_block)

    def _copy_back(self, tmp: str, st: T.Statement) -> None:
        names = self.names()
        nest = Nest(self.def_, self.schedule, names, self.spec, [])
        root = Level(None)
        cur = root
        idx = []
        for n, rg in enumerate(st.domain):
            kind = "parallel" if n < len(st.domain) - 1 or n == 0 else "vector"
            cur, var = nest.open_loop(cur, rg.index, nest.size(rg.lo), nest.size(rg.hi), (kind, kind))
            idx.append(L.Var(var))
        dtype = self.def_.tensor(st.tensor).dtype
        cur.stmts.append(L.Store(st.tensor, tuple(idx), L.Load(tmp, tuple(idx), dtype)))
        if st.mask is not None:
            nest.env.update({rg.index: (i, cur) for rg, i in zip(st.domain, idx)})
            cur.guards.append((0, nest.emit(st.mask, cur, ())))
        close(cur, root)
        self.kernel(root.finish(), [f"copy {tmp} back into {st.tensor}"])

    def finish(self) -> L.LoopProgram:
        d = self.def_
        return L.LoopProgram(
            name=d.name,
            inputs=tuple(self.buffer(x.name) for x in d.inputs),
            outputs=tuple(self.buffer(x.name) for x in d.outputs),
            temps=tuple(self.buffer(x.name) for x in d.temps) + tuple(self.extra_temps),
            sizes=tuple(s for s in d.sizes if s not in self.spec),
            kernels=tuple(self.kernels),
            static_sizes=tuple(sorted(self.spec.items())),
            notes=tuple(self.notes) + tuple(n for k in self.kernels for n in k.notes),
        )


def lower(def_: T.Def, schedule: Schedule | None = None) -> L.LoopProgram:
    """Lower a (pipeline-processed) TensorIR def to LoopIR under `schedule`.

    Example:
        prog = lower(run_pipeline(def_), default_schedule(def_, "cpu", {"N": 100}))
    """
    schedule = validate(schedule or Schedule(), def_)
    pb = ProgramBuilder(def_, schedule)
    for k, st in enumerate(def_.body):
        pb.statement(k, st)
    return pb.finish()


__all__ = ["cse_block", "isub", "lower", "lower_nest"]
