"""Schedules: every tiling / fusion / order decision of the lowering, as frozen data.

A `Schedule` is hashable and JSON round-trippable (`to_json` / `from_json`); the autotuner searches
`space(def_, target, sizes)` and the cache keys on `to_json()`. An illegal schedule raises
`ScheduleError` from `validate`. The schedule changes *how* a def runs, never what it computes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from tensorc.errors import ScheduleError
from tensorc.ir.tensor_ir import Def, Reduce
from tensorc.ir.tir_utils import walk
from tensorc.schedule.operands import find_sqdist

TARGETS = ("cpu", "gpu")
SPECIALISE_MAX = 16  # sizes up to this are baked in as constants (backends unroll them)
ROW_BLOCK = 8  # default rows per j sweep on the cpu (one AVX2 vector of float32)
# cpu default (BM, BN) of flash attention: whole Gemm panels on AVX2 (MR 6, NR 16) and AVX-512
# (MR 8, NR 32)
FLASH_BLOCKS = (96, 128)
# split-j (tensorc.schedule.split), automatic when a reduction would run on fewer than
# SPLIT_UNITS parallel units (threads' work items / Triton programs) and has SPLIT_MIN_WORK terms.
# The chunk count is fixed per target, never the thread count: results do not depend on it.
SPLIT_CHUNKS = {"cpu": 64, "gpu": 256}
SPLIT_UNITS = {"cpu": 32, "gpu": 64}  # gpu: unmeasured (no GPU run yet); 64 tiles of 64 rows
SPLIT_MIN_WORK = 1 << 16
SPLIT_PARTIAL_BYTES = 16 << 20  # partial buffers of split-j up to this size are cheap (cpu and gpu)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Knobs of the lowering (all optional; the defaults are always legal).

    tiles:        (index name, tile) pairs: loops over that index are split into tile loops
                  (`step = tile`) and intra-tile loops `[t, min(t + tile, stop))`; 0/absent = untiled.
    order:        preferred order of LHS loops (names first in this tuple go outermost).
    vector_width: hint for backends (0 = their choice).
    inner_dims:   hoist computations shared by several outputs (accumulator arrays over e in W1/W4).
    online_softmax, mask_bounds, symmetry, gemm: enable the fast paths of the same names.
    gram_rewrite: rewrite sum_d (x_id - y_jd)^2 as |x|^2 + |y|^2 - 2 x.y with a Gemm when the
                  statement's output already holds the (i, j) matrix.
    split_j:      split-j: chunks of the reduction range computed in parallel, then combined
                  (tensorc.schedule.split). 0 = automatic from plan_sizes (small outputs, long
                  reductions), 1 = never, k >= 2 = every splittable reduction in k chunks.
    row_block:    CPU: compute this many rows of a streaming reduction per sweep over j, one per
                  SIMD lane (tensorc.passes.block_rows); 0/1 = off.
    specialise:   (size, value) pairs baked into the code as constants.
    plan_sizes:   sizes the contraction planner and heuristics assume (not baked in).
    flash_blocks: (BM, BN) row / column block of the blocked flash-attention lowering of online
                  softmax-weighted sums of dot products (target "cpu" only); None = off (the scalar
                  online-softmax loop nest).
    """

    target: str = "cpu"
    tiles: tuple[tuple[str, int], ...] = ()
    order: tuple[str, ...] = ()
    vector_width: int = 0
    inner_dims: bool = True
    online_softmax: bool = True
    mask_bounds: bool = True
    symmetry: bool = True
    gemm: bool = True
    gram_rewrite: bool = False
    split_j: int = 0
    row_block: int = 0
    specialise: tuple[tuple[str, int], ...] = ()
    plan_sizes: tuple[tuple[str, int], ...] = ()
    flash_blocks: tuple[int, int] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @staticmethod
    def from_json(text: str) -> Schedule:
        data = json.loads(text)
        known = {f.name for f in fields(Schedule)}
        if set(data) - known:
            raise ScheduleError(f"unknown schedule knobs: {sorted(set(data) - known)}")
        for key in ("tiles", "specialise", "plan_sizes"):
            if key in data:
                data[key] = tuple((str(a), int(b)) for a, b in data[key])
        if "order" in data:
            data["order"] = tuple(data["order"])
        if data.get("flash_blocks") is not None:
            data["flash_blocks"] = tuple(int(x) for x in data["flash_blocks"])
        return Schedule(**data)


def validate(s: Schedule, def_: Def | None = None) -> Schedule:
    """Raise `ScheduleError` if `s` is illegal (for `def_` when given); return it otherwise."""
    if s.target not in TARGETS:
        raise ScheduleError(f"unknown target {s.target!r}", hint=f"choose one of: {', '.join(TARGETS)}")
    for name, tile in s.tiles:
        if not isinstance(tile, int) or tile < 0:
            raise ScheduleError(f"tile of {name} must be a non-negative int, got {tile!r}")
    if not isinstance(s.split_j, int) or not 0 <= s.split_j <= 4096:
        raise ScheduleError(f"split_j must be an int in [0, 4096], got {s.split_j!r}",
                            hint="0 = automatic, 1 = never split, k = k chunks")
    if s.row_block not in (0, 1, 2, 4, 8, 16, 32, 64):
        raise ScheduleError(f"row_block must be 0 or a power of two <= 64, got {s.row_block}")
    if s.vector_width not in (0, 1, 2, 4, 8, 16, 32, 64):
        raise ScheduleError(f"vector_width must be 0 or a power of two <= 64, got {s.vector_width}")
    if s.flash_blocks is not None:
        fb = s.flash_blocks
        if len(fb) != 2 or not all(isinstance(x, int) and x > 0 for x in fb):
            raise ScheduleError(f"flash_blocks must be two positive ints (BM, BN), got {fb!r}")
    if len(set(s.order)) != len(s.order):
        raise ScheduleError(f"loop order names an index twice: {s.order}")
    if def_ is not None:
        for name, value in s.specialise:
            if name not in def_.sizes:
                raise ScheduleError(f"cannot specialise {name!r}: not a size of {def_.name}")
            if value < 0:
                raise ScheduleError(f"size {name} specialised to a negative value {value}")
    return s


def _indices(def_: Def) -> tuple[list[str], list[str]]:
    lhs: dict[str, None] = {}
    red: dict[str, None] = {}
    for st in def_.body:
        for i in st.indices:
            lhs.setdefault(i, None)
        for x in walk(st.rhs):
            if isinstance(x, Reduce):
                for r in x.ranges:
                    red.setdefault(r.index, None)
    return list(lhs), list(red)


def _gram_d(def_: Def, sizes: dict[str, int] | None) -> int | None:
    """Size of the feature dimension of a `sum_d (x_id - y_jd)^2` in the def, if any."""
    for st in def_.body:
        hit = find_sqdist(def_, st)
        if hit is not None:
            extent = hit.extent
            if sizes:
                extent = extent.subs({s: sizes.get(str(s), s) for s in extent.free_symbols})
            return int(extent) if extent.is_Integer else None
    return None


def default_schedule(def_: Def, target: str = "cpu", sizes: dict[str, int] | None = None) -> Schedule:
    """The heuristic schedule for `def_` on `target` ("cpu" or "gpu") at these call sizes."""
    if target not in TARGETS:
        raise ScheduleError(f"unknown target {target!r}", hint=f"choose one of: {', '.join(TARGETS)}")
    lhs, red = _indices(def_)
    tiles: list[tuple[str, int]] = []
    if target == "gpu" and lhs:
        tiles.append((lhs[0], 64))
    spec = ()
    if sizes:
        spec = tuple(
            (n, int(sizes[n])) for n in def_.sizes if n in sizes and int(sizes[n]) <= SPECIALISE_MAX
        )
    d = _gram_d(def_, sizes)
    gram = d is not None and d >= 32 and target == "cpu"
    plan = tuple((n, int(sizes[n])) for n in def_.sizes if sizes and n in sizes)
    flash = FLASH_BLOCKS if target == "cpu" else None
    return Schedule(
        target=target, tiles=tuple(tiles), gram_rewrite=gram, specialise=spec, plan_sizes=plan,
        flash_blocks=flash, row_block=ROW_BLOCK if target == "cpu" else 0,
    )


def space(def_: Def, target: str = "cpu", sizes: dict[str, int] | None = None) -> list[Schedule]:
    """Legal schedules worth trying for `def_` (the default first)."""
    base = default_schedule(def_, target, sizes)
    lhs, red = _indices(def_)
    out = [base]
    tile_opts = (16, 32, 64, 128) if target == "gpu" else (8, 32, 128)
    for t in tile_opts:
        if lhs:
            out.append(replace(base, tiles=((lhs[0], t),)))
        if red:
            lead = ((lhs[0], t),) if lhs else ()
            out.append(replace(base, tiles=lead + ((red[0], t),)))
    out.append(replace(base, inner_dims=not base.inner_dims))
    out.append(replace(base, gram_rewrite=not base.gram_rewrite))
    out.append(replace(base, gemm=not base.gemm))
    if target == "cpu" and any(
        isinstance(x, Reduce) and x.op == "logsumexp" for st in def_.body for x in walk(st.rhs)
    ):
        out.append(replace(base, flash_blocks=None if base.flash_blocks else FLASH_BLOCKS))
        out.append(replace(base, flash_blocks=(64, 64)))
    if len(lhs) >= 2:
        out.append(replace(base, order=tuple(reversed(lhs))))
    if red:  # split-j never / always (its automatic choice is the default's)
        out += [replace(base, split_j=1), replace(base, split_j=SPLIT_CHUNKS[target])]
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(validate(s, def_))
    return uniq
