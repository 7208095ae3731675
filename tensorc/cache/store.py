"""The on-disk store of compiled kernels (and, later, tuning results).

A key is a named list of parts (canonical IR text, dtypes, backend + versions, target, config), so a
miss can be explained. Entries are written atomically (temp file + `os.replace`) under a file lock,
carry a sha256 of their payload, and a bad file is detected, removed and rebuilt.

Location: `$TENSORC_CACHE_DIR`, else the platform's user cache dir + "/tensorc". Set
`TENSORC_CACHE_DIR=off` to disable the disk cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from tensorc.knobs import cache_root

_MAGIC = b"TCK1"


def cache_key(**parts: str) -> str:
    """sha256 over the named parts, in name order (`cache_key(ir=..., target=..., config=...)`)."""
    blob = json.dumps({k: str(v) for k, v in sorted(parts.items())}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@functools.cache
def code_digest() -> str:
    """sha256 of tensorc's own Python sources (the tensorc and tensorc.backends packages): part of
    the key of anything derived by tensorc's code, such as a lowered program, so an edited
    checkout never reads results of the code it replaced. About 10 ms, once per process."""
    import tensorc
    from tensorc import backends

    h = hashlib.sha256()
    for root in (Path(tensorc.__file__).parent, Path(backends.__file__).parent):
        for f in sorted(root.rglob("*.py")):
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _path(kind: str, key: str, suffix: str) -> Path | None:
    root = cache_root()
    return None if root is None else root / kind / key[:2] / f"{key}{suffix}"


def read(kind: str, key: str, suffix: str = ".bin") -> bytes | None:
    """The payload stored under `key`, or None if absent or corrupt (a corrupt file is removed)."""
    path = _path(kind, key, suffix)
    if path is None or not path.exists():
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[:4] == _MAGIC and len(data) >= 36:
        digest, payload = data[4:36], data[36:]
        if hashlib.sha256(payload).digest() == digest:
            return payload
    try:  # truncated or foreign file: drop it so the caller rebuilds
        path.unlink()
    except OSError:
        pass
    return None


def write(kind: str, key: str, payload: bytes, suffix: str = ".bin") -> Path | None:
    """Store `payload` atomically; returns its path (None when the cache is disabled)."""
    path = _path(kind, key, suffix)
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, path)
    except OSError:
        return None  # a read-only or full disk costs speed, never correctness
    return path


def get_or_build(kind: str, key: str, build: Callable[[], bytes], suffix: str = ".bin") -> bytes:
    """The cached payload for `key`, building and storing it on a miss."""
    payload = read(kind, key, suffix)
    if payload is None:
        payload = build()
        write(kind, key, payload, suffix)
    return payload
