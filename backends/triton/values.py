"""Shared pieces of Triton code generation: dtype tables, rendered values, small IR queries."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import sympy

from tensorc.errors import UnsupportedError
from tensorc.ir import loop_ir as L
from tensorc.ir.types import is_float

TL_DTYPES = {
    "bool": "tl.int1",
    **{f"int{b}": f"tl.int{b}" for b in (8, 16, 32, 64)},
    **{f"uint{b}": f"tl.uint{b}" for b in (8, 16, 32, 64)},
    "float16": "tl.float16",
    "bfloat16": "tl.bfloat16",
    "float32": "tl.float32",
    "float64": "tl.float64",
}

DEFAULT_CONFIG: dict = {
    "BLOCK": 128,  # lanes (parallel iterations) per program
    "num_warps": 4,
    "num_stages": 2,
    "BM": 32,  # Gemm tile
    "BN": 32,
    "BK": 32,
    "allow_tf32": False,  # fp32 Gemm inputs through TF32 tensor cores
    "fast_paths": True,  # tile / flash templates where the LoopIR matches (tile.py)
    "TILE_BLOCK_I": 128,  # streaming reductions: rows per program
    "TILE_BLOCK_J": 32,  # ... and columns per step (64 took 2-3x the registers on sm_90)
    "TILE_WARPS": 4,
    "TILE_STAGES": 3,
    "OUT_BLOCK_I": 64,  # output tiles (Gram, RBF): rows per program
    "OUT_BLOCK_J": 64,  # ... and columns per step
    "OUT_WARPS": 8,  # 4 spilled the RBF Gram tile at D=1024 on sm_90
    "OUT_STAGES": 2,
    "FLASH_BLOCK_I": 128,  # flash attention: query rows per program
    "FLASH_BLOCK_J": 64,  # ... and keys per step
    "FLASH_WARPS": 8,
    "FLASH_STAGES": 3,
    # Interior j tiles without masks (boundary tiles masked): the body is rendered 2-3 times.
    # sm_90 compiles (benchmarks.gpu_static): flash +0-8 registers; the W1 and RBF tiles
    # 168 -> 245 and 172 -> 255 + spills (64-bit index math), so off there until timed.
    "FLASH_INTERIOR": True,
    "TILE_INTERIOR": False,
    "OUT_INTERIOR": False,
    "BLOCK_D": 32,  # d chunk of a tl.dot inner product / squared distance
    "DOT_MIN_D": 16,  # a constant d below this stays a plain loop (no tensor cores)
    "RESIDENT_MAX_D": 256,  # the i side of a dot (Q) stays in registers up to this d
}

_BOOL_OPS = ("and", "or", "not")


@dataclass(frozen=True, slots=True)
class Val:
    """A rendered value: Triton code, its dtype (== the LoopIR node's), and lane-dependence."""

    code: str
    dtype: str
    varying: bool


@dataclass(slots=True)
class _Local:
    py: str
    dtype: str
    dims: tuple[str, ...]  # extents as code (literals, or sizes); () for a scalar local
    width: str = "1"  # power-of-two column count for arrays: a literal or a constexpr's name


def _tl(dtype: str) -> str:
    return TL_DTYPES[dtype]


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def _const_code(value, dtype: str) -> str:
    if dtype == "bool":
        lit = "True" if value else "False"
    elif is_float(dtype):
        v = float(value)
        lit = repr(v) if math.isfinite(v) else f'float("{v}")'
    else:
        lit = str(int(value))
    return f"tl.full([], {lit}, {_tl(dtype)})"


def cast(v: Val, dtype: str) -> Val:
    """`v` converted to `dtype` with numpy's meaning (bool: `!= 0`)."""
    if v.dtype == dtype:
        return v
    if dtype == "bool":
        return Val(f"({v.code} != 0)", dtype, v.varying)
    return Val(f"tl.cast({v.code}, {_tl(dtype)})", dtype, v.varying)


def scalar_param(name: str, dtype: str) -> str:
    """Kernel line binding scalar parameter `s_<name>` (a plain argument) as `v_<name>`.

    Triton types a Python float argument as fp32, so float64 travels as its int64 bit pattern.
    """
    n = _ident(name)
    if dtype == "float64":
        return f"v_{n} = tl.cast(s_{n}, tl.int64).to(tl.float64, bitcast=True)"
    return f"v_{n} = tl.cast(s_{n}, {_tl(dtype)})"


def _contains(stmts, kind) -> bool:
    for s in stmts:
        if isinstance(s, kind):
            return True
        if isinstance(s, L.Loop) and _contains(s.body, kind):
            return True
        if isinstance(s, L.If) and (_contains(s.then, kind) or _contains(s.orelse, kind)):
            return True
    return False


def _loaded_buffers(node, out: set[str]) -> set[str]:
    """Buffers a statement tree reads (Loads and Gemm operands)."""
    if isinstance(node, L.Load):
        out.add(node.buffer)
    if isinstance(node, L.Copy):
        out.add(node.src.buffer)
    if isinstance(node, L.Gemm):
        out.update((node.a.buffer, node.b.buffer))
        if node.accumulate:
            out.add(node.c.buffer)
    if isinstance(node, (tuple, list)):
        for x in node:
            _loaded_buffers(x, out)
    elif hasattr(node, "__dataclass_fields__"):
        for f in node.__dataclass_fields__:
            _loaded_buffers(getattr(node, f), out)
    return out


def _free_vars(e: L.LExpr, out: set[str]) -> set[str]:
    if isinstance(e, L.Var):
        out.add(e.name)
    elif isinstance(e, (L.Call, L.Load, L.LocalRead)):
        for a in e.args if isinstance(e, L.Call) else e.index:
            _free_vars(a, out)
        if not isinstance(e, L.Call):
            out.add("\0mem")  # memory-dependent: never host-computable
    return out


# --- host-side (launcher) expressions -----------------------------------------------------------

_HOST_OPS = {
    "add": "({0} + {1})",
    "sub": "({0} - {1})",
    "mul": "({0} * {1})",
    "floordiv": "({0} // {1})",
    "neg": "(-{0})",
    "max": "max({0}, {1})",
    "min": "min({0}, {1})",
}


def host_expr(e: L.LExpr, sizes: set[str]) -> str | None:
    """Python code over size ints for an integer LExpr, or None when it needs the device."""
    if isinstance(e, L.Const) and not is_float(e.dtype):
        return str(int(e.value))
    if isinstance(e, L.Var) and e.name in sizes:
        return _ident(e.name)
    if isinstance(e, L.Call) and e.fn in _HOST_OPS and not is_float(e.dtype):
        args = [host_expr(a, sizes) for a in e.args]
        if any(a is None for a in args):
            return None
        return _HOST_OPS[e.fn].format(*args)
    return None


def _sym_code(e: sympy.Expr, size: callable) -> str:
    """A sympy shape expression as code; `size(name)` gives a size symbol's code."""
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        return size(e.name)
    if e.is_Add or e.is_Mul:
        op = " + " if e.is_Add else " * "
        return "(" + op.join(_sym_code(a, size) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and int(e.exp) > 0:
        return "(" + " * ".join([_sym_code(e.base, size)] * int(e.exp)) + ")"
    if isinstance(e, sympy.floor | sympy.ceiling):
        # strided windows: floor(H/2 - 3/2) = (H - 3) // 2, rounding down (ceiling: -(-p // q))
        num, den = sympy.fraction(sympy.together(e.args[0]))
        if den.is_Integer and int(den) > 0:
            neg = isinstance(e, sympy.ceiling)
            p = _sym_code(sympy.expand(-num if neg else num), size)
            q = f"_floordiv({p}, {int(den)})"
            return f"(-{q})" if neg else q
    raise UnsupportedError(f"triton backend: shape expression {e} is not supported")


def _trips(lo: str, hi: str, step: int, lo_is_zero: bool) -> str:
    """Trip count of `range(lo, hi, step)` before clamping at 0 (nonnegative numerators only
    matter: a negative one is clamped, and truncating or flooring both give <= 0 there)."""
    span = hi if lo_is_zero else f"{hi} - {lo}"
    return f"{span}" if step == 1 else f"({span} + {step - 1}) // {step}"


# --- the tile path's shared pieces (tile.py, tile_updates.py, tile_dot.py) ----------------------

FLOAT_TYPES = ("float16", "bfloat16", "float32")
_FOLDS = {
    "add": ("tl.sum", "0"),
    "max": ("tl.max", "float('-inf')"),
    "min": ("tl.min", "float('inf')"),
}
_BIG = "tl.full([], 4611686018427387904, tl.int64)"  # 2**62: "no index" in a tile's argmin


def _no(what: str) -> UnsupportedError:
    """Why the tile path does not apply (the kernel then takes the generic path)."""
    return UnsupportedError(f"triton tile path: {what}")


def _read_of(e: L.LExpr, name: str) -> bool:
    return isinstance(e, L.LocalRead) and e.name == name


def _strip_cast(e: L.LExpr) -> L.LExpr:
    return e.args[0] if isinstance(e, L.Call) and e.fn == "cast" else e
