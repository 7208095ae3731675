"""Reference interpreter of TensorIR: the numpy oracle every backend and pass is checked against.

`interpret(def_, args)` runs a `Def` exactly as `tensor_ir.py` documents it: outputs and temporaries
start zero-filled, statements run in order, each writes the points of its domain where its mask holds.

Evaluation is vectorised: every index of a statement gets one numpy axis (LHS indices first, then the
indices of each `Reduce` as it is entered), expressions are evaluated with broadcasting, and a `Reduce`
folds its trailing axes. A statement reads every tensor as it was *before* the statement (a read of
the tensor being written sees old values), so results never depend on evaluation order or chunking.

Memory is bounded: a statement runs in chunks over its first LHS index, and a reduction in chunks
over its first range, so that no temporary array exceeds `max_chunk_bytes`.

Example:
    >>> out = interpret(gram_def, {"x": np.ones((4, 3), np.float32)})["g"]
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import sympy

from tensorc.errors import ArgumentError, ShapeError, UnsupportedError
from tensorc.ir.interp_contract import contract, product_factors, unused_extent
from tensorc.ir.interp_reduce import REDUCE_RULES
from tensorc.ir.ops import OPS, reduce_identity
from tensorc.ir.tensor_ir import Access, Call, Const, Def, Expr, Index, Reduce, Statement, children
from tensorc.ir.types import DTYPES, compute_dtype, is_float, is_int, to_numpy

__all__ = ["bf16_to_f32", "f32_to_bf16", "interpret", "round_bf16"]

_ELEM_BYTES = 8  # chunk sizes assume the widest element (float64 / int64)


# --- bfloat16 (stored as uint16 bits on the numpy side) -------------------------------------------


def bf16_to_f32(u16: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) -> float32 values (exact)."""
    bits = np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16
    return bits.view(np.float32)


def f32_to_bf16(f32: np.ndarray) -> np.ndarray:
    """float32 values -> bfloat16 bits (uint16), rounding to nearest even; NaN stays a quiet NaN."""
    x = np.asarray(f32, dtype=np.float32)
    shape = x.shape  # ascontiguousarray makes a 0-d array 1-d: the shape is put back at the end
    bits = np.ascontiguousarray(x).view(np.uint32)
    with np.errstate(over="ignore"):
        rounded = (bits + (((bits >> 16) & 1) + np.uint32(0x7FFF))) >> 16
    out = np.where(np.isnan(bits.view(np.float32)), (bits >> 16) | 0x0040, rounded)
    return out.astype(np.uint16).reshape(shape)


def round_bf16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (still float32)."""
    return bf16_to_f32(f32_to_bf16(x))


# --- public entry -----------------------------------------------------------------------------------


def interpret(
    def_: Def,
    args: dict[str, np.ndarray | int | float],
    float64: bool = False,
    max_chunk_bytes: int = 64 << 20,
) -> dict[str, np.ndarray]:
    """Run `def_` on `args` (keyed by parameter name) and return its outputs by name.

    Outputs come back in their declared dtypes (bfloat16 as uint16 bits; a scalar output as a 0-d
    array). With `float64=True` every float is computed in float64 (oracle mode) and cast to the
    declared dtype only at the end; otherwise arithmetic runs in `compute_dtype` (fp16/bf16 in fp32).

    Raises:
        ArgumentError: a missing/unknown argument, wrong rank, or a size symbol bound to two values.

    Example:
        >>> interpret(matmul_def, {"A": a, "B": b})["C"]
    """
    run = _Run(def_, float64, max_chunk_bytes)
    run.bind(args)
    for st in def_.body:
        run.statement(st)
    return {decl.name: run.result(decl) for decl in def_.outputs}


# --- the interpreter state --------------------------------------------------------------------------


class _Axes:
    """The axes of an evaluation context: one per index, with the index values along it."""

    __slots__ = ("names", "values")

    def __init__(self, names: tuple[str, ...], values: tuple[np.ndarray, ...]):
        self.names = names
        self.values = values

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.values)

    def extend(self, names: tuple[str, ...], values: tuple[np.ndarray, ...]) -> _Axes:
        return _Axes(self.names + names, self.values + values)


def _chunks(lo: int, hi: int, step: int) -> Iterator[tuple[int, int]]:
    if hi <= lo:
        yield lo, lo
        return
    for a in range(lo, hi, step):
        yield a, min(a + step, hi)


def _walk(e: Expr) -> Iterator[Expr]:
    yield e
    for c in children(e):
        yield from _walk(c)


class _Run:
    def __init__(self, def_: Def, float64: bool, max_chunk_bytes: int):
        self.def_ = def_
        self.float64 = float64
        self.limit = max(1, int(max_chunk_bytes))
        self.env: dict[str, int] = {}
        self.tensors: dict[str, np.ndarray] = {}
        self._bounds: dict[sympy.Expr, int] = {}
        self._lenient = False  # clip out-of-range reads (a mask or select may guard them)
        self.eval_rules = {
            Const: self._const,
            Index: self._index,
            Access: self._access,
            Call: self._call,
            Reduce: self._reduce,
        }

    # -- dtypes ----------------------------------------------------------------------------------
    def np_dtype(self, dtype: str) -> np.dtype:
        """The numpy dtype values of IR dtype `dtype` are computed in."""
        if self.float64 and is_float(dtype):
            return np.dtype(np.float64)
        return to_numpy(compute_dtype(dtype))

    def round_to(self, x: np.ndarray, dtype: str) -> np.ndarray:
        """Convert to the compute dtype of `dtype`, rounding fp16/bf16 values (not in oracle mode)."""
        x = np.asarray(x)
        if not self.float64 and dtype == "float16":
            return x.astype(np.float16).astype(np.float32)
        if not self.float64 and dtype == "bfloat16":
            return round_bf16(x.astype(np.float32))
        return x.astype(self.np_dtype(dtype), copy=False)

    # -- binding -----------------------------------------------------------------------------------
    def bind(self, args: dict[str, np.ndarray | int | float]) -> None:
        names = {d.name for d in self.def_.inputs}
        unknown = sorted(set(args) - names)
        if unknown:
            raise ArgumentError(
                f"{self.def_.name}: unknown argument(s) {', '.join(unknown)}",
                hint=f"parameters are: {', '.join(d.name for d in self.def_.inputs)}",
            )
        arrays: dict[str, np.ndarray] = {}
        for decl in self.def_.inputs:
            if decl.name not in args:
                raise ArgumentError(f"{self.def_.name}: missing argument '{decl.name}'")
            arr = np.asarray(args[decl.name])
            if arr.ndim != len(decl.shape):
                raise ArgumentError(
                    f"{self.def_.name}: argument '{decl.name}' has {arr.ndim} dimension(s), "
                    f"expected {len(decl.shape)}"
                )
            arrays[decl.name] = arr
            if not decl.shape and is_int(decl.dtype):
                self.env[decl.name] = int(arr)  # integer scalar params may appear in bounds
        self._bind_sizes(arrays)
        for decl in self.def_.inputs:
            self.tensors[decl.name] = self._load_input(decl.dtype, arrays[decl.name])
        for decl in (*self.def_.outputs, *self.def_.temps):
            shape = tuple(max(0, self.bound(d)) for d in decl.shape)
            self.tensors[decl.name] = np.zeros(shape, self.np_dtype(decl.dtype))

    def _bind_sizes(self, arrays: dict[str, np.ndarray]) -> None:
        who: dict[str, str] = {}  # size symbol -> "arg 'x' dim 0"

        def bind_one(sym: str, value: int, where: str) -> None:
            if sym in self.env and self.env[sym] != value:
                first = who.get(sym, f"scalar parameter '{sym}'")
                raise ArgumentError(
                    f"size {sym} is bound twice: {first} gives {sym} = {self.env[sym]}, "
                    f"{where} gives {sym} = {value}"
                )
            self.env[sym] = value
            who.setdefault(sym, where)

        pending = []
        for decl in self.def_.inputs:
            for ax, dim in enumerate(decl.shape):
                dim = sympy.sympify(dim)
                actual = arrays[decl.name].shape[ax]
                where = f"argument '{decl.name}' (dim {ax})"
                if dim.is_Symbol:
                    bind_one(str(dim), actual, where)
                else:
                    pending.append((dim, actual, where))
        progress = True
        while pending and progress:  # solve expression dims with one unknown symbol each
            progress, rest = False, []
            for dim, actual, where in pending:
                unknown = [s for s in dim.free_symbols if str(s) not in self.env]
                if len(unknown) == 1:
                    sols = sympy.solve(sympy.Eq(self._subs(dim), actual), unknown[0])
                    ints = [int(s) for s in sols if s.is_integer and s >= 0]
                    if len(ints) != 1:
                        raise ArgumentError(
                            f"{where} has size {actual}, which does not fit shape {dim}"
                        )
                    bind_one(str(unknown[0]), ints[0], where)
                    progress = True
                elif not unknown:
                    if int(self._subs(dim)) != actual:
                        raise ArgumentError(
                            f"{where} has size {actual}, expected {dim} = {int(self._subs(dim))}"
                        )
                    progress = True
                else:
                    rest.append((dim, actual, where))
            pending = rest
        if pending:
            dim, _, where = pending[0]
            raise ArgumentError(f"cannot bind the sizes of {where}: shape {dim} is ambiguous")

    def _subs(self, e: sympy.Expr) -> sympy.Expr:
        return e.subs({s: self.env[str(s)] for s in e.free_symbols if str(s) in self.env})

    def bound(self, e) -> int:
        """Value of a sympy bound under the bound sizes."""
        if isinstance(e, int):
            return e
        v = self._bounds.get(e)
        if v is None:
            v = self._bounds[e] = int(self._subs(sympy.sympify(e)))
        return v

    def _load_input(self, dtype: str, arr: np.ndarray) -> np.ndarray:
        if dtype == "bfloat16":
            f = bf16_to_f32(arr) if arr.dtype == np.uint16 else round_bf16(arr)
            return f.astype(self.np_dtype(dtype))
        stored = arr.astype(DTYPES[dtype].numpy, copy=False)  # what a compiled kernel would see
        return stored.astype(self.np_dtype(dtype), copy=False)

    def result(self, decl) -> np.ndarray:
        val = self.tensors[decl.name]
        if decl.dtype == "bfloat16":
            return f32_to_bf16(val)
        with np.errstate(all="ignore"):
            return np.asarray(val.astype(to_numpy(decl.dtype)))

    # -- statements --------------------------------------------------------------------------------
    def statement(self, st: Statement) -> None:
        if len(set(st.indices)) != len(st.indices):
            raise UnsupportedError(f"repeated LHS index in a write to {st.tensor}{st.indices}")
        decl = self.def_.tensor(st.tensor)
        target = self.tensors[st.tensor]
        dom = [(self.bound(r.lo), max(self.bound(r.lo), self.bound(r.hi))) for r in st.domain]
        for ax, (lo, hi) in enumerate(dom):
            if hi > lo and (lo < 0 or hi > target.shape[ax]):
                raise ShapeError(
                    f"statement writes {st.tensor} at {st.indices[ax]} in {lo}:{hi}, outside its "
                    f"dimension {ax} of size {target.shape[ax]}"
                )
        nodes = list(_walk(st.rhs)) + (list(_walk(st.mask)) if st.mask is not None else [])
        self._lenient = st.mask is not None or any(
            isinstance(n, Reduce) and n.mask is not None or isinstance(n, Call) and n.fn == "select"
            for n in nodes
        )
        reads_self = any(isinstance(n, Access) and n.tensor == st.tensor for n in nodes)
        dest = target.copy() if reads_self else target

        # chunk over the first LHS index that is not a kmin rank
        ranks = {n.rank for n in nodes if isinstance(n, Reduce) and n.rank}
        extents = [hi - lo for lo, hi in dom]
        inner = self._cost(st.rhs) * (self._cost(st.mask) if st.mask is not None else 1)
        cax = next((a for a, name in enumerate(st.indices) if name not in ranks), None)
        step = None
        if cax is not None:
            rest = math.prod(e for a, e in enumerate(extents) if a != cax) * inner * _ELEM_BYTES
            step = max(1, self.limit // max(1, rest))
        spans = [(lo, hi) for lo, hi in dom]
        pieces = _chunks(*dom[cax], step) if cax is not None else [None]
        for piece in pieces:
            if piece is not None:
                spans[cax] = piece
            values = tuple(np.arange(lo, hi, dtype=np.int64) for lo, hi in spans)
            axes = _Axes(tuple(st.indices), values)
            shape = axes.shape
            if 0 in shape:
                continue
            with np.errstate(all="ignore"):
                val = self.round_to(self.eval(st.rhs, axes), decl.dtype)
                where = tuple(slice(lo, hi) for lo, hi in spans)
                val = np.broadcast_to(val, shape)
                if st.mask is not None:
                    keep = np.broadcast_to(self.eval(st.mask, axes).astype(bool), shape)
                    val = np.where(keep, val, dest[where])
            dest[where] = val
        self.tensors[st.tensor] = dest

    def _cost(self, e: Expr) -> int:
        """Largest product of nested reduction extents below `e` (elements per context point)."""
        if isinstance(e, Reduce) and self._contractible(e):
            return 1  # contracted pairwise: memory is the planner's, not the index space's
        below = max((self._cost(c) for c in children(e)), default=1)
        if isinstance(e, Reduce):
            ext = math.prod(max(0, self.bound(r.hi) - self.bound(r.lo)) for r in e.ranges)
            return max(1, ext) * below
        return below

    # -- expressions -------------------------------------------------------------------------------
    def eval(self, e: Expr, axes: _Axes) -> np.ndarray:
        """Value of `e` at every point of `axes`: an array of ndim len(axes), broadcastable."""
        out = self.eval_rules[type(e)](e, axes)
        if out.ndim < len(axes.names):
            out = out.reshape((1,) * (len(axes.names) - out.ndim) + out.shape)
        return out

    def _const(self, e: Const, axes: _Axes) -> np.ndarray:
        return np.asarray(e.value, dtype=self.np_dtype(e.dtype))

    def _index(self, e: Index, axes: _Axes) -> np.ndarray:
        if e.name not in axes.names:
            if e.name in self.env:  # a size symbol or integer scalar parameter used as a value
                return np.asarray(self.env[e.name], dtype=np.int64)
            raise AssertionError(f"index {e.name} has no range in this statement")
        ax = len(axes.names) - 1 - axes.names[::-1].index(e.name)  # innermost binding wins
        shape = [1] * len(axes.names)
        shape[ax] = len(axes.values[ax])
        return axes.values[ax].reshape(shape)

    def _access(self, e: Access, axes: _Axes) -> np.ndarray:
        data = self.tensors[e.tensor]
        if not e.indices:
            return data
        idx = []
        for ax, ie in enumerate(e.indices):
            i = self.eval(ie, axes)
            if i.dtype.kind not in "iub":
                raise AssertionError(f"non-integer index into {e.tensor}: {ie}")
            n = data.shape[ax]
            if i.size and (i.min() < 0 or i.max() >= n):
                if not self._lenient:
                    raise ShapeError(
                        f"read of {e.tensor} out of range: index {ax} takes values "
                        f"{int(i.min())}..{int(i.max())}, size is {n}"
                    )
                i = np.clip(i, 0, max(0, n - 1))
            idx.append(i.astype(np.intp, copy=False))
        return data[tuple(idx)]

    def _call(self, e: Call, axes: _Axes) -> np.ndarray:
        args = [self.eval(a, axes) for a in e.args]
        if e.fn == "cast":
            return self.round_to(args[0], e.dtype)
        out = np.asarray(OPS[e.fn].numpy(*args))
        return out.astype(self.np_dtype(e.dtype), copy=False)

    def _contractible(self, e: Reduce) -> list[Access] | None:
        """The factors of `e` if it is a sum of products that `contract` can run: every factor
        and product computes in the reduction's dtype (so pairwise order changes only rounding)."""
        found = product_factors(e)
        if found is None:
            return None
        factors, dtypes = found
        return factors if len({self.np_dtype(d) for d in dtypes}) == 1 else None

    def _contract(self, e: Reduce, axes: _Axes) -> np.ndarray | None:
        """`e` contracted pairwise over its operands' slices at `axes` (see interp_contract), or
        None when some read falls outside its tensor (the general path reports or clips it)."""
        factors = self._contractible(e)
        if factors is None:
            return None
        spans = {r.index: (self.bound(r.lo), max(self.bound(r.lo), self.bound(r.hi)))
                 for r in e.ranges}
        if len(spans) != len(e.ranges):
            return None
        outer = {n: k for k, n in enumerate(axes.names) if n not in spans}
        if len(outer) != sum(n not in spans for n in axes.names):
            return None  # an index bound twice outside: the general path knows which one wins
        operands, labels = [], []
        for f in factors:
            data, picks = self.tensors[f.tensor], []
            for ax, i in enumerate(f.indices):
                if i.name in spans:
                    values = np.arange(*spans[i.name], dtype=np.int64)
                elif i.name in outer:
                    values = axes.values[outer[i.name]]
                else:
                    return None  # a size symbol used as an index: the general path handles it
                if values.size and (values[0] < 0 or values.max() >= data.shape[ax]):
                    return None
                picks.append(values)
            operands.append(data[np.ix_(*picks)])
            labels.append(tuple(i.name for i in f.indices))
        used = {n for lab in labels for n in lab}
        output = tuple(n for n in outer if n in used)
        dtype = self.np_dtype(e.dtype)
        out = contract(operands, labels, output, dtype)
        repeat = unused_extent([(n, hi - lo) for n, (lo, hi) in spans.items()], labels)
        if repeat != 1:
            out = (out * dtype.type(repeat)).astype(dtype, copy=False)
        shape = [1] * len(axes.names)
        for n in output:
            shape[outer[n]] = len(axes.values[outer[n]])
        return out.reshape(shape)

    def _reduce(self, e: Reduce, axes: _Axes) -> np.ndarray:
        fast = self._contract(e, axes)
        if fast is not None:
            return fast
        rule = REDUCE_RULES[e.op]
        spans = [(self.bound(r.lo), max(self.bound(r.lo), self.bound(r.hi))) for r in e.ranges]
        extents = [hi - lo for lo, hi in spans]
        names = tuple(r.index for r in e.ranges)
        inner = max(self._cost(e.body), self._cost(e.mask) if e.mask is not None else 1)
        per_row = math.prod(axes.shape) * math.prod(extents[1:]) * inner * _ELEM_BYTES
        step = max(1, self.limit // max(1, per_row))
        arg = e.op in ("argmax", "argmin", "argkmin")
        ident = reduce_identity(e.op, e.body.dtype if arg else e.dtype)
        state = None
        for a, b in _chunks(*spans[0], step):
            cur = [(a, b)] + spans[1:]
            values = tuple(np.arange(lo, hi, dtype=np.int64) for lo, hi in cur)
            sub = axes.extend(names, values)
            body = self.eval(e.body, sub)
            if not arg:
                body = body.astype(self.np_dtype(e.dtype), copy=False)
            mask = self.eval(e.mask, sub).astype(bool) if e.mask is not None else np.ones((), bool)
            n = len(axes.names)
            outer = np.broadcast_shapes(body.shape[:n], mask.shape[:n])
            red = tuple(hi - lo for lo, hi in cur)
            flat = outer + (math.prod(red),)
            body = np.broadcast_to(body, outer + red).reshape(flat)
            mask = np.broadcast_to(mask, outer + red).reshape(flat)
            offset = (a - spans[0][0]) * math.prod(extents[1:])
            part = rule.partial(body, mask, offset, e.k, ident)
            state = part if state is None else rule.combine(state, part, e.k)
        out = np.asarray(rule.finish(state))
        if e.op in ("kmin", "argkmin"):
            out = self._place_rank(e, out, axes)
        return out.astype(np.int64 if arg else self.np_dtype(e.dtype), copy=False)

    def _place_rank(self, e: Reduce, out: np.ndarray, axes: _Axes) -> np.ndarray:
        """Move the k-axis of a kmin/argkmin result onto the axis of its `rank` index."""
        if e.rank not in axes.names:
            raise UnsupportedError(f"{e.op} over rank index {e.rank!r} that no LHS uses")
        pos = axes.names.index(e.rank)
        ranks = axes.values[pos]
        if len(ranks) and (ranks.min() < 0 or ranks.max() >= e.k):
            raise ShapeError(f"rank index {e.rank} of {e.op} ranges beyond 0:{e.k}")
        assert out.shape[pos] == 1, "kmin body must not depend on its rank index"
        out = np.squeeze(out, axis=pos)[..., ranks]
        return np.moveaxis(out, -1, pos)
