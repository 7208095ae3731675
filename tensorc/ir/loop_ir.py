"""LoopIR: *how* a def runs — kernels of explicit loops over buffers, ready for a backend.

Produced by `tensorc.schedule.lower(program_def, schedule)` after the passes, rendered by
`backends/llvm` and `backends/triton`, and run by the numpy LoopIR interpreter (the check that every
pass preserves meaning).

Semantics are scalar and sequential: a kernel is a statement tree executed in order, exactly like C.
Loop `kind` is a *license* the backends may use, never a change of meaning:
- "serial":   run in order.
- "parallel": iterations are independent (write disjoint outputs, read nothing another writes): a
  backend may split them across threads / Triton programs / vector lanes.
- "vector":   like parallel, and additionally the loop may be vectorised (SIMD lanes); reductions into
  locals inside it may be reassociated.
- "reduce":   iterations only combine into locals with an associative op (sum/max/min/...): a backend
  may reassociate (SIMD partial sums, split-j with a combine step).
Tiling is explicit: a tiled loop is an outer loop with `step = tile` and an inner loop from `v0` to
`min(v0 + tile, stop)`.

Buffers are dense row-major. All sizes (size symbols) are int64 kernel parameters, read as `Var`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

# --- expressions -------------------------------------------------------------------------------


class LExpr:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Var(LExpr):
    """A loop variable, a size parameter (int64), a scalar parameter, or a `Let` binding."""

    name: str
    dtype: str = "int64"


@dataclass(frozen=True, slots=True)
class Const(LExpr):
    value: int | float | bool
    dtype: str


@dataclass(frozen=True, slots=True)
class Load(LExpr):
    """Element of a buffer; one index expression per dimension."""

    buffer: str
    index: tuple[LExpr, ...]
    dtype: str


@dataclass(frozen=True, slots=True)
class LocalRead(LExpr):
    """Element of a `Local` (index `()` for a scalar local)."""

    name: str
    index: tuple[LExpr, ...]
    dtype: str


@dataclass(frozen=True, slots=True)
class Call(LExpr):
    """An op of `tensorc.ir.ops.OPS` (same names and meaning as TensorIR's `Call`)."""

    fn: str
    args: tuple[LExpr, ...]
    dtype: str


# --- statements --------------------------------------------------------------------------------


class Stmt:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Loop(Stmt):
    var: str
    start: LExpr
    stop: LExpr
    body: tuple[Stmt, ...]
    kind: str = "serial"  # serial | parallel | vector | reduce
    step: int = 1


@dataclass(frozen=True, slots=True)
class Let(Stmt):
    """Immutable binding, visible to the statements after it in the same body."""

    name: str
    value: LExpr


@dataclass(frozen=True, slots=True)
class Local(Stmt):
    """A mutable local (accumulator): scalar when `shape == ()`, else a small array.

    Every element starts at `init`. Shapes may be symbolic (sizes), but lowering keeps them small
    (O(tile) or O(output row)), never O(N*M).
    """

    name: str
    dtype: str
    shape: tuple[LExpr, ...]
    init: LExpr


@dataclass(frozen=True, slots=True)
class Assign(Stmt):
    """Write an element of a `Local`."""

    name: str
    index: tuple[LExpr, ...]
    value: LExpr


@dataclass(frozen=True, slots=True)
class Store(Stmt):
    """Write an element of a buffer."""

    buffer: str
    index: tuple[LExpr, ...]
    value: LExpr


@dataclass(frozen=True, slots=True)
class If(Stmt):
    cond: LExpr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] = ()


@dataclass(frozen=True, slots=True)
class Operand:
    """A strided 3-d view `buffer[offset + b*sb + r*sr + c*sc]` used by `Gemm` (element strides).

    `local=True`: `buffer` names a `Local` in scope (flattened row-major; per-thread scratch such
    as a flash-attention score tile) instead of a kernel buffer. Its dtype must be a compute dtype
    (float32/float64).
    """

    buffer: str
    offset: LExpr
    strides: tuple[LExpr, LExpr, LExpr]  # (batch, row, col)
    local: bool = False


@dataclass(frozen=True, slots=True)
class Gemm(Stmt):
    """Batched tile contraction `c[b, m, n] (+)= alpha * sum_k a[b, m, k] * b[b, k, n]`.

    The one block-level op: backends map it to a register-blocked microkernel (CPU) or `tl.dot`
    (GPU). `accumulate=False` overwrites `c`. Shapes (batch, m, n, k) are expressions.
    """

    c: Operand
    a: Operand
    b: Operand
    batch: LExpr
    m: LExpr
    n: LExpr
    k: LExpr
    alpha: LExpr
    accumulate: bool = False
    dtype: str = "float32"  # compute dtype


@dataclass(frozen=True, slots=True)
class Copy(Stmt):
    """Tile copy `dst[r, c] = src[r, c]` for r < rows, c < cols (2-d views: batch strides unused),
    converting to dst's dtype.

    One statement, so that a backend can write a transposed destination (row stride 1, e.g. the
    mirror of a symmetric tile) through small in-register transposes. `stream`: the destination is
    not read again soon (a large output), so a backend may use streaming (non-temporal) stores,
    which do not read the destination's cache lines first.
    """

    dst: Operand
    src: Operand
    rows: LExpr
    cols: LExpr
    stream: bool = False


# --- kernels and programs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Buffer:
    """A kernel argument: an input, output or temporary tensor (dense, row-major)."""

    name: str
    dtype: str
    shape: tuple[sympy.Expr, ...]
    role: str  # "input" | "output" | "temp" | "scalar"


@dataclass(frozen=True, slots=True)
class Kernel:
    """One launch: `body` runs once (its parallel loops may be split across threads/programs)."""

    name: str
    buffers: tuple[Buffer, ...]  # every buffer and scalar the body reads or writes
    sizes: tuple[str, ...]  # int64 size parameters the body reads as Var(name)
    body: tuple[Stmt, ...]
    notes: tuple[str, ...] = field(default=(), compare=False, hash=False)  # for `explain`


@dataclass(frozen=True, slots=True)
class LoopProgram:
    """A whole def: kernels run in order.

    The runtime allocates outputs and temps zero-filled before the first kernel. `static_sizes` are
    sizes the schedule baked in as constants (the compiled code is valid only for them).
    """

    name: str
    inputs: tuple[Buffer, ...]
    outputs: tuple[Buffer, ...]
    temps: tuple[Buffer, ...]
    sizes: tuple[str, ...]
    kernels: tuple[Kernel, ...]
    static_sizes: tuple[tuple[str, int], ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False, hash=False)
