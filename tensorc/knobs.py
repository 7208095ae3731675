"""Every `TENSORC_*` environment knob, declared once and read through these functions.

TENSORC_NUM_THREADS   CPU threads per kernel launch (default: all cores)
TENSORC_CACHE_DIR     on-disk kernel cache (default: the user cache dir); "off" disables it
TENSORC_BACKEND       default backend for CPU inputs (default: "cpu" when llvmlite works)
TENSORC_CHECKS        "1": run the IR verifier after every pass
TENSORC_ACCEPT_GOLDEN "1": tests rewrite golden files instead of comparing (developers only)
"""

from __future__ import annotations

import os
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


def default_backend() -> str | None:
    return os.environ.get("TENSORC_BACKEND") or None


def checks() -> bool:
    return os.environ.get("TENSORC_CHECKS") == "1"


def accept_golden() -> bool:
    return os.environ.get("TENSORC_ACCEPT_GOLDEN") == "1"
