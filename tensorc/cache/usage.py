"""What is in the cache, how big it is, and least-recently-used eviction.

An entry's last use is its file's mtime (the store touches it on every read). Every file under
the root counts: store entries (their JSON header says kind, def, sizes and backend), Triton
modules and anything left over. `TENSORC_CACHE_MAX` caps the total: the store's writes add to a
running total per root (scanned once per process), and passing the cap evicts the oldest entries
until the total is back under it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tensorc import knobs
from tensorc.cache import entry

_lock = threading.Lock()
_TOTALS: dict[str, int] = {}  # root -> bytes, as this process knows it
TEMP_MAX_AGE = 3600.0  # seconds after which a leftover temp file is a killed writer's


@dataclass(frozen=True)
class Entry:
    """One file of the cache (`tensorc.cache.entries()`)."""

    kind: str  # "llvm" (object code), "program", "tune", "triton", "grammar", ...
    path: Path
    bytes: int
    last_use: float  # seconds since the epoch
    def_: str = ""
    sizes: str = ""
    backend: str = ""
    meta: dict = field(default_factory=dict, compare=False, repr=False)

    def row(self) -> dict:
        """The entry as plain data (for JSON output)."""
        return {
            "kind": self.kind,
            "def": self.def_,
            "sizes": self.sizes,
            "backend": self.backend,
            "bytes": self.bytes,
            "last_use": self.last_use,
            "path": str(self.path),
        }


def scan(root: Path, with_meta: bool = True) -> list[Entry]:
    """Every file under `root`, oldest use first (a missing root has none)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = rel.parts[0] if rel.parts else "other"
            meta = _meta(path) if with_meta else {}
            sizes = meta.get("sizes", "")
            if isinstance(sizes, dict):
                sizes = ",".join(f"{k}={v}" for k, v in sorted(sizes.items()))
            out.append(
                Entry(
                    kind,
                    path,
                    st.st_size,
                    st.st_mtime,
                    str(meta.get("def", "")),
                    str(sizes),
                    str(meta.get("backend", "")),
                    meta,
                )
            )
    out.sort(key=lambda e: (e.last_use, str(e.path)))
    return out


# what a file says it is when its header does not: a generated Triton module's docstring, the
# driver or routine symbol in cpu object code (entries written before headers carried a def)
_NAMES = (
    (".py", re.compile(rb"LoopProgram '(\w+)'"), "triton"),
    (".o", re.compile(rb"\x00tc_(\w+)_run\x00"), "cpu"),
    (".o", re.compile(rb"\x00(tc\.gemm\.[a-z0-9.]+)\x00"), "cpu"),
)


_TAIL = 1 << 14


def _meta(path: Path) -> dict:
    meta = entry.read_meta(path) or {}
    if meta.get("def"):
        return meta
    try:
        with open(path, "rb") as f:  # the docstring opens a module; symbol names end an object
            if path.suffix == ".o":
                f.seek(max(0, os.fstat(f.fileno()).st_size - _TAIL))
            data = f.read(_TAIL) if path.suffix in (".py", ".o") else b""
    except OSError:
        return meta
    for suffix, pattern, backend in _NAMES:
        m = pattern.search(data) if path.suffix == suffix else None
        if m:
            return {"backend": backend, **meta, "def": m.group(1).decode(errors="replace")}
    return meta


def account(root: Path, nbytes: int, keep: Path | None = None) -> None:
    """Add a written entry's bytes to the root's total; evict when it passes TENSORC_CACHE_MAX."""
    cap = knobs.cache_max_bytes()
    with _lock:
        total = _TOTALS.get(str(root))
        if total is None:  # first write of this process: also sweep temp files of killed ones
            total = sum(e.bytes for e in _sweep_temps(scan(root, with_meta=False)))
        else:
            total += nbytes
        _TOTALS[str(root)] = total
    if total > cap:
        evict(root, cap, keep)


def _sweep_temps(files: list[Entry], age: float = TEMP_MAX_AGE) -> list[Entry]:
    """`files` less the `.tmp-*` files older than `age` seconds, which are removed: a process
    killed between writing a temp file and renaming it cannot clean up after itself."""
    now, kept = time.time(), []
    for e in files:
        if e.path.name.startswith(".tmp-") and now - e.last_use > age:
            try:
                e.path.unlink()
                continue
            except OSError:
                pass
        kept.append(e)
    return kept


def evict(root: Path, cap: int, keep: Path | None = None) -> list[Entry]:
    """Remove the least recently used files under `root` until its total is at most `cap`
    (never `keep`, the entry just written); the removed entries."""
    files = scan(root, with_meta=False)
    total = sum(e.bytes for e in files)
    removed = []
    for e in files:
        if total <= cap:
            break
        if keep is not None and e.path == keep:
            continue
        try:
            e.path.unlink()
        except OSError:
            continue
        total -= e.bytes
        removed.append(e)
    _prune_empty_dirs(root)
    with _lock:
        _TOTALS[str(root)] = total
    return removed


def remove(root: Path, kind: str | None = None, older_than: float | None = None) -> list[Entry]:
    """Remove every file under `root` (only of `kind`, only unused for `older_than` seconds)."""
    now = time.time()
    removed = []
    for e in scan(root, with_meta=False):
        if kind is not None and e.kind != kind:
            continue
        if older_than is not None and now - e.last_use < older_than:
            continue
        try:
            e.path.unlink()
        except OSError:
            continue
        removed.append(e)
    _prune_empty_dirs(root)
    with _lock:
        _TOTALS.pop(str(root), None)
    return removed


def _prune_empty_dirs(root: Path) -> None:
    for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
        if Path(dirpath) != root:
            try:
                os.rmdir(dirpath)  # only succeeds when empty
            except OSError:
                pass
