"""The kernel store: compiled objects, lowered programs, tuning results and the parser tables.

A key is a named list of parts (canonical IR text, dtypes, backend + versions, target, config), so a
miss can be explained. An entry is `<root>/<kind>/<key[:2]>/<key><suffix>` in the format of
entry.py (a JSON header saying what it is, then the payload, under one sha256); writes are atomic
(a 0600 temp file + `os.replace`, the temp file removed on any failure), and a file that is torn,
foreign or fails to decode is removed so the caller rebuilds it.

Trust (trust.py): nothing is read from a root whose directories or files another user could have
written; such a root (or one that cannot be created) gives one `TensorcWarning` and an in-process
cache for the rest of the process. Payloads are data where they can be (object code, JSON); the
cached programs are pickles, read with the IR-only unpickler of pickled.py.

Location: `$TENSORC_CACHE_DIR`, else the platform's user cache dir ("~/.cache/tensorc"); set
`TENSORC_CACHE_DIR=off` to store nothing. Size: `TENSORC_CACHE_MAX` (default 4G); a write that
passes it evicts the least recently used entries (usage.py). `tensorc cache list|info|clear|prune`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tensorc import knobs
from tensorc.cache import entry, objcheck, pickled, trust, usage

_lock = threading.Lock()
_ROOTS: dict[str, str] = {}  # cache root -> '' (trusted) or why it is not (decided once)
_MEMORY: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()  # for an untrusted root
_memory_bytes = 0
# suffix -> what a payload read from disk must pass (the default: anything)
payload_rules: dict[str, Callable[[bytes], bool]] = {".o": objcheck.elf_ok}


def cache_key(**parts: Any) -> str:
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


def trusted_root() -> Path | None:
    """The cache root when it exists (created 0700 if missing) and passes the owner rule; None
    when the cache is off or the root is not trusted (warned about once per process). A root
    given through a symbolic link is the directory it names; links below the root are refused."""
    root = knobs.cache_root()
    if root is None:
        return None
    root = Path(os.path.realpath(root))
    with _lock:
        why = _ROOTS.get(str(root))
        if why is None:
            why = _ROOTS[str(root)] = trust.make_private_dirs(root, root)
            if why:
                _warn_untrusted(root, why)
    return None if why else root


def private_dir(kind: str) -> Path | None:
    """`<root>/<kind>`, created 0700, when the whole chain is trusted (for files that are not
    store entries: Triton modules, which must be real files)."""
    root = trusted_root()
    if root is None or trust.make_private_dirs(root, root / kind):
        return None
    return root / kind


def _warn_untrusted(root: Path, why: str) -> None:
    from tensorc.errors import warn

    warn(
        f"the kernel cache {root} is not used: {why}; this process keeps its kernels in memory",
        hint="make it private (chmod 700, owned by you), remove it, or set TENSORC_CACHE_DIR to "
        "a private directory (or to 'off')",
    )


def _path(kind: str, key: str, suffix: str) -> Path | None:
    """Where the entry lives on disk (None: the cache is off or in memory)."""
    root = trusted_root()
    return None if root is None else root / kind / key[:2] / f"{key}{suffix}"


def _in_memory() -> bool:
    return knobs.cache_root() is not None and trusted_root() is None


def read(
    kind: str, key: str, suffix: str = ".bin", decode: Callable[[bytes], Any] | None = None
) -> Any:
    """The payload stored under `key` (passed through `decode` when given), or None if absent,
    corrupt, not trusted, or `decode` raises (a corrupt or undecodable file is removed)."""
    if _in_memory():
        with _lock:
            payload = _MEMORY.get((kind, key, suffix))
            if payload is not None:
                _MEMORY.move_to_end((kind, key, suffix))
        return _decoded(payload, decode, None)
    path = _path(kind, key, suffix)
    if path is None or not os.path.lexists(path):
        return None
    if trust.chain_problem(path.parents[2], path.parent):
        return None  # a directory someone else can write: never read what is in it
    data = trust.read_private(path)
    if data is None:
        return None
    parsed = entry.decode(data)
    payload = parsed[1] if parsed else None
    if payload is not None and not payload_rules.get(suffix, _any)(payload):
        payload = None  # a consistent header around bytes that are not what the suffix says
    return _decoded(payload, decode, path)


def _any(payload: bytes) -> bool:
    return True


def _decoded(payload: bytes | None, decode: Callable[[bytes], Any] | None, path: Path | None):
    if payload is not None and decode is not None:
        try:
            return decode(payload)
        except Exception:  # noqa: BLE001 - an undecodable entry is corrupt, whatever raises
            payload = None
    if payload is None and path is not None:
        _remove(path)  # truncated, foreign or undecodable: drop it so the caller rebuilds
    return payload


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def write(
    kind: str, key: str, payload: bytes, suffix: str = ".bin", meta: dict | None = None
) -> Path | None:
    """Store `payload` atomically; its path, or None when nothing was written to disk (cache
    off, kept in memory, or the disk refused: a full or read-only disk costs speed only).
    `meta` (def, sizes, backend) is what `tensorc cache list` shows."""
    if _in_memory():
        _remember(kind, key, suffix, payload)
        return None
    path = _path(kind, key, suffix)
    if path is None or trust.make_private_dirs(path.parents[2], path.parent):
        return None
    data = entry.encode(payload, {"kind": kind, **(meta or {})})
    if not write_atomic(path, data):
        return None
    usage.account(path.parents[2], len(data), keep=path)
    return path


def write_atomic(path: Path, data: bytes) -> bool:
    """Write `data` to `path` through a 0600 temp file in the same directory and `os.replace`;
    the temp file never outlives a failure (full disk, read-only directory)."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            _remove(Path(tmp))


def _remember(kind: str, key: str, suffix: str, payload: bytes) -> None:
    """Keep an entry in memory, least recently used out first beyond TENSORC_CACHE_MAX."""
    global _memory_bytes
    cap = knobs.cache_max_bytes()
    with _lock:
        old = _MEMORY.pop((kind, key, suffix), None)
        _memory_bytes += len(payload) - (len(old) if old is not None else 0)
        _MEMORY[(kind, key, suffix)] = payload
        while _memory_bytes > cap and len(_MEMORY) > 1:
            _, dropped = _MEMORY.popitem(last=False)
            _memory_bytes -= len(dropped)


def get_or_build(
    kind: str, key: str, build: Callable[[], bytes], suffix: str = ".bin", meta: dict | None = None
) -> bytes:
    """The cached payload for `key`, building and storing it on a miss."""
    payload = read(kind, key, suffix)
    if payload is None:
        payload = build()
        write(kind, key, payload, suffix, meta)
    return payload


def read_pickle(kind: str, key: str, types: tuple[type, ...]) -> tuple | None:
    """A pickled tuple of objects of `types` (`.pickle`, read with the IR-only unpickler); None
    if absent or anything else (which is removed). A `bytes` item is object code: it must pass
    the ".o" payload rule too."""

    def decode(payload: bytes) -> tuple:
        value = pickled.loads(payload)
        if not (
            isinstance(value, tuple)
            and len(value) == len(types)
            and all(isinstance(v, t) for v, t in zip(value, types))
        ):
            raise TypeError(f"a cached {kind} entry is not a tuple of {types}")
        if not all(payload_rules[".o"](v) for v in value if isinstance(v, bytes)):
            raise ValueError(f"a cached {kind} entry holds corrupt object code")
        return value

    return read(kind, key, ".pickle", decode=decode)


def write_pickle(kind: str, key: str, obj: Any, meta: dict | None = None) -> Path | None:
    return write(kind, key, pickled.dumps(obj), ".pickle", meta)
