"""Stored tuning records, checked before use: a record is data from disk, and a bad one must cost
speed, never correctness (`"threads": -1` gave all-zero outputs, `"threads": 3000` 3000 threads).

`check(entry, def_, backend, sizes)` returns the `Candidate` or raises `RecordError` saying which
field is wrong; `lookup` (tuner.py) turns that into a warning and ignores the record. Checked: the
schema (exactly these fields, these types), the schedule (known knobs, `schedule.validate`, its
target, index names of this def, specialised sizes equal to the call's), and every config value
against `config_rules` (unknown keys are refused).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from tensorc import knobs
from tensorc.errors import ScheduleError, TensorcError
from tensorc.ir.tensor_ir import Def
from tensorc.schedule.schedule import Schedule, validate

FIELDS = {"schedule": str, "config": dict, "seconds": (int, float, type(None)), "reference": str}
TILE_MAX = 4096
BLOCK_MAX = 1 << 16


@dataclass(frozen=True)
class Candidate:
    """One point of the search: a schedule and a backend config (what a record stores)."""

    schedule: Schedule
    config: dict

    def label(self, default: Candidate | None = None) -> str:
        """What differs from `default` (the whole candidate when no default is given)."""
        if default is None:
            return f"{self.schedule.to_json()} {json.dumps(self.config, sort_keys=True)}"
        a, b = json.loads(default.schedule.to_json()), json.loads(self.schedule.to_json())
        parts = [f"{k}={b[k]}" for k in sorted(b) if b[k] != a[k]]
        parts += [f"{k}={v}" for k, v in sorted(self.config.items()) if default.config.get(k) != v]
        return ", ".join(parts) or "default"


class RecordError(TensorcError):
    """A stored tuning record that does not fit its schema or ranges."""


def _int(v) -> bool:
    return type(v) is int


def _power_of_two(v, hi: int) -> bool:
    return _int(v) and 0 < v <= hi and v & (v - 1) == 0


def _threads(v) -> bool:
    """1 up to 4 x the CPU count (or TENSORC_NUM_THREADS when that asks for more)."""
    return _int(v) and 1 <= v <= max((os.cpu_count() or 1) * 4, knobs.num_threads())


# (config key pattern, check, what it must be): the first matching rule decides
config_rules: list[tuple[re.Pattern, Callable[[object], bool], str]] = [
    (re.compile(r"threads"), _threads, "an int in 1..4 x the CPU count (or TENSORC_NUM_THREADS)"),
    (
        re.compile(r"(num_warps|\w+_WARPS)"),
        lambda v: v in (1, 2, 4, 8, 16, 32) and _int(v),
        "1, 2, 4, 8, 16 or 32",
    ),
    (re.compile(r"(num_stages|\w+_STAGES)"), lambda v: _int(v) and 1 <= v <= 8, "an int in 1..8"),
    (re.compile(r"(allow_tf32|fast_paths|\w+_INTERIOR)"), lambda v: type(v) is bool, "a bool"),
    (
        re.compile(r"(BLOCK|BM|BN|BK|\w+_BLOCK_[IJ]|BLOCK_D|DOT_MIN_D|RESIDENT_MAX_D)"),
        lambda v: _power_of_two(v, BLOCK_MAX),
        f"a power of two up to {BLOCK_MAX}",
    ),
]
_BACKEND_KEYS = {"cpu": {"threads"}}  # other backends: any key a rule knows


def check_config(config: dict, backend: str) -> dict:
    """`config` when every key is known and every value in range, else `RecordError`."""
    for key, value in config.items():
        known = _BACKEND_KEYS.get(backend)
        rule = next((r for r in config_rules if r[0].fullmatch(str(key))), None)
        if rule is None or (known is not None and key not in known):
            raise RecordError(f"unknown {backend} config key {key!r}")
        if not rule[1](value):
            raise RecordError(f"config {key} = {value!r}: must be {rule[2]}")
    return config


def _indices(def_: Def) -> set[str]:
    from tensorc.ir.tensor_ir import Reduce
    from tensorc.passes.tir_utils import walk

    names = set()
    for st in def_.body:
        names.update(st.indices)
        names.update(r.index for x in walk(st.rhs) if isinstance(x, Reduce) for r in x.ranges)
    return names


def check_schedule(text: str, def_: Def, backend: str, sizes: dict[str, int]) -> Schedule:
    """The schedule in `text` when it is legal for this def, backend and call sizes."""
    try:
        s = validate(Schedule.from_json(text), def_)
    except (ScheduleError, ValueError, TypeError, KeyError) as err:
        raise RecordError(f"schedule: {getattr(err, 'message', err)}") from None
    target = "gpu" if backend == "triton" else "cpu"
    if s.target != target:
        raise RecordError(f"schedule for target {s.target!r} on the {backend} backend")
    names = _indices(def_)
    for name, tile in s.tiles:
        if name not in names or not (tile == 0 or _power_of_two(tile, TILE_MAX)):
            raise RecordError(
                f"tile {name}={tile}: an index of {def_.name} and 0 or a power "
                f"of two up to {TILE_MAX}"
            )
    if not set(s.order) <= names:
        raise RecordError(f"loop order {s.order} names indices {def_.name} does not have")
    for label, pairs in (("specialise", s.specialise), ("plan_sizes", s.plan_sizes)):
        for name, value in pairs:
            if sizes.get(name) != value:
                raise RecordError(
                    f"{label} {name}={value}, but the call has {name}={sizes.get(name)}"
                )
    if s.flash_blocks is not None and not all(
        _int(b) and 0 < b <= TILE_MAX and b % 8 == 0 for b in s.flash_blocks
    ):
        raise RecordError(f"flash_blocks {s.flash_blocks}: multiples of 8 up to {TILE_MAX}")
    return s


def check(entry: object, def_: Def, backend: str, sizes: dict[str, int]):
    """The `Candidate` a stored record names, or `RecordError`."""
    if not isinstance(entry, dict) or set(entry) != set(FIELDS):
        got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
        raise RecordError(f"a record has the fields {sorted(FIELDS)}, this one {got}")
    for name, types in FIELDS.items():
        if not isinstance(entry[name], types):
            raise RecordError(f"field {name!r} has type {type(entry[name]).__name__}")
    schedule = check_schedule(entry["schedule"], def_, backend, sizes)
    return Candidate(schedule, check_config(dict(entry["config"]), backend))
