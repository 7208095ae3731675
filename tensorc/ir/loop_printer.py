"""The one canonical printer of LoopIR: C-like, deterministic, no ids.

Used for golden files, cache keys and `explain`. Example:

    kernel matmul_0(in float32 A[M, K], in float32 B[K, N], out float32 C[M, N]; sizes M, N, K) {
      parallel for m in [0, M) {
        ...
      }
    }
"""

from __future__ import annotations

import numpy as np
import sympy

from tensorc.ir.loop_ir import (
    Assign,
    Buffer,
    Call,
    Const,
    Copy,
    Gemm,
    If,
    Kernel,
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

_INFIX = {
    "add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%",
    "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=", "and": "&&", "or": "||",
}  # fmt: skip

_SUFFIX = {"float32": "f", "float64": "", "int64": "", "bool": ""}


def format_const(value, dtype: str) -> str:
    if dtype == "bool":
        return "true" if value else "false"
    if isinstance(value, float) or dtype.startswith(("float", "bfloat")):
        v = float(value)
        if np.isnan(v):
            text = "nan"
        elif v in (float("inf"), float("-inf")):
            text = "inf" if v > 0 else "-inf"
        else:
            text = repr(v)
    else:
        text = str(int(value))
    if dtype in _SUFFIX:
        return text + _SUFFIX[dtype] if text[-1].isdigit() else text
    return f"({dtype}){text}"


def format_expr(e: LExpr) -> str:
    if isinstance(e, Var):
        return e.name
    if isinstance(e, Const):
        return format_const(e.value, e.dtype)
    if isinstance(e, Load):
        return f"{e.buffer}[{', '.join(format_expr(i) for i in e.index)}]"
    if isinstance(e, LocalRead):
        if not e.index:
            return e.name
        return f"{e.name}[{', '.join(format_expr(i) for i in e.index)}]"
    if isinstance(e, Call):
        if e.fn in _INFIX and len(e.args) == 2:
            return f"({format_expr(e.args[0])} {_INFIX[e.fn]} {format_expr(e.args[1])})"
        if e.fn == "neg":
            return f"(-{format_expr(e.args[0])})"
        if e.fn == "not":
            return f"(!{format_expr(e.args[0])})"
        if e.fn == "select":
            c, a, b = (format_expr(x) for x in e.args)
            return f"({c} ? {a} : {b})"
        if e.fn == "cast":
            return f"{e.dtype}({format_expr(e.args[0])})"
        return f"{e.fn}({', '.join(format_expr(a) for a in e.args)})"
    raise AssertionError(f"not a LoopIR expression: {e!r}")


def format_sym(e) -> str:
    return str(sympy.sympify(e))


def _operand(o: Operand) -> str:
    s = ", ".join(format_expr(x) for x in o.strides)
    kind = "local " if o.local else ""
    return f"{kind}{o.buffer}{{off={format_expr(o.offset)}, strides=({s})}}"


def format_stmt(s: Stmt, indent: int = 0) -> list[str]:
    pad = "  " * indent
    if isinstance(s, Loop):
        step = f" step {s.step}" if s.step != 1 else ""
        head = f"{pad}{s.kind} for {s.var} in [{format_expr(s.start)}, {format_expr(s.stop)}){step} {{"
        lines = [head]
        for b in s.body:
            lines += format_stmt(b, indent + 1)
        return lines + [pad + "}"]
    if isinstance(s, Let):
        return [f"{pad}let {s.name} = {format_expr(s.value)};"]
    if isinstance(s, Local):
        shape = "".join(f"[{format_expr(d)}]" for d in s.shape)
        return [f"{pad}local {s.dtype} {s.name}{shape} = {format_expr(s.init)};"]
    if isinstance(s, Assign):
        idx = f"[{', '.join(format_expr(i) for i in s.index)}]" if s.index else ""
        return [f"{pad}{s.name}{idx} = {format_expr(s.value)};"]
    if isinstance(s, Store):
        idx = ", ".join(format_expr(i) for i in s.index)
        return [f"{pad}{s.buffer}[{idx}] = {format_expr(s.value)};"]
    if isinstance(s, If):
        lines = [f"{pad}if {format_expr(s.cond)} {{"]
        for b in s.then:
            lines += format_stmt(b, indent + 1)
        if s.orelse:
            lines.append(pad + "} else {")
            for b in s.orelse:
                lines += format_stmt(b, indent + 1)
        return lines + [pad + "}"]
    if isinstance(s, Gemm):
        op = "+=" if s.accumulate else "="
        dims = ", ".join(format_expr(x) for x in (s.batch, s.m, s.n, s.k))
        return [
            f"{pad}gemm<{s.dtype}>[batch, m, n, k = {dims}] {_operand(s.c)} {op} "
            f"{format_expr(s.alpha)} * {_operand(s.a)} @ {_operand(s.b)};"
        ]
    if isinstance(s, Copy):
        dims = f"{format_expr(s.rows)}, {format_expr(s.cols)}"
        how = "copy.stream" if s.stream else "copy"
        return [f"{pad}{how}[rows, cols = {dims}] {_operand(s.dst)} = {_operand(s.src)};"]
    raise AssertionError(f"not a LoopIR statement: {s!r}")


def format_buffer(b: Buffer) -> str:
    role = {"input": "in", "output": "out", "temp": "temp", "scalar": "scalar"}[b.role]
    shape = f"[{', '.join(format_sym(d) for d in b.shape)}]" if b.shape else ""
    return f"{role} {b.dtype} {b.name}{shape}"


def format_kernel(k: Kernel) -> str:
    args = ", ".join(format_buffer(b) for b in k.buffers)
    sizes = f"; sizes {', '.join(k.sizes)}" if k.sizes else ""
    lines = [f"kernel {k.name}({args}{sizes}) {{"]
    for s in k.body:
        lines += format_stmt(s, 1)
    lines.append("}")
    return "\n".join(lines)


def format_program(p: LoopProgram) -> str:
    """Canonical text of a whole LoopProgram (notes are not part of it)."""
    head = [f"program {p.name}"]
    if p.static_sizes:
        head.append("static " + ", ".join(f"{n}={v}" for n, v in p.static_sizes))
    for b in (*p.inputs, *p.outputs, *p.temps):
        head.append("  " + format_buffer(b))
    return "\n".join(head) + "\n" + "\n".join(format_kernel(k) for k in p.kernels) + "\n"
