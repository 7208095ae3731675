"""Reduction rules of the reference interpreter: one row per `Reduce` op.

A reduction runs in chunks over its first range (so no temporary exceeds the interpreter's memory
bound). Each rule turns one chunk into a partial *state*, combines two states (earlier chunk first),
and finishes a state into the result. Chunks arrive in index order, so "ties go to the smallest
index" only needs "keep the earlier state on ties".

Inputs to `partial`: `v`, the body values with the reduction axes flattened into the last axis
(row-major over `Reduce.ranges`); `valid`, a bool array of the same shape (the mask); `offset`, the
flat index of the chunk's first element; `ident`, the op's identity (ops.reduce_identity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ReduceRule:
    partial: Callable  # (v, valid, offset, k, ident) -> state
    combine: Callable  # (state, state, k) -> state
    finish: Callable  # (state) -> array (for kmin/argkmin: last axis is the rank axis)


def _fill(v: np.ndarray, valid: np.ndarray, value) -> np.ndarray:
    return np.where(valid, v, np.asarray(value, dtype=v.dtype))


def _sum(v, valid, offset, k, ident):
    return np.sum(_fill(v, valid, 0), axis=-1)


def _prod(v, valid, offset, k, ident):
    return np.prod(_fill(v, valid, 1), axis=-1)


def _max(v, valid, offset, k, ident):
    return np.max(_fill(v, valid, ident), axis=-1, initial=ident)


def _min(v, valid, offset, k, ident):
    return np.min(_fill(v, valid, ident), axis=-1, initial=ident)


def _logsumexp(v, valid, offset, k, ident):
    # Max-shifted: exp never overflows; an all -inf (or empty) row gives -inf, a +inf gives +inf.
    vm = _fill(v, valid, -np.inf)
    top = np.max(vm, axis=-1, initial=-np.inf, keepdims=True)
    shift = np.where(np.isfinite(top), top, 0)
    total = np.sum(np.exp(vm - shift), axis=-1)
    return np.log(total) + shift[..., 0]


def _arg_partial(better: Callable, worst_of: Callable):
    def partial(v, valid, offset, k, ident):
        worst = worst_of(v.dtype)
        vm = _fill(v, valid, worst)
        best = (np.min if better is np.less else np.max)(vm, axis=-1, initial=worst)
        cand = valid & (v == best[..., None])
        if v.dtype.kind == "f":  # numpy's argmin/argmax: the first NaN wins
            isn = np.isnan(v) & valid
            anynan = isn.any(axis=-1)
            cand = np.where(anynan[..., None], isn, cand)
            best = np.where(anynan, np.nan, best)
        has = cand.any(axis=-1)
        first = np.argmax(cand, axis=-1) if cand.shape[-1] else np.zeros(has.shape, np.int64)
        idx = np.where(has, first + offset, -1).astype(np.int64)
        return best, idx

    return partial


def _arg_combine(better: Callable):
    def combine(old, new, k):
        (ov, oi), (nv, ni) = old, new
        take = (ni >= 0) & ((oi < 0) | better(nv, ov))
        if np.asarray(nv).dtype.kind == "f":
            take |= (ni >= 0) & np.isnan(nv) & ~np.isnan(ov)
        return np.where(take, nv, ov), np.where(take, ni, oi)

    return combine


def _worst_high(dtype: np.dtype):
    return np.inf if dtype.kind == "f" else (True if dtype.kind == "b" else np.iinfo(dtype).max)


def _worst_low(dtype: np.dtype):
    return -np.inf if dtype.kind == "f" else (False if dtype.kind == "b" else np.iinfo(dtype).min)


def _select_k(v: np.ndarray, idx: np.ndarray, k: int, ident) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest valid entries (idx >= 0) in ascending order; stable, so ties keep order."""
    order = np.lexsort((v, idx < 0), axis=-1)[..., :k]
    vals = np.take_along_axis(v, order, axis=-1)
    ids = np.take_along_axis(idx, order, axis=-1)
    vals = np.where(ids >= 0, vals, np.asarray(ident, dtype=v.dtype))
    short = k - vals.shape[-1]
    if short > 0:  # fewer candidates than k: pad with the identity / -1
        pad = [(0, 0)] * (vals.ndim - 1) + [(0, short)]
        vals = np.pad(vals, pad, constant_values=ident)
        ids = np.pad(ids, pad, constant_values=-1)
    return vals, ids


def _kmin_partial(v, valid, offset, k, ident):
    idx = np.where(valid, np.arange(v.shape[-1], dtype=np.int64) + offset, -1)
    return _select_k(v, idx, k, ident)


def _kmin_combine(old, new, k):
    (ov, oi), (nv, ni) = old, new
    ident = np.inf if ov.dtype.kind == "f" else np.iinfo(ov.dtype).max
    return _select_k(np.concatenate([ov, nv], -1), np.concatenate([oi, ni], -1), k, ident)


REDUCE_RULES: dict[str, ReduceRule] = {
    "sum": ReduceRule(_sum, lambda a, b, k: a + b, lambda s: s),
    "prod": ReduceRule(_prod, lambda a, b, k: a * b, lambda s: s),
    "max": ReduceRule(_max, lambda a, b, k: np.maximum(a, b), lambda s: s),
    "min": ReduceRule(_min, lambda a, b, k: np.minimum(a, b), lambda s: s),
    "logsumexp": ReduceRule(_logsumexp, lambda a, b, k: np.logaddexp(a, b), lambda s: s),
    "argmin": ReduceRule(_arg_partial(np.less, _worst_high), _arg_combine(np.less), lambda s: s[1]),
    "argmax": ReduceRule(
        _arg_partial(np.greater, _worst_low), _arg_combine(np.greater), lambda s: s[1]
    ),
    "kmin": ReduceRule(_kmin_partial, _kmin_combine, lambda s: s[0]),
    "argkmin": ReduceRule(_kmin_partial, _kmin_combine, lambda s: s[1]),
}
