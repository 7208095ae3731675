"""LoopIR `LoopProgram` -> LLVM IR text (pure: no compilation, no hardware, deterministic).

One LLVM function per `Kernel`, named by `kernel_symbol`:

    void @tc_<prog>_<k>_<kernel>(ptr noalias %buf..., i64 %size..., i64 %part_start,
                                 i64 %part_stop, i64 %parts)

Pointers follow `Kernel.buffers` order (a "scalar" buffer is a pointer to one element), sizes
follow `Kernel.sizes`. The split target (`split_target`: the kernel's only top-level parallel loop
or Gemm) runs the iterations [trip*part_start/parts, trip*part_stop/parts) of its trip count, so
thread t of T passes (t, t+1, T) and the chunks are disjoint and deterministic; (0, 1, 1) runs all.

Registers hold each dtype's compute type (fp16/bf16 -> float, bool -> i1); memory holds its storage
type (half, i16 bits for bf16, i8 for bool). Locals become entry-block allocas (mem2reg makes them
SSA). Float ops lexically inside "reduce"/"vector" loops carry `reassoc contract arcp` so the loop
vectoriser can build SIMD reductions; everywhere else they are plain IEEE.

Example:
    text = render_program(prog)      # str, stable across runs (golden-testable)
"""

from __future__ import annotations

import dataclasses
import re

import sympy
from llvmlite import ir

from tensorc.errors import UnsupportedError
from tensorc.ir import loop_ir as L

from .codec import Codec, mem_type, reg_type
from .mathlib import I64, POLYNOMIALS, MathLib, intrinsic
from .op_rules import NONPOSITIVE_RULES, OP_RULES, operand_dtypes
from .signs import Signs

PART_ARGS = ("part_start", "part_stop", "parts")
# j steps per iteration of a row-blocked sweep, so that independent j steps sit close together for
# the out-of-order core: 2, or 4 when the step calls a polynomial math function (exp, log, ...),
# whose long dependency chain needs more steps in flight (W1 +9%; argmin's short step -9% with 4)
SWEEP_UNROLL, SWEEP_UNROLL_MATH = 2, 4
FAST = ("reassoc", "contract", "arcp")


def dtype_of(e: L.LExpr) -> str:
    return e.dtype


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def kernel_symbol(prog: L.LoopProgram, index: int) -> str:
    """The exported name of kernel `index` of `prog`."""
    return f"tc_{_sanitize(prog.name)}_{index}_{_sanitize(prog.kernels[index].name)}"


def split_target(kernel: L.Kernel) -> int | None:
    """Index in `kernel.body` of the statement split across threads, or None (run whole).

    Only a kernel whose top level is Lets/Locals plus exactly one parallel/vector loop or Gemm can be
    split: anything else at top level would run once per thread.
    """
    cands, others = [], 0
    for i, s in enumerate(kernel.body):
        if isinstance(s, L.Loop) and s.kind in ("parallel", "vector") or isinstance(s, L.Gemm):
            cands.append(i)
        elif not isinstance(s, (L.Let, L.Local)):
            others += 1
    return cands[0] if len(cands) == 1 and others == 0 else None


# --- the renderer ------------------------------------------------------------------------------
class KernelRenderer(Codec):
    """Emits one kernel function into `module` (one instance per kernel)."""

    def __init__(self, module: ir.Module, lib: MathLib, prog: L.LoopProgram, index: int):
        self.module, self.lib, self.prog = module, lib, prog
        self.kernel = k = prog.kernels[index]
        argtys = [ir.PointerType()] * len(k.buffers) + [I64] * (len(k.sizes) + len(PART_ARGS))
        self.fn = fn = ir.Function(module, ir.FunctionType(ir.VoidType(), argtys),
                                   name=kernel_symbol(prog, index))
        fn.attributes.add("nounwind")
        names = [f"buf.{_sanitize(b.name)}" for b in k.buffers]
        names += [f"size.{_sanitize(s)}" for s in k.sizes] + list(PART_ARGS)
        for a, n in zip(fn.args, names):
            a.name = n
        for a in fn.args[: len(k.buffers)]:
            a.add_attribute("noalias")
        self.buffers = {b.name: (fn.args[i], b) for i, b in enumerate(k.buffers)}
        nb = len(k.buffers)
        self.sizes: dict[str, ir.Value] = {s: fn.args[nb + i] for i, s in enumerate(k.sizes)}
        for s, v in prog.static_sizes:  # baked-in sizes win: constants let LLVM unroll
            self.sizes[s] = ir.Constant(I64, v)
        self.part = fn.args[nb + len(k.sizes):]
        self.entry = fn.append_basic_block("entry")
        self.entry_b = ir.IRBuilder(self.entry)
        self.b = ir.IRBuilder(fn.append_basic_block("body"))
        self.env: dict[str, tuple[str, object, str]] = {}  # name -> (kind, value, dtype)
        self.fast = 0
        self._strides: dict[str, list[ir.Value]] = {}
        self._scalars: dict[str, ir.Value] = {}
        self.signs = Signs(k)

    # -- helpers used by op_rules --
    @property
    def flags(self) -> tuple[str, ...]:
        return FAST if self.fast else ()

    def intr(self, base: str, ty: ir.Type, nargs: int = 1) -> ir.Function:
        return intrinsic(self.module, base, ty, nargs)

    # -- entry --
    def render(self) -> None:
        target = split_target(self.kernel)
        self.block(self.kernel.body, split=target)
        self.b.ret_void()
        self.entry_b.branch(self.fn.blocks[1])

    # -- addresses --
    def sym(self, e) -> ir.Value:
        """A sympy size expression (buffer shapes) as an i64 value."""
        e = sympy.Symbol(e) if isinstance(e, str) else sympy.sympify(e)
        b = self.b
        if e.is_Integer:
            return ir.Constant(I64, int(e))
        if e.is_Symbol:
            if str(e) in self.buffers and not self.buffers[str(e)][1].shape:  # an int parameter
                return self.expr(L.Var(str(e), "int64"))
            if str(e) not in self.sizes:
                raise UnsupportedError(f"size {e} is not a parameter of kernel {self.kernel.name}")
            return self.sizes[str(e)]
        if e.is_Add or e.is_Mul:
            vals = [self.sym(a) for a in e.args]
            out = vals[0]
            for v in vals[1:]:
                out = b.add(out, v) if e.is_Add else b.mul(out, v)
            return out
        if e.is_Pow and e.exp.is_Integer and int(e.exp) > 0:
            base = self.sym(e.base)
            out = base
            for _ in range(int(e.exp) - 1):
                out = b.mul(out, base)
            return out
        if isinstance(e, (sympy.floor, sympy.ceiling)):  # strided windows: floor((H - KH)/2) + 1
            num, den = sympy.fraction(sympy.together(e.args[0]))
            if den.is_Integer and int(den) > 0:
                return self.floor_div(sympy.expand(num), int(den), isinstance(e, sympy.ceiling))
        raise UnsupportedError(f"buffer shape expression {e} is not supported by the cpu backend")

    def floor_div(self, num: sympy.Expr, den: int, ceiling: bool) -> ir.Value:
        """floor(num / den) (ceiling: ceil) of an integer size expression, rounding toward -inf
        as sympy does (sdiv truncates toward zero: a negative remainder takes one off)."""
        b = self.b
        p = self.sym(num + (den - 1) if ceiling else num)  # ceil(p/d) = floor((p + d - 1)/d)
        d = ir.Constant(I64, den)
        q, r = b.sdiv(p, d), b.srem(p, d)
        return b.sub(q, b.zext(b.icmp_signed("<", r, ir.Constant(I64, 0)), I64))

    def strides(self, name: str) -> list[ir.Value]:
        if name not in self._strides:
            _, buf = self.buffers[name]
            saved, self.b = self.b, self.entry_b
            dims = [None] + [self.sym(s) for s in buf.shape[1:]]  # the first extent is not needed
            out, acc = [], ir.Constant(I64, 1)
            for k, d in enumerate(reversed(dims)):
                out.append(acc)
                if k + 1 < len(dims):
                    acc = d if _is_one(acc) else self.b.mul(acc, d)
            self.b = saved
            self._strides[name] = out[::-1]
        return self._strides[name]

    def offset(self, index: tuple[L.LExpr, ...], strides: list[ir.Value]) -> ir.Value:
        if len(index) != len(strides):
            raise AssertionError(f"index {index} does not match rank {len(strides)}")
        off = ir.Constant(I64, 0)
        for e, st in zip(index, strides):
            i = self.conv(self.expr(e), dtype_of(e), "int64")
            term = i if isinstance(st, ir.Constant) and st.constant == 1 else \
                self.b.mul(i, st, flags=["nsw"])
            off = term if isinstance(off, ir.Constant) and off.constant == 0 else \
                self.b.add(off, term, flags=["nsw"])
        return off

    def buffer_ptr(self, name: str, index: tuple[L.LExpr, ...]) -> tuple[ir.Value, str]:
        if name not in self.buffers:
            raise AssertionError(f"kernel {self.kernel.name} has no buffer {name}")
        ptr, buf = self.buffers[name]
        if not index:
            return ptr, buf.dtype
        off = self.offset(index, self.strides(name))
        return self.b.gep(ptr, [off], inbounds=True, source_etype=mem_type(buf.dtype)), buf.dtype

    # -- expressions --
    def expr(self, e: L.LExpr) -> ir.Value:
        if isinstance(e, L.Const):
            return self.const(e.value, e.dtype)
        if isinstance(e, L.Var):
            return self.var(e)
        if isinstance(e, L.Load):
            ptr, dt = self.buffer_ptr(e.buffer, e.index)
            return self.conv(self.load_mem(ptr, dt), dt, e.dtype)
        if isinstance(e, L.LocalRead):
            ptr, dt = self.local_ptr(e.name, e.index)
            return self.conv(self.b.load(ptr, typ=reg_type(dt)), dt, e.dtype)
        if isinstance(e, L.Call):
            return self.call(e)
        raise AssertionError(f"unknown LoopIR expression {e!r}")

    def var(self, e: L.Var) -> ir.Value:
        if e.name in self.env:
            kind, v, dt = self.env[e.name]
            if kind == "value":
                return self.conv(v, dt, e.dtype)
        if e.name in self.sizes:
            return self.conv(self.sizes[e.name], "int64", e.dtype)
        if e.name in self.buffers:
            if e.name not in self._scalars:
                ptr, buf = self.buffers[e.name]
                saved, self.b = self.b, self.entry_b
                self._scalars[e.name] = self.load_mem(ptr, buf.dtype)
                self.b = saved
            return self.conv(self._scalars[e.name], self.buffers[e.name][1].dtype, e.dtype)
        raise AssertionError(f"unbound variable {e.name} in kernel {self.kernel.name}")

    def call(self, e: L.Call) -> ir.Value:
        if e.fn not in OP_RULES:
            raise UnsupportedError(f"op {e.fn!r} is not supported by the cpu backend")
        if e.fn == "cast":
            (a,) = e.args
            return self.conv(self.expr(a), dtype_of(a), e.dtype)
        dts = operand_dtypes(e.fn, tuple(dtype_of(a) for a in e.args), e.dtype)
        args = [self.conv(self.expr(a), dtype_of(a), d) for a, d in zip(e.args, dts)]
        rule = OP_RULES[e.fn]
        if e.fn in NONPOSITIVE_RULES and self.signs.nonpositive(e.args[0]):
            rule = NONPOSITIVE_RULES[e.fn]
        return rule(self, args, dts, e.dtype)

    # -- locals --
    def local_ptr(self, name: str, index: tuple[L.LExpr, ...]) -> tuple[ir.Value, str]:
        kind, (ptr, dims), dt = self.env[name]
        assert kind == "local", f"{name} is not a local"
        if not index:
            return ptr, dt
        strides, acc = [], ir.Constant(I64, 1)
        for d in reversed(dims):
            strides.append(acc)
            acc = d if isinstance(acc, ir.Constant) and acc.constant == 1 else self.b.mul(acc, d)
        off = self.offset(index, strides[::-1])
        return self.b.gep(ptr, [off], inbounds=True, source_etype=reg_type(dt)), dt

    # -- statements --
    def block(self, stmts: tuple[L.Stmt, ...], split: int | None = None) -> None:
        saved = dict(self.env)
        for i, s in enumerate(stmts):
            self.stmt(s, split=(i == split))
        self.env = saved

    def stmt(self, s: L.Stmt, split: bool = False) -> None:
        if isinstance(s, L.Loop):
            self.loop(s, split)
        elif isinstance(s, L.Let):
            self.env[s.name] = ("value", self.expr(s.value), dtype_of(s.value))
        elif isinstance(s, L.Local):
            self.local(s)
        elif isinstance(s, L.Assign):
            ptr, dt = self.local_ptr(s.name, s.index)
            self.b.store(self.conv(self.expr(s.value), dtype_of(s.value), dt), ptr)
        elif isinstance(s, L.Store):
            ptr, dt = self.buffer_ptr(s.buffer, s.index)
            self.store_mem(self.conv(self.expr(s.value), dtype_of(s.value), dt), ptr, dt)
        elif isinstance(s, L.If):
            self.if_(s)
        elif isinstance(s, L.Gemm):
            from .gemm import emit_gemm

            emit_gemm(self, s, split)
        elif isinstance(s, L.Copy):
            from .transpose import emit_copy

            emit_copy(self, s)
        else:
            raise AssertionError(f"unknown LoopIR statement {s!r}")

    def local(self, s: L.Local) -> None:
        rt = reg_type(s.dtype)
        saved, self.b = self.b, self.entry_b  # allocate once per call, in the entry block
        try:
            dims = [self.conv(self.expr(d), dtype_of(d), "int64") for d in s.shape]
        except AssertionError as err:
            raise UnsupportedError(
                f"local {s.name}: shape {s.shape} must depend only on sizes and constants"
            ) from err
        count = ir.Constant(I64, 1)
        for d in dims:
            count = d if isinstance(count, ir.Constant) and count.constant == 1 else \
                self.b.mul(count, d)
        ptr = self.b.alloca(rt, size=count if dims else None, name=f"loc.{s.name}")
        ptr.align = 32 if dims else None
        self.b = saved
        self.env[s.name] = ("local", (ptr, dims), s.dtype)
        init = self.conv(self.expr(s.init), dtype_of(s.init), s.dtype)
        if not dims:
            self.b.store(init, ptr)
            return
        self.counted_loop(count, lambda i: self.b.store(
            init, self.b.gep(ptr, [i], inbounds=True, source_etype=rt)))

    def loop(self, s: L.Loop, split: bool) -> None:
        if s.step == 0:
            raise AssertionError(f"loop {s.var} has step 0")
        start = self.conv(self.expr(s.start), dtype_of(s.start), "int64")
        stop = self.conv(self.expr(s.stop), dtype_of(s.stop), "int64")
        if split:
            start, stop = self.split_range(start, stop, s.step)
        fast = s.kind in ("reduce", "vector")

        def body(i):
            self.fast += fast
            saved = dict(self.env)
            self.env[s.var] = ("value", i, "int64")
            self.block(s.body)
            self.env = saved
            self.fast -= fast

        if _is_sweep(s):
            self.unrolled_loop(start, stop, body, _sweep_unroll(s))
        else:
            self.counted_loop(stop, body, start=start, step=s.step)

    def unrolled_loop(self, start: ir.Value, stop: ir.Value, body, n: int) -> None:
        """for (i = start; i < stop; i++) body(i) with `n` (a power of two) bodies per step."""
        b, one = self.b, ir.Constant(I64, 1)

        def step(i):
            for k in range(n):
                body(i if k == 0 else b.add(i, ir.Constant(I64, k), flags=["nsw"]))

        self.counted_loop(b.sub(stop, ir.Constant(I64, n - 1)), step, start=start, step=n)
        trip = b.sub(stop, start)
        trip = b.select(b.icmp_signed("<", trip, one), ir.Constant(I64, 0), trip)
        self.counted_loop(stop, body, start=b.add(start, b.and_(trip, ir.Constant(I64, -n))))

    def split_range(self, start: ir.Value, stop: ir.Value, step: int):
        """This thread's [start, stop) of a loop: iterations trip*ps/parts .. trip*pe/parts."""
        b = self.b
        ps, pe, parts = self.part
        span = b.sub(stop, start) if step > 0 else b.sub(start, stop)
        st = abs(step)
        trip = b.sdiv(b.add(span, ir.Constant(I64, st - 1)), ir.Constant(I64, st))
        trip = b.select(b.icmp_signed("<", trip, ir.Constant(I64, 0)), ir.Constant(I64, 0), trip)
        lo = b.sdiv(b.mul(trip, ps), parts)
        hi = b.sdiv(b.mul(trip, pe), parts)
        new_start = b.add(start, b.mul(lo, ir.Constant(I64, step)))
        new_stop = b.add(start, b.mul(hi, ir.Constant(I64, step)))
        return new_start, new_stop

    def if_(self, s: L.If) -> None:
        cond = self.conv(self.expr(s.cond), dtype_of(s.cond), "bool")
        then_bb = self.fn.append_basic_block("if.then")
        else_bb = self.fn.append_basic_block("if.else") if s.orelse else None
        end_bb = self.fn.append_basic_block("if.end")
        self.b.cbranch(cond, then_bb, else_bb or end_bb)
        self.b.position_at_end(then_bb)
        self.block(s.then)
        self.b.branch(end_bb)
        if else_bb is not None:
            self.b.position_at_end(else_bb)
            self.block(s.orelse)
            self.b.branch(end_bb)
        self.b.position_at_end(end_bb)


def _is_sweep(s: L.Loop) -> bool:
    """A row-blocked sweep (tensorc.passes.block_rows): a reduce loop whose body is one lane loop."""
    return (s.kind == "reduce" and s.step == 1 and len(s.body) == 1
            and isinstance(s.body[0], L.Loop) and s.body[0].kind == "vector")


def _sweep_unroll(s: L.Loop) -> int:
    return SWEEP_UNROLL_MATH if _calls(s.body) & POLYNOMIALS else SWEEP_UNROLL


def _calls(node, out: set[str] | None = None) -> set[str]:
    """The ops called anywhere in a LoopIR statement/expression tree."""
    out = set() if out is None else out
    if isinstance(node, L.Call):
        out.add(node.fn)
    if isinstance(node, tuple):
        for x in node:
            _calls(x, out)
    elif dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _calls(getattr(node, f.name), out)
    return out


def _is_one(v: ir.Value) -> bool:
    return isinstance(v, ir.Constant) and v.constant == 1


def render_program(prog: L.LoopProgram, triple: str = "", data_layout: str = "") -> str:
    """LLVM IR text of every kernel of `prog` (see the module docstring for the signature)."""
    module = ir.Module(name=_sanitize(prog.name))
    module.triple = triple
    module.data_layout = data_layout
    lib = MathLib(module)
    for i in range(len(prog.kernels)):
        KernelRenderer(module, lib, prog, i).render()
    return str(module)
