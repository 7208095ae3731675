"""numpy.einsum's call signature on compiled einsum defs (`tensorc.einsum`, `tensorc.einsum_path`).

Data path of a call: operands -> arrays (lists, tuples and scalars through `numpy.asarray`, as
numpy does) -> parsed subscripts (a string, or the interleaved sublist form) -> compute dtype
(`dtype=`, else numpy promotion; `out=`'s dtype where it differs and `casting=` allows it) -> either
one compiled def for the whole contraction (`optimize="auto"`, the default: the compiler plans the
pairwise order inside the program) or, for any other `optimize=`, a path from the contraction
planner (`passes.plan_contractions`, given the strategy) or the caller's explicit path, run step
by step: one compiled einsum def per step, the last one writing into `out=`.

Example:
    >>> path, text = einsum_path(("ij,jk,kl->il", a, b, c), optimize="greedy")
    >>> path
    ['einsum_path', (1, 2), (0, 1)]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from opt_einsum import get_symbol
from opt_einsum.helpers import flop_count

from tensorc.errors import ArgumentShapeError, ArgumentTypeError, ArgumentValueError
from tensorc.frontend.einsum import Parsed, einsum_def, einsum_labels, parse_sublists
from tensorc.ir.types import ALIASES, DTYPES, from_numpy, is_float, promote
from tensorc.passes.plan_contractions import Plan, plan
from tensorc.runtime import arrays
from tensorc.runtime.module import Function, remembered

__all__ = ["STRATEGIES", "compiled", "einsum", "einsum_path"]

# optimize= strategy names (numpy's and opt_einsum's) -> the planner's methods. True is numpy's
# 'greedy'; False contracts in the written order, left to right.
STRATEGIES = {
    "auto": "auto",
    "auto-hq": "auto",
    "greedy": "greedy",
    "optimal": "optimal",
    "dp": "dynamic_programming",
    "dynamic_programming": "dynamic_programming",
    "dynamic-programming": "dynamic_programming",
    "branch": "branch",
    "branch-1": "branch",
    "branch-2": "branch",
    "branch-all": "branch",
    "random-greedy": "random_greedy",
    "random_greedy": "random_greedy",
    "random-greedy-128": "random_greedy",
}
CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")
ORDERS = ("K", "A", "C", "F")

_DEFS: dict[tuple, Function] = {}  # (subscripts, shapes, dtypes, dtype, backend) -> Function
_PLANS: dict[tuple, tuple[Plan, dict[str, str]]] = {}  # (subscripts, shapes, optimize) -> plan


def compiled(
    subscripts: str | Parsed, infos: list[arrays.ArgInfo], dtype: str | None, backend: str | None
) -> Function:
    """The compiled def of one einsum for these operand shapes and dtypes (remembered)."""
    shapes = tuple(i.shape for i in infos)
    dtypes = tuple(i.dtype for i in infos)
    key = (_key(subscripts), shapes, dtypes, dtype, backend)
    build = lambda: Function(einsum_def(subscripts, list(shapes), list(dtypes), dtype), backend)
    return remembered(_DEFS, key, build, limit=256)


def einsum(
    args: tuple, out: Any, dtype: Any, order: str, casting: str, optimize: Any, backend: str | None
) -> Any:
    """`tensorc.einsum(*args, out=, dtype=, order=, casting=, optimize=)` (see api.einsum)."""
    subscripts, ops = _split(args)
    if order not in ORDERS:
        raise ArgumentValueError(f"einsum: order={order!r}", hint=f"choose one of: {ORDERS}")
    infos = [_describe(op, n) for n, op in enumerate(ops)]
    compute, natural = _compute_dtype([i.dtype for i in infos], dtype, out, casting)
    if isinstance(optimize, str) and optimize == "auto":
        fused = None if compute == natural else compute  # one def for both spellings
        result = compiled(subscripts, infos, fused, backend)(*ops, out=out)
    else:
        p, names = _planned(subscripts, [i.shape for i in infos], optimize)
        result = _run_path(p, names, ops, compute, out, backend)
    if order == "F" and out is None and isinstance(result, np.ndarray):
        return np.asfortranarray(result)
    return result


def einsum_path(args: tuple, optimize: Any) -> tuple[list, str]:
    """numpy.einsum_path: the path (`['einsum_path', (i, j), ...]`) and a printable report."""
    subscripts, ops = _split(args)
    shapes = [_describe(op, n).shape for n, op in enumerate(ops)]
    p, _ = _planned(subscripts, shapes, optimize)
    if p.steps:
        path = ["einsum_path", *((s.lhs, s.rhs) for s in p.steps)]
    else:
        path = ["einsum_path", (0,)]
    return path, _report(p)


# --- operands and dtypes -----------------------------------------------------------------------
def _split(args: tuple) -> tuple[str | Parsed, list]:
    if not args:
        raise ArgumentTypeError("einsum() takes subscripts and at least one operand, got nothing")
    if isinstance(args[0], str):
        subscripts, ops = args[0], list(args[1:])
    else:
        ops, subscripts = parse_sublists(args)
    if not ops:
        raise ArgumentValueError("einsum: no operands", hint='e.g. tensorc.einsum("ij->ji", a)')
    return subscripts, [_as_operand(op, n) for n, op in enumerate(ops)]


def _as_operand(op: Any, pos: int) -> Any:
    """numpy arrays and torch tensors as they are; anything else through numpy.asarray."""
    if isinstance(op, np.ndarray) or arrays.is_torch(op):
        return op
    try:
        arr = np.asarray(op)
    except ValueError as err:  # a ragged nested list
        raise ArgumentShapeError(f"einsum operand {pos}: {err}") from None
    if arr.dtype == object:
        raise ArgumentTypeError(
            f"einsum operand {pos}: expected an array, tensor, number or nested list of numbers, "
            f"got {type(op).__name__}"
        )
    return arr


def _describe(op: Any, pos: int) -> arrays.ArgInfo:
    info = arrays.describe(op)
    if info.dtype is None:
        raise ArgumentTypeError(
            f"einsum operand {pos}: unsupported dtype {info.raw_dtype}",
            hint=f"supported: {', '.join(DTYPES)}",
        )
    return info


def _dtype_name(d: Any, what: str) -> str:
    if isinstance(d, str) and d in ALIASES:
        return ALIASES[d]
    try:
        return from_numpy(np.dtype(d))
    except (KeyError, TypeError):
        pass
    name = str(d).removeprefix("torch.")  # a torch dtype
    if name in DTYPES:
        return name
    raise ArgumentTypeError(
        f"einsum: {what} {d!r} is not a supported dtype", hint=f"supported: {', '.join(DTYPES)}"
    )


def _compute_dtype(dtypes: list[str], dtype: Any, out: Any, casting: str) -> tuple[str, str]:
    """The dtype the einsum computes and returns in, and numpy's promotion of the operands'
    dtypes (the two differ under `dtype=` or an `out=` of another dtype)."""
    if casting not in CASTINGS:
        raise ArgumentValueError(f"einsum: casting={casting!r}", hint=f"choose one of: {CASTINGS}")
    natural = dtypes[0]
    for d in dtypes[1:]:
        natural = promote(natural, d)
    want = natural
    if dtype is not None:
        want = _dtype_name(dtype, "dtype=")
        for pos, d in enumerate(dtypes):
            if not _can_cast(d, want, casting):
                raise ArgumentTypeError(
                    f"einsum: operand {pos} has dtype {d}, which casting={casting!r} does not "
                    f"convert to dtype={want}",
                    hint="pass casting='same_kind' or 'unsafe' to allow it (numpy's rule)",
                )
    got = getattr(out, "dtype", None) if out is not None and not isinstance(out, tuple) else None
    if got is not None:
        got = _dtype_name(got, "out= dtype")
        if got != want and not (want == "bfloat16" and got == "uint16"):
            if not _can_cast(want, got, casting):
                raise ArgumentTypeError(
                    f"einsum: out= has dtype {got}; the result is {want}, which casting="
                    f"{casting!r} does not convert to {got}",
                    hint=f"pass an out= array of dtype {want}, or casting='unsafe'",
                )
            want = got
    return want, natural


def _can_cast(src: str, dst: str, casting: str) -> bool:
    if "bfloat16" not in (src, dst):
        return bool(np.can_cast(np.dtype(src), np.dtype(dst), casting))
    if src == dst or casting == "unsafe":
        return True
    if casting == "same_kind":
        return is_float(dst)
    if casting == "safe":
        return src in ("bool", "int8", "uint8") or dst in ("float32", "float64")
    return False


# --- paths ----------------------------------------------------------------------------------------
def _planned(subscripts: str | Parsed, shapes: list[tuple], optimize: Any) -> tuple[Plan, dict]:
    """The contraction plan of these operands under `optimize=` (remembered), and each planner
    symbol's label."""
    try:
        okey = type(optimize), _freeze(optimize)  # the type too: True == 1, False == 0
        hash(okey)
    except TypeError:
        okey = None
    key = None if okey is None else (_key(subscripts), tuple(map(tuple, shapes)), okey)
    return remembered(_PLANS, key, lambda: _plan(subscripts, shapes, optimize), limit=256)


def _plan(subscripts: str | Parsed, shapes: list[tuple], optimize: Any) -> tuple[Plan, dict]:
    full, out_labels, sizes = einsum_labels(subscripts, shapes)
    sym = _symbols(full, out_labels)
    method, limit, path = _strategy(optimize, len(full))
    inputs = ["".join(sym[lab] for lab in labels) for labels in full]
    output = "".join(sym[lab] for lab in out_labels)
    p = plan(inputs, output, {sym[lab]: v for lab, v in sizes.items()}, method, limit, path)
    return p, {c: lab for lab, c in sym.items()}


def _symbols(full: list[list[str]], out_labels: list[str]) -> dict[str, str]:
    """One character per label for the planner: a letter stays itself, other labels ('...'
    dims, integer labels >= 52) get the next unused symbol (opt_einsum's get_symbol)."""
    labels = list(dict.fromkeys([lab for f in full for lab in f] + out_labels))
    used = {lab for lab in labels if len(lab) == 1}
    sym, k = {}, 0
    for lab in labels:
        if len(lab) == 1:
            sym[lab] = lab
            continue
        while get_symbol(k) in used:
            k += 1
        sym[lab] = get_symbol(k)
        used.add(sym[lab])
    return sym


def _strategy(optimize: Any, n: int) -> tuple[str, int | None, list | None]:
    """(planner method, memory limit, explicit path) of an `optimize=` value."""
    if optimize is False:
        return "given", None, [tuple(range(n))]
    if optimize is True:
        return "greedy", None, None
    name, limit = optimize, None
    if (
        isinstance(optimize, tuple)
        and len(optimize) == 2
        and isinstance(optimize[0], str)
        and isinstance(optimize[1], (int, float))
    ):  # numpy's (strategy, memory limit)
        name, limit = optimize[0], int(optimize[1])
    elif isinstance(optimize, (list, tuple)):
        entries = list(optimize)
        if entries and isinstance(entries[0], str) and entries[0] == "einsum_path":
            entries = entries[1:]
        return "given", None, _checked_path(entries, n)
    if not isinstance(name, str):
        raise ArgumentTypeError(
            f"einsum: optimize= must be a bool, a strategy name or a path, got "
            f"{type(optimize).__name__}"
        )
    if name not in STRATEGIES:
        raise ArgumentValueError(
            f"einsum: unknown optimize strategy {name!r}",
            hint=f"choose False, True, a path ['einsum_path', (0, 1), ...] or one of: "
            f"{', '.join(STRATEGIES)}",
        )
    return STRATEGIES[name], limit, None


def _checked_path(entries: list, n: int) -> list[tuple[int, ...]]:
    """A linear path over `n` operands: each entry contracts the operands at those positions of
    the current list (removed) and appends the result; a complete path leaves one."""
    live, path = n, []
    for k, e in enumerate(entries):
        if (
            not isinstance(e, (tuple, list))
            or not e
            or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in e)
        ):
            raise ArgumentTypeError(
                f"einsum: optimize path entry {k} ({e!r}) must be a tuple of operand positions"
            )
        if len(set(e)) != len(e) or any(p < 0 or p >= live for p in e):
            raise ArgumentValueError(
                f"einsum: optimize path entry {k} {tuple(e)} names a position twice or outside "
                f"0..{live - 1} (the {live} operand(s) left at that step)"
            )
        path.append(tuple(int(p) for p in e))
        live -= len(e) - 1
    if live != 1:
        raise ArgumentValueError(
            f"einsum: the optimize path leaves {live} operands, not one",
            hint="each entry contracts the operands at its positions and appends the result",
        )
    return path


def _run_path(
    p: Plan, names: dict[str, str], ops: list, dtype: str | None, out: Any, backend: str | None
) -> Any:
    """Run a plan step by step, each step a compiled einsum; the last writes into `out`."""
    if not p.steps:
        return _step(names, [ops[0]], [p.inputs[0]], p.output, dtype, out, backend)
    live = []
    for op, idx in zip(ops, p.inputs):
        uniq = "".join(dict.fromkeys(idx))  # a diagonal first, as the planner assumes
        live.append(op if uniq == idx else _step(names, [op], [idx], uniq, dtype, None, backend))
    for k, s in enumerate(p.steps):
        a, b = live[s.lhs], live[s.rhs]
        del live[s.rhs], live[s.lhs]
        last = k == len(p.steps) - 1
        live.append(
            _step(
                names,
                [a, b],
                [s.lhs_indices, s.rhs_indices],
                s.out_indices,
                dtype,
                out if last else None,
                backend,
            )
        )
    return live[0]


def _step(
    names: dict[str, str],
    ops: list,
    terms: list[str],
    output: str,
    dtype: str | None,
    out: Any,
    backend: str | None,
) -> Any:
    parsed = ([([names[c] for c in t], None) for t in terms], ([names[c] for c in output], None))
    infos = [arrays.describe(op) for op in ops]
    return compiled(parsed, infos, dtype, backend)(*ops, out=out)


def _report(p: Plan) -> str:
    """numpy.einsum_path's printout: scalings, flop counts, largest intermediate, one line per
    step ("current" contraction, "remaining" terms)."""
    size = dict(p.sizes)
    every = set("".join(p.inputs))
    naive = flop_count(every, bool(every - set(p.output)), len(p.inputs), size)
    scaling = max([len(set(s.lhs_indices + s.rhs_indices)) for s in p.steps] or [len(every)])
    largest = p.largest_intermediate if p.steps else math.prod(size[c] for c in p.output)
    lines = [
        f"  Complete contraction:  {','.join(p.inputs)}->{p.output}",
        f"         Naive scaling:  {len(every)}",
        f"     Optimized scaling:  {scaling}",
        f"      Naive FLOP count:  {naive:.3e}",
        f"  Optimized FLOP count:  {p.flops:.3e}",
        f"   Theoretical speedup:  {naive / max(p.flops, 1):.3f}",
        f"  Largest intermediate:  {largest:.3e} elements",
        f"               Planner:  {p.method}",
        "-" * 74,
        f"{'scaling':<25}{'current':<39}remaining",
        "-" * 74,
    ]
    terms = list(p.inputs)
    for s in p.steps:
        del terms[s.rhs], terms[s.lhs]
        terms.append(s.out_indices)
        current = f"{s.lhs_indices},{s.rhs_indices}->{s.out_indices}"
        scale = len(set(s.lhs_indices + s.rhs_indices))
        lines.append(f"{scale:>4}{current:>28}{','.join(terms) + '->' + p.output:>42}")
    return "\n".join(lines)


def _key(subscripts: str | Parsed) -> Any:
    """A hashable key of parsed or string subscripts."""
    if isinstance(subscripts, str):
        return subscripts
    terms, out = subscripts
    return tuple((tuple(t), e) for t, e in terms), None if out is None else (tuple(out[0]), out[1])


def _freeze(x: Any) -> Any:
    return tuple(_freeze(e) for e in x) if isinstance(x, (list, tuple)) else x
