"""The kernel cache, from Python: what is in it, how big it is, and removing entries.

    >>> import tensorc.cache
    >>> tensorc.cache.info()["bytes"]          # total size on disk
    >>> [e.kind for e in tensorc.cache.entries()]
    >>> tensorc.cache.prune("500M")            # least recently used out until 500 MiB remain
    >>> tensorc.cache.clear()                  # everything

The same as `tensorc cache info|list|prune|clear`. Where it lives: `$TENSORC_CACHE_DIR`, else the
user cache dir (`~/.cache/tensorc` on Linux); `TENSORC_CACHE_MAX` caps it (default 4G). The store
itself (keys, atomic writes, who is trusted) is `tensorc.cache.store`.
"""

from __future__ import annotations

from pathlib import Path

from tensorc import knobs
from tensorc.cache import store, usage
from tensorc.cache.usage import Entry

__all__ = ["Entry", "clear", "entries", "info", "location", "prune"]


def location() -> Path | None:
    """The cache root (None when `TENSORC_CACHE_DIR=off`)."""
    return knobs.cache_root()


def entries(kind: str | None = None) -> list[Entry]:
    """Every cached file, least recently used first (only `kind`: "llvm", "program", "tune",
    "triton", "grammar"). Empty when the cache is off or not trusted (nothing of it is used)."""
    root = store.trusted_root()
    found = usage.scan(root) if root is not None else []
    return [e for e in found if kind is None or e.kind == kind]


def info() -> dict:
    """Where the cache is, whether it is used, its size and cap, and bytes / entries per kind."""
    root = knobs.cache_root()
    trusted = store.trusted_root()
    found = usage.scan(trusted, with_meta=False) if trusted is not None else []
    kinds: dict[str, dict[str, int]] = {}
    for e in found:
        k = kinds.setdefault(e.kind, {"entries": 0, "bytes": 0})
        k["entries"] += 1
        k["bytes"] += e.bytes
    state = "off" if root is None else "on" if trusted is not None else "not trusted (memory only)"
    return {
        "root": str(root) if root else None,
        "state": state,
        "entries": len(found),
        "bytes": sum(e.bytes for e in found),
        "max_bytes": knobs.cache_max_bytes(),
        "kinds": dict(sorted(kinds.items())),
    }


def clear(kind: str | None = None, older_than: float | None = None) -> list[Entry]:
    """Remove every entry (only of `kind`; only unused for `older_than` seconds); the removed."""
    root = store.trusted_root()
    return usage.remove(root, kind, older_than) if root is not None else []


def prune(max_bytes: int | str | None = None) -> list[Entry]:
    """Evict least recently used entries until the cache holds at most `max_bytes` (a number or
    '500M'; default `TENSORC_CACHE_MAX`); the removed entries."""
    if isinstance(max_bytes, str):
        max_bytes = knobs.parse_bytes(max_bytes, "max_bytes")
    cap = knobs.cache_max_bytes() if max_bytes is None else int(max_bytes)
    root = store.trusted_root()
    return usage.evict(root, cap) if root is not None else []
