"""`lower(def_, schedule) -> LoopProgram`: TensorIR (after the passes) to LoopIR kernels.

Each statement becomes one or more kernels; each lowering is a rule over normal-form statements
(helpers they share live in operands.py and loop_nest.py), tried in this order:
1. symmetric Gram tiles (gram.py): `alpha * sum_d x(i,d) * x(j,d)` computes half the tiles;
2. contraction (contraction.py): a sum of a product of accesses (matmul/bmm shapes, n-ary
   networks via the contraction planner) becomes `Gemm` nodes, with any pointwise epilogue in its
   own loop nest;
3. Gram rewrite (gram.py, schedule.gram_rewrite): `sum_d (x_id - y_jd)^2` inside an (i, j)
   output becomes row norms + a Gemm + a fused epilogue;
4. blocked flash attention (attention.py, cpu): a softmax-weighted sum of a dot-product score,
   with score terms and index masks as block bounds;
5. dot-product tiles (tiles.py, tile_kernel.py, cpu): a sum over j of a pointwise function of dot products (the
   attention gradient's dq, dk, dv and logsumexp) as Gemm tiles on per-thread scratch;
6. the loop nest (loop_nest.py over `nest.Nest`: streaming reductions, online softmax, masks as
   bounds, symmetry, split-j), which accepts every statement of the language: the fallback.
Kernels on cpu get one parallel loop over their small batch loops (parallel.py).
"""

from __future__ import annotations

from contextlib import contextmanager

import sympy

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import reads
from tensorc.schedule import contraction, gram
from tensorc.schedule.attention import lower_attention
from tensorc.schedule.loop_nest import lower_nest, stmt_names
from tensorc.schedule.nest import KernelNames, Level, Nest, close
from tensorc.schedule.operands import with_temps
from tensorc.schedule.parallel import collapse_parallel
from tensorc.schedule.schedule import Schedule, validate
from tensorc.schedule.split import SplitJ
from tensorc.schedule.tile_kernel import lower_tiles


# --- the program ----------------------------------------------------------------------------------
class ProgramBuilder:
    def __init__(self, def_: T.Def, schedule: Schedule):
        self.def_ = def_
        self.schedule = schedule
        self.spec = dict(schedule.specialise)
        self.kernels: list[L.Kernel] = []
        self.extra_temps: list[L.Buffer] = []
        self.notes: list[str] = []
        self.skip: set[int] = set()  # statements already lowered with an earlier one (tiles.py)
        self.shared: dict = {}  # values computed once for several statements (tile side vectors)
        self.reserved = {d.name for d in (*def_.inputs, *def_.outputs, *def_.temps)} | set(def_.sizes)

    def shape(self, dims) -> tuple:
        return tuple(sympy.sympify(d).subs(self._spec_subs()) for d in dims)

    def _spec_subs(self):
        from tensorc.ir.tensor_ir import size_symbol

        return {size_symbol(k): v for k, v in self.spec.items()}

    @contextmanager
    def declaring_temps(self):
        """`self.def_` declares the extra temps while inside (to lower statements that read or
        write them through `statement`)."""
        decls, self.def_ = self.def_, with_temps(self.def_, self)
        try:
            yield
        finally:
            self.def_ = decls

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
        order = list(dict.fromkeys(order + [b.name for b in self.extra_temps]))  # once each,
        # also while `declaring_temps` lists the extra temps in def_
        used = [n for n in order if n in bufs or (n in scalars and n in vars_)]
        # A size is a parameter if the body reads it or a used buffer's shape needs it (strides).
        vars_ |= {str(x) for n in used for d in self.buffer(n).shape for x in d.free_symbols}
        sizes = tuple(s for s in self.def_.sizes if s in vars_ and s not in self.spec)
        name = f"{self.def_.name}_{len(self.kernels)}"
        self.kernels.append(
            L.Kernel(name, tuple(self.buffer(n) for n in used), sizes, body, tuple(notes))
        )

    def statement(self, k: int, st: T.Statement) -> None:
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
        plain = st.mask is None and len(set(st.indices)) == len(st.indices)
        if self.schedule.gemm and plain and gram.lower_gram(self, k, st):
            return  # a symmetric Gram product: half the tiles (gram.py)
        if self.schedule.gemm:
            done = contraction.lower_contraction(self, k, st)
            if done:
                return
        if self.schedule.gram_rewrite:
            done = gram.lower_gram(self, k, st)
            if done:
                return
        sched = self.schedule
        flash = sched.flash_blocks and sched.target == "cpu" and sched.online_softmax
        if flash and lower_attention(self, k, st):
            return
        if flash and sched.gemm and lower_tiles(self, k, st):
            return  # a sum over j of a function of dot products, tile by tile (tiles.py)
        notes: list[str] = []
        split = SplitJ(self, label)
        body, nest = lower_nest(def_, st, self.schedule, self.names(), self.spec, notes, split=split)
        for part_body, part_notes in split.kernels:  # partial states first (split-j)
            self.kernel(part_body, part_notes)
        body, blocked = self.block_rows(body)
        if blocked:
            width = next(s.step for s in body if isinstance(s, L.Loop) and s.kind == "parallel")
            notes.append(f"{label}: {width} rows per sweep over the reduction "
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
        if k not in pb.skip:
            pb.statement(k, st)
    return pb.finish()


__all__ = ["lower"]
