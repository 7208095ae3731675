"""Every `TENSORC_*` environment knob, declared once and read through these functions.

TENSORC_NUM_THREADS   CPU threads per kernel launch (default: all cores)
TENSORC_CACHE_DIR     on-disk kernel cache (default: the user cache dir, ~/.cache/tensorc on Linux);
                      "off" stores nothing (Triton modules then go to a private temporary directory)
TENSORC_CACHE_MAX     size cap of that cache: bytes, or with a unit (500M, 2G; default 4G); a write
                      beyond it evicts the least recently used entries
TENSORC_BACKEND       default backend for CPU inputs (default: "cpu" when llvmlite works)
TENSORC_CHECKS        "1": run the IR verifier after every pass
TENSORC_ACCEPT_GOLDEN "1": tests rewrite golden files instead of comparing (developers only)
"""

from __future__ import annotations

import os
import re
from pathlib import Path


def num_threads() -> int:
    env = os.environ.get("TENSORC_NUM_THREADS")
    return max(1, int(env)) if env else (os.cpu_count() or 1)


def cache_root() -> Path | None:
    env = os.environ.get("TENSORC_CACHE_DIR")
    if env == "off":
        return None
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tensorc"))


CACHE_MAX_DEFAULT = 4 << 30
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def cache_max_bytes() -> int:
    env = os.environ.get("TENSORC_CACHE_MAX", "").strip()
    if not env:
        return CACHE_MAX_DEFAULT
    return parse_bytes(env, "TENSORC_CACHE_MAX")


def parse_bytes(text: str, what: str) -> int:
    """'4096', '500M', '2G', '1.5GB', '300KiB' -> bytes (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)(?:I?B)?\s*", text, re.IGNORECASE)
    if m is None:
        from tensorc.errors import ArgumentError

        raise ArgumentError(
            f"{what}: cannot read {text!r} as a size in bytes",
            hint="write a number of bytes, or one with a unit: 500M, 2G, 1.5T",
        )
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def default_backend() -> str | None:
    return os.environ.get("TENSORC_BACKEND") or None


def checks() -> bool:
    return os.environ.get("TENSORC_CHECKS") == "1"


def accept_golden() -> bool:
    return os.environ.get("TENSORC_ACCEPT_GOLDEN") == "1"
