"""Memory safety of a call: no kernel reads or writes outside an array.

Data path: `check(def_, sizes, shapes)` runs once per call signature, before anything is compiled
or run: it evaluates the obligations of `tensorc.ir.obligations.analyse(def_)` that sympy could not
prove on the call's sizes and input shapes, checks that the outputs fit in memory, and returns the
per-call check of index tensors (`_GatherCheck`), which bounds each index tensor's values (the part
a gather reads) and evaluates the gathers' obligations on them. A failed obligation is a
`ShapeError` naming the tensor, the index values (for a gather: the bad value and its position)
and the valid range, at the statement's `file:line:col`.

Example:
    >>> per_call = check(def_, {"N": 5, "S": -3}, [(5,), ()])  # `where i in S:N`: ShapeError
    >>> if per_call: per_call(buffers)                           # index tensors, on every call
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from tensorc.errors import ShapeError
from tensorc.ir.obligations import ABSURD, Analysis, Obligation, analyse
from tensorc.ir.tensor_ir import Def
from tensorc.ir.types import DTYPES

__all__ = ["check"]


# --- checks (once per call signature, and per call for index tensors) ---------------------------


def check(def_: Def, sizes: dict[str, int], shapes: list[tuple[int, ...]]
          ) -> Callable[[dict[str, Any]], None] | None:
    """Check the size-dependent obligations of `def_` on a call's sizes and input shapes (in
    `def_.inputs` order); return the check of index tensors to run on each call's buffers (by
    name), or None when there is none. Raises `ShapeError`."""
    an = analyse(def_)
    try:
        args = [sizes[n] for n in an.size_names]
    except KeyError:
        return None  # a size the runtime did not bind: the build reports it
    actual = {(d.name, ax): n for d, shape in zip(def_.inputs, shapes)
              for ax, n in enumerate(shape)}
    _check_outputs(def_, an.output_dims(*args), sizes)
    _verify(an.fixed, an.fixed_values(*args), actual, sizes)
    if not an.gathered:
        return None
    bounds = iter(an.part_values(*args))
    parts = [None if all(p is None for p in g.parts) else
             tuple(slice(None) if p is None else slice(max(0, int(next(bounds))),
                                                       max(0, int(next(bounds))))
                   for p in g.parts) for g in an.gathers]
    return _GatherCheck(an, args, parts, actual, sizes, {d.name: d.dtype for d in def_.inputs})


class _GatherCheck:
    """The per-call check of a signature's index tensors: each gather's part is reduced to one
    unsigned maximum (a negative value wraps above every extent), which bounds its values by
    0..max; only when an obligation fails on those bounds are the exact minimum and maximum
    taken (and the failure reported)."""

    __slots__ = ("actual", "an", "args", "limits", "parts", "reads", "sizes")

    def __init__(self, an: Analysis, args: list, parts: list, actual: dict, sizes: dict,
                 dtypes: dict[str, str]):
        self.an, self.args, self.parts, self.actual, self.sizes = an, args, parts, actual, sizes
        # per gather: tensor, part (None: all of it), its values as unsigned, the sign bit
        self.reads = []
        for g, part in zip(an.gathers, parts):
            info = DTYPES[dtypes[g.tensor]]
            unsigned = np.dtype(f"uint{info.bits}") if info.kind in "iu" else None
            self.reads.append((g.tensor, part, unsigned, 1 << (info.bits - 1 if info.kind == "i"
                                                             else info.bits)))
        self.limits = self.direct_limits()

    def direct_limits(self) -> list[int] | None:
        """When every gathered read indexes directly by an integer index tensor's value
        (`T(idx(l), w)`), per gather the extent its values must stay below: one unsigned max
        and a compare per call then decide. None otherwise."""
        an = self.an
        values = an.gathered_values(*self.args, *([0] * 2 * len(an.gathers)))
        it = iter(values)
        limits = {g: 1 << 64 for g in an.gathers}
        for ob, guard, _, _, extent in zip(an.gathered, it, it, it, it):
            g = ob.gathers[0]
            if len(ob.gathers) > 1 or (ob.lo, ob.hi) != (g.lo, g.hi):
                return None
            if guard > 0:
                n = self.actual[ob.tensor, ob.axis] if ob.extent is None else max(0, extent)
                limits[g] = min(limits[g], int(n))
        if any(unsigned is None for _, _, unsigned, _ in self.reads):
            return None
        return [limits[g] for g in an.gathers]

    def __call__(self, buffers: dict[str, Any]) -> None:
        if self.limits is not None:
            for (name, part, unsigned, _), limit in zip(self.reads, self.limits):
                view = buffers[name] if part is None else buffers[name][part]
                if type(view) is not np.ndarray:
                    break
                if view.size and int(view.view(unsigned).max()) >= limit:
                    return self.exact(buffers)
            else:
                return None
        data = []
        for name, part, unsigned, sign in self.reads:
            view = buffers[name] if part is None else buffers[name][part]
            if unsigned is not None and type(view) is np.ndarray and view.size:
                top = int(view.view(unsigned).max())
                if top < sign:
                    data += (0, top)
                    continue
            data += _min_max(view)
        values = self.an.gathered_values(*self.args, *data)
        if _verify(self.an.gathered, values, self.actual, self.sizes, raise_=False) is not None:
            self.exact(buffers)

    def exact(self, buffers: dict[str, Any]) -> None:
        """Check again with each part's exact minimum and maximum; raise on a failure."""
        views = [buffers[name] if part is None else buffers[name][part]
                 for name, part, _, _ in self.reads]
        data = [x for v in views for x in _min_max(v)]
        values = self.an.gathered_values(*self.args, *data)
        bad = _verify(self.an.gathered, values, self.actual, self.sizes, raise_=False)
        if bad is not None:
            raise self.error(bad, views)

    def error(self, bad: tuple, views: list) -> ShapeError:
        ob, lo, hi, extent = bad
        g = ob.gathers[0]
        k = self.an.gathers.index(g)
        value, pos = _extreme(views[k], lo < 0)
        part = self.parts[k] or (slice(None),) * len(pos)
        pos = tuple(int(i) + (s.start or 0) for i, s in zip(pos, part))
        return ShapeError(
            f"index tensor {g.tensor} holds {value} at position {pos}: the read of {ob.tensor} "
            f"at index {ob.axis} ({ob.text}) takes values {lo}..{hi}, outside the valid range "
            f"0:{extent} of {ob.tensor}'s dimension {ob.axis}",
            ob.span,
            hint=f"every value of {g.tensor} must index {ob.tensor}: keep them in 0:{extent} "
            f"(or guard the read with a mask or select)",
        )


def _min_max(view: Any) -> tuple[int, int]:
    """The least and greatest index an index tensor gives (a float one: truncated, as a cast
    does; NaN or inf: beyond every extent)."""
    if view.size == 0 if isinstance(view, np.ndarray) else view.numel() == 0:
        return 0, 0
    if isinstance(view, np.ndarray):
        lo, hi = view.min(), view.max()
    else:
        import torch

        lo, hi = (x.item() for x in torch.aminmax(view))
    if isinstance(lo, (int, np.integer)):
        return int(lo), int(hi)
    if math.isnan(lo) or math.isnan(hi):
        return -(1 << 63), 1 << 63
    return (math.trunc(max(float(lo), -2.0**63)), math.trunc(min(float(hi), 2.0**63)))


def _extreme(view: Any, low: bool) -> tuple[Any, tuple[int, ...]]:
    """The least (`low`) or greatest value of an index tensor and its position (a NaN first)."""
    arr = view if isinstance(view, np.ndarray) else view.cpu().numpy()
    flat = int(arr.argmin() if low else arr.argmax())
    pos = np.unravel_index(flat, arr.shape)
    return arr[pos].item(), tuple(int(i) for i in pos)


def _verify(obligations: tuple[Obligation, ...], values: list, actual: dict, sizes: dict,
            raise_: bool = True) -> tuple | None:
    """The first obligation that fails (with its lo, hi, extent): raised, or returned."""
    it = iter(values)
    for ob, guard, lo, hi, extent in zip(obligations, it, it, it, it):
        if guard <= 0:
            continue
        if ob.kind == "range":
            if abs(lo) < ABSURD and abs(hi) < ABSURD:
                continue
        else:
            extent = actual[ob.tensor, ob.axis] if ob.extent is None else max(0, extent)
            if 0 <= lo and hi < extent:
                continue
        lo, hi, extent = _int(lo), _int(hi), _int(extent)
        if not raise_:
            return ob, lo, hi, extent
        raise _error(ob, lo, hi, extent, sizes)
    return None


def _int(x: Any) -> Any:
    """An evaluated bound as an int when it is one (Fractions and floats come from rationals)."""
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else x
    return int(x) if isinstance(x, int) or float(x).is_integer() else x


def _error(ob: Obligation, lo: int, hi: int, extent: int, sizes: dict) -> ShapeError:
    at = ", ".join(f"{k} = {v}" for k, v in sizes.items())
    where = f" (with {at})" if at else ""
    if ob.kind == "range":
        return ShapeError(
            f"range {ob.text} in {lo}:{hi} has a bound beyond +-2**62{where}",
            ob.span,
            hint=f"index arithmetic would wrap: check the `where {ob.text} in lo:hi` bounds",
        )
    if ob.kind == "rank":
        return ShapeError(f"rank index {ob.text} of {ob.tensor} ranges over {lo}:{hi + 1}, "
                          f"beyond 0:{extent}{where}", ob.span)
    if ob.kind == "write":
        return ShapeError(
            f"statement writes {ob.tensor} at {ob.text} in {lo}:{hi + 1}, outside its dimension "
            f"{ob.axis} of size {extent}{where}",
            ob.span,
            hint=f"keep the range of {ob.text} in 0:{extent}, or declare {ob.tensor} larger",
        )
    return ShapeError(
        f"read of {ob.tensor} out of bounds: index {ob.axis} ({ob.text}) takes values "
        f"{lo}..{hi}, but dimension {ob.axis} of {ob.tensor} has size {extent}{where}",
        ob.span,
        hint=ob.hint or f"the valid range is 0:{extent}; restrict the indices with "
        f"`where ... in lo:hi` or fix {ob.tensor}'s shape",
    )


def _check_outputs(def_: Def, dims: list, sizes: dict) -> None:
    """An output that cannot fit in memory is an error before anything is allocated."""
    dims = iter(dims)
    limit = _memory()
    for out in def_.outputs:
        shape = tuple(max(0, _int(next(dims))) for _ in out.shape)
        nbytes = math.prod(shape) * DTYPES[out.dtype].bits // 8
        if nbytes > limit:
            raise ShapeError(
                f"output {out.name} of shape {shape} needs {nbytes / 2**30:.3g} GiB, more than "
                f"this machine's memory ({limit / 2**30:.3g} GiB)",
                out.span or def_.span,
                hint="check the sizes (" + ", ".join(f"{k} = {v}" for k, v in sizes.items())
                + ") and any K of kmin/argkmin",
            )


@functools.cache
def _memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 50
