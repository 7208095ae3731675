"""Contraction planning: the pairwise order in which an n-operand product-sum is evaluated.

Input invariant: an einsum-shaped contraction (index strings per operand, an output string, sizes).
Output invariant: a `Plan` of pairwise `Step`s, each one batched GEMM (`step_as_bmm`), whose
composition equals the einsum. The path search is opt_einsum's (optimal / dynamic programming /
greedy / random greedy); this module only chooses the searcher, replays the path, and describes how
each step maps to a batched GEMM. `execute_plan` is the numpy reference of that execution.

Step positions follow opt_einsum's / numpy.einsum_path's convention: `lhs` and `rhs` index the
current operand list, both are removed, and the result is appended at the end.

Example:
    >>> p = plan(["ij", "jk", "kl"], "il", {"i": 10, "j": 100, "k": 5, "l": 10})
    >>> print(p.describe())
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import opt_einsum.paths as oe_paths
from opt_einsum.helpers import flop_count
from opt_einsum.path_random import RandomGreedy

from tensorc.errors import ScheduleError, ShapeError

__all__ = ["METHODS", "BmmLayout", "Plan", "Step", "execute_plan", "plan", "step_as_bmm"]


@dataclass(frozen=True, slots=True)
class Step:
    """Contract operands `lhs` and `rhs` (positions in the current list; lhs < rhs)."""

    lhs: int
    rhs: int
    lhs_indices: str
    rhs_indices: str
    out_indices: str
    batch: str  # in lhs, rhs and out
    contracted: str  # in lhs and rhs, summed (the GEMM's K)
    flops: int  # opt_einsum's cost model (helpers.flop_count)


@dataclass(frozen=True, slots=True)
class Plan:
    inputs: tuple[str, ...]  # as given (repeated indices allowed: diagonals are taken first)
    output: str
    sizes: tuple[tuple[str, int], ...]
    steps: tuple[Step, ...]
    flops: int
    largest_intermediate: int  # elements of the largest step result
    method: str

    def describe(self) -> str:
        """A readable path: one line per pairwise step, as `tensorc explain` prints it."""
        head = (
            f"contraction plan ({self.method}): {','.join(self.inputs)}->{self.output}, "
            f"{len(self.steps)} step(s), {self.flops:,} flops, "
            f"largest intermediate {self.largest_intermediate:,} elements"
        )
        lines = [head]
        size = dict(self.sizes)
        names = [f"op{n}" for n in range(len(self.inputs))]
        for k, s in enumerate(self.steps):
            a, b = names[s.lhs], names[s.rhs]
            del names[s.rhs], names[s.lhs]
            names.append(f"t{k}")
            g = step_as_bmm(s)
            b_, m_, n_, k_ = g.dims(size)
            lines.append(
                f"  t{k} = {a}[{s.lhs_indices}] * {b}[{s.rhs_indices}] -> [{s.out_indices}]  "
                f"batch={s.batch or '-'} contract={s.contracted or '-'}  "
                f"bmm B={b_} M={m_} N={n_} K={k_}  flops={s.flops:,}"
            )
        if not self.steps:
            lines.append(f"  out = sum/transpose of op0[{self.inputs[0]}] -> [{self.output}]")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class BmmLayout:
    """How one step runs as a batched GEMM: out[b, m, n] = sum_k lhs[b, m, k] * rhs[b, k, n].

    The lhs first sums its `lhs_sum` indices (in no other operand), then is transposed by
    `perm_lhs` to batch+m+k order; the rhs likewise to batch+k+n; the (batch+m+n) result is
    transposed by `out_perm` into `Step.out_indices` order. Groups are index strings.
    """

    batch: str
    m: str
    n: str
    k: str
    lhs_sum: str
    rhs_sum: str
    perm_lhs: tuple[int, ...]
    perm_rhs: tuple[int, ...]
    out_perm: tuple[int, ...]

    def dims(self, sizes: dict[str, int]) -> tuple[int, int, int, int]:
        """(B, M, N, K) of the GEMM at these index sizes."""
        size = [math.prod(sizes[c] for c in g) for g in (self.batch, self.m, self.n, self.k)]
        return size[0], size[1], size[2], size[3]


def step_as_bmm(step: Step) -> BmmLayout:
    """The batched-GEMM layout of a pairwise step (see `BmmLayout`)."""
    lhs, rhs, out = step.lhs_indices, step.rhs_indices, step.out_indices
    batch = "".join(c for c in lhs if c in rhs and c in out)
    k = "".join(c for c in lhs if c in rhs and c not in out)
    m = "".join(c for c in lhs if c not in rhs and c in out)
    n = "".join(c for c in rhs if c not in lhs and c in out)
    lhs_sum = "".join(c for c in lhs if c not in rhs and c not in out)
    rhs_sum = "".join(c for c in rhs if c not in lhs and c not in out)
    lhs_left = [c for c in lhs if c not in lhs_sum]
    rhs_left = [c for c in rhs if c not in rhs_sum]
    gemm_out = batch + m + n
    return BmmLayout(
        batch,
        m,
        n,
        k,
        lhs_sum,
        rhs_sum,
        perm_lhs=tuple(lhs_left.index(c) for c in batch + m + k),
        perm_rhs=tuple(rhs_left.index(c) for c in batch + k + n),
        out_perm=tuple(gemm_out.index(c) for c in out),
    )


# --- path search ---------------------------------------------------------------------------------

PathFn = Callable[[list[frozenset], frozenset, dict[str, int], "int | None"], list[tuple[int, ...]]]


def _random_greedy(inputs, output, sizes, memory_limit):
    return RandomGreedy(max_repeats=32, max_time=1.0)(inputs, output, sizes, memory_limit)


METHODS: dict[str, PathFn] = {
    "optimal": oe_paths.optimal,
    "dynamic_programming": oe_paths.dynamic_programming,
    "greedy": oe_paths.greedy,
    "random_greedy": _random_greedy,
    "branch": oe_paths.branch_2,
}


def _auto_candidates(n: int) -> list[str]:
    if n <= 8:
        return ["optimal"]
    if n <= 14:
        return ["dynamic_programming", "greedy"]
    return ["greedy", "random_greedy"]


def plan(
    inputs: list[str],
    output: str,
    sizes: dict[str, int],
    method: str = "auto",
    memory_limit: int | None = None,
    path: list[tuple[int, ...]] | None = None,
) -> Plan:
    """Plan the pairwise contraction order of `inputs -> output` with opt_einsum's path search.

    Args:
        inputs: index string per operand, e.g. ["ijk", "ia", "jb", "kc"].
        output: output index string, e.g. "abc".
        sizes: size of every index.
        method: "auto" (optimal for <= 8 operands, dynamic programming up to 14, greedy /
            random greedy beyond; the cheapest candidate wins), or one of `METHODS`.
        memory_limit: largest intermediate (elements) the search may create, as in opt_einsum.
        path: a complete linear path to replay instead of searching (opt_einsum's /
            numpy.einsum_path's convention, checked by the caller); the plan's method is "given".

    Example:
        >>> plan(["ij", "jk"], "ik", {"i": 2, "j": 3, "k": 4}).flops
        48
    """
    inputs = [str(t) for t in inputs]
    _check(inputs, output, sizes)
    size = {c: int(sizes[c]) for c in set("".join(inputs))}
    uniq = ["".join(dict.fromkeys(t)) for t in inputs]  # diagonals are taken before any step
    frozen_sizes = tuple(sorted(size.items()))
    if len(uniq) == 1:
        kept = set(output)
        f = flop_count(set(uniq[0]), bool(set(uniq[0]) - kept), 1, size)
        out_size = math.prod(size[c] for c in output)
        return Plan(tuple(inputs), output, frozen_sizes, (), f, out_size, "trivial")
    if path is not None:
        candidates, paths = ["given"], {"given": [tuple(e) for e in path]}
    elif len(uniq) == 2:
        candidates, paths = ["trivial"], {"trivial": [(0, 1)]}
    else:
        if method == "auto":
            candidates = _auto_candidates(len(uniq))
        elif method in METHODS:
            candidates = [method]
        else:
            raise ScheduleError(
                f"unknown contraction planning method {method!r}",
                hint=f"choose one of: auto, {', '.join(METHODS)}",
            )
        sets = [frozenset(t) for t in uniq]
        paths = {m: METHODS[m](sets, frozenset(output), size, memory_limit) for m in candidates}
    best = None
    for m in candidates:
        steps = _replay(uniq, output, size, paths[m])
        total = sum(s.flops for s in steps)
        if best is None or total < best[0]:
            best = (total, steps, m)
    total, steps, m = best
    largest = max(math.prod(size[c] for c in s.out_indices) for s in steps)
    return Plan(tuple(inputs), output, frozen_sizes, tuple(steps), total, largest, m)


def _check(inputs: list[str], output: str, sizes: dict[str, int]) -> None:
    known = set("".join(inputs))
    if not inputs:
        raise ShapeError("contraction plan: no operands")
    for c in output:
        if output.count(c) > 1:
            raise ShapeError(f"contraction plan: output index '{c}' appears more than once")
        if c not in known:
            raise ShapeError(f"contraction plan: output index '{c}' is in no operand")
    missing = sorted(c for c in known if c not in sizes)
    if missing:
        raise ShapeError(f"contraction plan: no size for index(es) {', '.join(missing)}")


def _replay(inputs: list[str], output: str, size: dict[str, int], path) -> list[Step]:
    """Turn an opt_einsum linear path into pairwise steps.

    Unary entries (single-operand reductions, as dynamic programming emits) are folded into the
    next pairwise step; entries of more than two operands are split into successive pairs.
    """
    # linear path -> SSA tree of pairwise contractions
    ids = list(range(len(inputs)))
    pairs: list[tuple[int, int, int]] = []
    nxt = len(inputs)
    for entry in path:
        group = [ids[p] for p in entry]
        for p in sorted(entry, reverse=True):
            del ids[p]
        if len(group) == 1:
            ids.append(group[0])
            continue
        acc = group[0]
        for other in group[1:]:
            pairs.append((acc, other, nxt))
            acc, nxt = nxt, nxt + 1
        ids.append(acc)
    # SSA pairs -> positions in the live operand list, with index bookkeeping
    live: list[tuple[int, str]] = list(enumerate(inputs))
    steps: list[Step] = []
    for k, (a, b, new) in enumerate(pairs):
        pa = next(p for p, (i, _) in enumerate(live) if i == a)
        pb = next(p for p, (i, _) in enumerate(live) if i == b)
        lo, hi = sorted((pa, pb))
        lhs, rhs = live[lo][1], live[hi][1]
        rest = [t for p, (_, t) in enumerate(live) if p not in (lo, hi)]
        needed = set(output).union(*rest) if rest else set(output)
        both = lhs + "".join(c for c in rhs if c not in lhs)
        if k == len(pairs) - 1 and not rest:
            out = output
        else:
            batch = "".join(c for c in lhs if c in rhs and c in needed)
            out = batch + "".join(c for c in both if c in needed and c not in batch)
        removed = set(both) - set(out)
        steps.append(
            Step(
                lo,
                hi,
                lhs,
                rhs,
                out,
                batch="".join(c for c in lhs if c in rhs and c in out),
                contracted="".join(c for c in lhs if c in rhs and c not in out),
                flops=flop_count(set(both), bool(removed), 2, size),
            )
        )
        del live[hi], live[lo]
        live.append((new, out))
    return steps


# --- numpy execution (the reference of GEMM-shaped execution) --------------------------------------


def _diagonal(arr: np.ndarray, idx: str) -> tuple[np.ndarray, str]:
    """Take the diagonal of repeated indices: A[i,i,j] -> D[i,j]."""
    uniq = "".join(dict.fromkeys(idx))
    if uniq == idx:
        return arr, idx
    grid = np.ix_(*(np.arange(arr.shape[idx.index(c)]) for c in uniq)) if uniq else ()
    return arr[tuple(grid[uniq.index(c)] for c in idx)], uniq


def _pairwise(step: Step, a: np.ndarray, b: np.ndarray, size: dict[str, int]) -> np.ndarray:
    g = step_as_bmm(step)
    a = a.sum(axis=tuple(step.lhs_indices.index(c) for c in g.lhs_sum)) if g.lhs_sum else a
    b = b.sum(axis=tuple(step.rhs_indices.index(c) for c in g.rhs_sum)) if g.rhs_sum else b
    bb, m, n, k = g.dims(size)
    a3 = a.transpose(g.perm_lhs).reshape(bb, m, k)
    b3 = b.transpose(g.perm_rhs).reshape(bb, k, n)
    c = np.matmul(a3, b3)
    c = c.reshape(tuple(size[ch] for ch in g.batch + g.m + g.n))
    return c.transpose(g.out_perm)


def execute_plan(plan: Plan, operands: list[np.ndarray]) -> np.ndarray:
    """Run `plan` with numpy: each step one `np.matmul` after transpose/reshape (no einsum).

    Example:
        >>> p = plan(["ij", "jk"], "ik", {"i": 2, "j": 3, "k": 4})
        >>> execute_plan(p, [a, b])  # == a @ b
    """
    if len(operands) != len(plan.inputs):
        raise ShapeError(f"plan has {len(plan.inputs)} operands, {len(operands)} were given")
    size = dict(plan.sizes)
    live: list[tuple[np.ndarray, str]] = []
    for n, (op, idx) in enumerate(zip(operands, plan.inputs)):
        op = np.asarray(op)
        want = tuple(size[c] for c in idx)
        if op.shape != want:
            raise ShapeError(f"operand {n} ('{idx}') has shape {op.shape}, the plan expects {want}")
        live.append(_diagonal(op, idx))
    for s in plan.steps:
        (a, _), (b, _) = live[s.lhs], live[s.rhs]
        del live[s.rhs], live[s.lhs]
        live.append((_pairwise(s, a, b, size), s.out_indices))
    ((res, idx),) = live
    drop = tuple(p for p, c in enumerate(idx) if c not in plan.output)
    if drop:
        res = res.sum(axis=drop)
        idx = "".join(c for c in idx if c in plan.output)
    return res.transpose(tuple(idx.index(c) for c in plan.output))
