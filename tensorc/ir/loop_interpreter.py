"""A numpy interpreter of LoopIR: the oracle that every lowering preserves meaning.

It runs SIMT-style: every statement executes for a vector of *lanes* under an active mask. A loop of
kind "parallel"/"vector" whose body writes outer locals only at elements indexed by its own variable
is expanded into lanes (its iterations run at once, with numpy); every other loop runs as a Python
loop over its trip count, all lanes together, with lanes past their own trip count masked off. `If`
narrows the mask. So a W1 kernel sum at N = M = 100 costs ~M Python steps, not N*M.

Also exports `BACKEND` ("loops"), implementing the backend protocol of `tensorc.backends`.
"""

from __future__ import annotations

import numpy as np

from tensorc.ir.loop_ir import (
    Assign,
    Call,
    Const,
    Copy,
    Gemm,
    If,
    Let,
    LExpr,
    Load,
    Local,
    LocalRead,
    Loop,
    LoopProgram,
    Operand,
    Stmt,
    Store,
    Var,
)
from tensorc.ir.interpreter import bf16_to_f32, f32_to_bf16, round_bf16
from tensorc.ir.ops import OPS


def np_dtype(dtype: str) -> np.dtype:
    if dtype == "bfloat16":
        return np.dtype("float32")
    from tensorc.ir.types import to_numpy

    return to_numpy(dtype)


def _rounder(dtype: str):
    """How a value stored at `dtype` is rounded: bfloat16 lives in float32 arrays here (numpy has
    no bfloat16), so every write to it rounds explicitly; other dtypes round by numpy's casting."""
    return round_bf16 if dtype == "bfloat16" else None


class _LocalStore:
    __slots__ = ("arr", "level", "rounder")

    def __init__(self, arr: np.ndarray, level: int, rounder=None):
        self.arr = arr
        self.level = level
        self.rounder = rounder


def _assigns_outside(body: tuple[Stmt, ...], var: str) -> bool:
    """True if `body` writes a local declared outside it at an index not containing `var`."""
    declared: set[str] = set()

    def walk(stmts) -> bool:
        for s in stmts:
            if isinstance(s, Local):
                declared.add(s.name)
            elif isinstance(s, Assign):
                if s.name not in declared and Var(var) not in s.index:
                    return True
            elif isinstance(s, Loop):
                if walk(s.body):
                    return True
            elif isinstance(s, If):
                if walk(s.then) or walk(s.orelse):
                    return True
        return False

    return walk(body)


class _Machine:
    def __init__(self, buffers: dict[str, np.ndarray], sizes: dict[str, int],
                 bf16: frozenset[str] = frozenset()):
        self.buffers = buffers
        self.bf16 = bf16  # buffers of bfloat16 values, held as float32 (see run_loops)
        self.sizes = {k: np.int64(v) for k, v in sizes.items()}
        self.env: dict[str, object] = {}
        self.locals: dict[str, _LocalStore] = {}
        self.L = 1
        self.ids: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]  # lane id at each level
        self.active = np.ones(1, dtype=bool)
        self._expandable: dict[int, bool] = {}

    # --- expressions -------------------------------------------------------------------------
    def ev(self, e: LExpr):
        if isinstance(e, Var):
            if e.name in self.env:
                return self.env[e.name]
            if e.name in self.sizes:
                return self.sizes[e.name]
            if e.name in self.buffers:
                return np.asarray(self.buffers[e.name])[()]
            raise AssertionError(f"unbound variable {e.name}")
        if isinstance(e, Const):
            if e.dtype == "bfloat16":
                return np.float32(round_bf16(np.float32(e.value)))
            return np_dtype(e.dtype).type(e.value) if e.dtype != "bool" else np.bool_(e.value)
        if isinstance(e, Load):
            buf = self.buffers[e.buffer]
            idx = [self.ev(i) for i in e.index]
            return self._gather(buf, idx, e.buffer)
        if isinstance(e, LocalRead):
            st = self.locals[e.name]
            idx = [self.ev(i) for i in e.index]
            rows = self.ids[st.level]
            arr = st.arr
            idx = [
                np.clip(np.broadcast_to(np.asarray(i, dtype=np.int64), (self.L,)), 0, n - 1)
                for i, n in zip(idx, arr.shape[1:])
            ]
            return arr[(rows, *idx)]
        if isinstance(e, Call) and e.fn == "select":
            return self._select(e)
        if isinstance(e, Call):
            args = [self.ev(a) for a in e.args]
            if e.fn == "cast":
                out = np.asarray(args[0]).astype(np_dtype(e.dtype))
                return round_bf16(out) if e.dtype == "bfloat16" else out
            out = OPS[e.fn].numpy(*args)
            return np.asarray(out).astype(np_dtype(e.dtype), copy=False)
        raise AssertionError(f"not a LoopIR expression: {e!r}")

    def _select(self, e: Call):
        """`c ? a : b` evaluates each branch only on the lanes that take it, so a guarded read
        (`j < N ? A(i, j) : B(i, j - N)`) never touches the other branch's out-of-range index."""
        cond = self.ev(e.args[0])
        dtype = np_dtype(e.dtype)
        if np.ndim(cond) == 0:
            return np.asarray(self.ev(e.args[1] if cond else e.args[2])).astype(dtype)
        cond = np.broadcast_to(np.asarray(cond, dtype=bool), (self.L,))
        saved, out = self.active, []
        for lanes, branch in ((cond, e.args[1]), (~cond, e.args[2])):
            self.active = saved & lanes
            value = self.ev(branch) if self.active.any() else np.zeros((), dtype)
            out.append(np.broadcast_to(np.asarray(value).astype(dtype), (self.L,)))
        self.active = saved
        return np.where(cond, out[0], out[1])

    def _gather(self, buf: np.ndarray, idx: list, name: str):
        if not idx:
            return np.asarray(buf)[()]
        if all(np.ndim(i) == 0 for i in idx):
            t = tuple(int(i) for i in idx)
            if self.active.any():
                self._check(buf, [np.asarray([v]) for v in t], name)
                return buf[t]
            return np.zeros((), buf.dtype)[()]
        full = [np.broadcast_to(np.asarray(i, dtype=np.int64), (self.L,)) for i in idx]
        act = self.active
        if not act.all():
            full = [np.where(act, i, 0) for i in full]
            full = [np.clip(i, 0, max(n - 1, 0)) for i, n in zip(full, buf.shape)]
            if not act.any() or min(buf.shape) == 0:
                return np.zeros(self.L, buf.dtype)
        self._check(buf, full, name)
        return buf[tuple(full)]

    @staticmethod
    def _check(buf, idx, name):
        for d, (i, n) in enumerate(zip(idx, buf.shape)):
            if (np.asarray(i) < 0).any() or (np.asarray(i) >= n).any():
                raise IndexError(f"{name}: index out of bounds in dim {d} (size {n})")

    # --- statements ----------------------------------------------------------------------------
    def run(self, stmts: tuple[Stmt, ...]) -> None:
        for s in stmts:
            if not self.active.any():
                return
            self.step(s)

    def step(self, s: Stmt) -> None:
        if isinstance(s, Let):
            self.env[s.name] = self.ev(s.value)
        elif isinstance(s, Local):
            shape = tuple(int(np.max(self.ev(d))) for d in s.shape)
            init = self.ev(s.init)
            arr = np.empty((self.L, *shape), dtype=np_dtype(s.dtype))
            arr[...] = np.reshape(np.asarray(init), (-1,) + (1,) * len(shape)) if np.ndim(init) else init
            self.locals[s.name] = _LocalStore(arr, len(self.ids) - 1, _rounder(s.dtype))
        elif isinstance(s, Assign):
            st = self.locals[s.name]
            act = self.active
            rows = self.ids[st.level][act]
            idx = [np.broadcast_to(np.asarray(self.ev(i), np.int64), (self.L,))[act] for i in s.index]
            val = np.broadcast_to(np.asarray(self.ev(s.value)), (self.L,))[act]
            st.arr[(rows, *idx)] = st.rounder(val) if st.rounder else val
        elif isinstance(s, Store):
            buf = self.buffers[s.buffer]
            act = self.active
            idx = [np.broadcast_to(np.asarray(self.ev(i), np.int64), (self.L,))[act] for i in s.index]
            val = np.broadcast_to(np.asarray(self.ev(s.value)), (self.L,))[act]
            if s.buffer in self.bf16:
                val = round_bf16(val)
            self._check(buf, idx, s.buffer)
            if idx:
                buf[tuple(idx)] = val
            else:
                buf[()] = val[-1]
        elif isinstance(s, If):
            c = np.broadcast_to(np.asarray(self.ev(s.cond), dtype=bool), (self.L,))
            saved = self.active
            self.active = saved & c
            self.run(s.then)
            if s.orelse:
                self.active = saved & ~c
                self.run(s.orelse)
            self.active = saved
        elif isinstance(s, Loop):
            self.loop(s)
        elif isinstance(s, Gemm):
            self.gemm(s)
        elif isinstance(s, Copy):
            self.copy(s)
        else:
            raise AssertionError(f"not a LoopIR statement: {s!r}")

    def loop(self, s: Loop) -> None:
        start = np.broadcast_to(np.asarray(self.ev(s.start), np.int64), (self.L,))
        stop = np.broadcast_to(np.asarray(self.ev(s.stop), np.int64), (self.L,))
        trip = np.maximum(0, -((start - stop) // s.step))
        trip = np.where(self.active, trip, 0)
        key = id(s)
        if key not in self._expandable:
            self._expandable[key] = s.kind in ("parallel", "vector") and not _assigns_outside(
                s.body, s.var
            )
        if self._expandable[key]:
            self.expand(s, start, trip)
            return
        saved_active, had = self.active, s.var in self.env
        old = self.env.get(s.var)
        for t in range(int(trip.max(initial=0))):
            self.active = saved_active & (t < trip)
            if not self.active.any():
                break
            self.env[s.var] = start + t * s.step
            self.run(s.body)
        self.active = saved_active
        if had:
            self.env[s.var] = old
        else:
            self.env.pop(s.var, None)

    def expand(self, s: Loop, start: np.ndarray, trip: np.ndarray) -> None:
        total = int(trip.sum())
        if total == 0:
            return
        parent = np.repeat(np.arange(self.L), trip)
        first = np.cumsum(trip) - trip
        k = np.arange(total) - np.repeat(first, trip)
        saved = (self.env, self.ids, self.L, self.active)
        self.env = {
            n: (v[parent] if isinstance(v, np.ndarray) and v.shape == (self.L,) else v)
            for n, v in self.env.items()
        }
        self.env[s.var] = start[parent] + k * s.step
        self.ids = [x[parent] for x in self.ids] + [np.arange(total)]
        self.L = total
        self.active = np.ones(total, dtype=bool)
        try:
            self.run(s.body)
        finally:
            self.env, self.ids, self.L, self.active = saved

    def at(self, x: LExpr, lane: int) -> int:
        """Integer value of `x` in one lane."""
        v = self.ev(x)
        return int(np.asarray(v).reshape(-1)[lane] if np.ndim(v) else v)

    def view(self, o: Operand, shape: tuple[int, int, int], lane: int) -> np.ndarray:
        """Operand `o` of one lane as a (batch, rows, cols) numpy view (writes go through)."""
        if o.local:  # this lane's copy of the local
            loc = self.locals[o.buffer]
            flat = loc.arr[int(self.ids[loc.level][lane])].reshape(-1)
        else:
            flat = self.buffers[o.buffer].reshape(-1)
        off = self.at(o.offset, lane)
        st = [self.at(x, lane) * flat.itemsize for x in o.strides]
        if min(shape) == 0:
            return np.zeros(shape, flat.dtype)
        return np.lib.stride_tricks.as_strided(flat[off:], shape=shape, strides=st)

    def gemm(self, g: Gemm) -> None:
        dt = np_dtype(g.dtype)
        for lane in np.nonzero(self.active)[0]:
            B, M, N, K = (self.at(x, lane) for x in (g.batch, g.m, g.n, g.k))
            alpha = np.asarray(self.ev(g.alpha))
            alpha = alpha.reshape(-1)[lane] if alpha.ndim else alpha[()]
            a = self.view(g.a, (B, M, K), lane).astype(dt)
            b = self.view(g.b, (B, K, N), lane).astype(dt)
            if min(B, M, N) == 0:
                continue
            c = self.view(g.c, (B, M, N), lane)
            r = (alpha * np.matmul(a, b)).astype(dt)
            if g.accumulate:
                r = (c.astype(dt) + r).astype(c.dtype)
            c[...] = self._rounded(g.c, r)

    def copy(self, s: Copy) -> None:
        for lane in np.nonzero(self.active)[0]:
            shape = (1, self.at(s.rows, lane), self.at(s.cols, lane))
            if min(shape) > 0:
                values = self.view(s.src, shape, lane)
                self.view(s.dst, shape, lane)[...] = self._rounded(s.dst, values)

    def _rounded(self, o: Operand, values: np.ndarray) -> np.ndarray:
        """`values` as written to operand `o` (bfloat16 destinations round)."""
        if o.local:
            rounder = self.locals[o.buffer].rounder
        else:
            rounder = round_bf16 if o.buffer in self.bf16 else None
        return rounder(values) if rounder else values


def run_loops(prog: LoopProgram, buffers: dict[str, np.ndarray], sizes: dict[str, int]) -> None:
    """Run `prog` on numpy `buffers` (outputs and temps allocated, zero-filled); writes outputs.

    Example:
        run_loops(to_loops(def_), {"A": a, "B": b, "C": np.zeros((m, n), np.float32)}, {...})
    """
    # numpy has no bfloat16: such buffers arrive as uint16 bits and are run as float32 values
    # (every store rounds to bfloat16), then the written ones go back as bits.
    decls = (*prog.inputs, *prog.outputs, *prog.temps)
    bf16 = frozenset(b.name for b in decls if b.dtype == "bfloat16" and b.name in buffers)
    work = dict(buffers)
    for name in bf16:
        work[name] = np.array(bf16_to_f32(buffers[name]), dtype=np.float32)
    with np.errstate(all="ignore"):
        for k in prog.kernels:
            m = _Machine(work, sizes, bf16)
            m.run(k.body)
    for b in (*prog.outputs, *prog.temps):
        if b.name in bf16:
            buffers[b.name][...] = f32_to_bf16(work[b.name])


class _Executable:
    def __init__(self, prog: LoopProgram):
        self.prog = prog

    def __call__(self, buffers, sizes) -> None:
        run_loops(self.prog, buffers, sizes)


class LoopsBackend:
    """The "loops" backend: LoopIR run by the numpy interpreter (a reference, not fast)."""

    name = "loops"

    def available(self) -> bool:
        return True

    def target(self) -> str:
        return "numpy"

    def hash(self) -> str:
        return f"numpy-{np.__version__}"

    def space(self, prog: LoopProgram) -> list[dict]:
        return [{}]

    def render(self, prog: LoopProgram, config: dict | None = None) -> str:
        from tensorc.ir.loop_printer import format_program

        return format_program(prog)

    def build(self, source: str, prog: LoopProgram, config: dict | None = None) -> str:
        return source

    def load(self, artifact, prog: LoopProgram, config: dict | None = None) -> _Executable:
        return _Executable(prog)


BACKEND = LoopsBackend()
