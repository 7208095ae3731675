"""Write generated Triton source to the cache and run it from the text tensorc wrote.

`triton.jit` reads a kernel's source with `inspect`, so a module needs a file name whose lines
Python can find: the source is written to `<cache>/triton/tc_<sha256>.py` (atomically, 0600, and
it stays there for people to read). Loading never goes through the import system: the text is
the one this process wrote, or a file in the trusted cache whose sha256 matches its name; it is
compiled with `compile()` + `exec` (no `__pycache__`, so no foreign `.pyc` is ever run) and
registered in `linecache`, so `inspect` reads that same text back and not the file.

Where: the kernel store's private directory (tensorc.cache.store: owned by the user, 0700). When
that is off (`TENSORC_CACHE_DIR=off`), not trusted, or not writable, a private `mkdtemp`
directory of this process (removed at exit), with a `TensorcWarning` in the last case.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import linecache
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from tensorc.cache import store, trust

_SOURCES: dict[str, str] = {}  # path -> the text this process wrote or verified there
_NAME = re.compile(r"tc_([0-9a-f]{64})\.py")


@functools.cache
def _private_tmp() -> Path:
    """A directory only this process uses (mkdtemp: 0700, a fresh unguessable name)."""
    try:
        path = Path(tempfile.mkdtemp(prefix="tensorc-triton-"))
    except OSError as err:
        from tensorc.errors import BackendError

        raise BackendError(
            f"cannot create a directory for Triton modules in {tempfile.gettempdir()}: "
            f"{err.strerror}",
            hint="set TMPDIR to a writable directory, or TENSORC_CACHE_DIR to a private one",
        ) from None
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def cache_dir() -> Path:
    """The directory generated modules go to."""
    return store.private_dir("triton") or _private_tmp()


def source_path(source: str) -> Path:
    """Write `source` (once) to `<dir>/tc_<sha256>.py`; return the path. A cache directory that
    refuses the write (read-only, full) gives a warning and the private temporary directory."""
    name = f"tc_{hashlib.sha256(source.encode()).hexdigest()}.py"
    path = cache_dir() / name
    if _SOURCES.get(str(path)) == source or _written(path, source):
        return path
    if path.parent != _private_tmp():
        from tensorc.errors import warn

        warn(
            f"cannot write the Triton module {path}; using a private temporary directory",
            hint="make the cache directory writable, or set TENSORC_CACHE_DIR",
        )
        path = _private_tmp() / name
        if _written(path, source):
            return path
    from tensorc.errors import BackendError

    raise BackendError(
        f"cannot write the Triton module {path}",
        hint="free some space in the temporary directory, or set TMPDIR",
    )


def _written(path: Path, source: str) -> bool:
    """`path` holds `source` (checked, or written now); remembered as this process's text."""
    data = trust.read_private(path)
    if data != source.encode() and not store.write_atomic(path, source.encode()):
        return False
    _SOURCES[str(path)] = source
    return True


def verified_source(path: Path) -> str:
    """The text of a generated module: as this process wrote it, else read from a trusted
    directory and matching the sha256 in its name (anything else raises `ImportError`)."""
    text = _SOURCES.get(str(path))
    if text is not None:
        return text
    m = _NAME.fullmatch(path.name)
    root = store.trusted_root()
    trusted = path.parent == _private_tmp() or (
        root is not None
        and path.parent == root / "triton"
        and not trust.chain_problem(root, path.parent)
    )
    data = trust.read_private(path) if m and trusted else None
    if data is None or hashlib.sha256(data).hexdigest() != m.group(1):
        raise ImportError(f"{path} is not a Triton module tensorc wrote (or it was changed)")
    text = _SOURCES[str(path)] = data.decode()
    return text


def load_module(path: str | os.PathLike, name: str) -> ModuleType:
    """A fresh module executed from the verified text of `path` (not put in `sys.modules`)."""
    path = Path(path)
    text = verified_source(path)
    # inspect (and so triton.jit) reads lines through linecache: give it this very text; an entry
    # without an mtime is never re-read from the file
    linecache.cache[str(path)] = (len(text), None, text.splitlines(True), str(path))
    mod = ModuleType(name)
    mod.__file__ = str(path)
    code = compile(text, str(path), "exec", dont_inherit=True)
    sys.modules[name] = mod  # triton.jit looks the module up while the body runs
    try:
        exec(code, mod.__dict__)  # noqa: S102 - the text tensorc wrote and verified
    finally:
        del sys.modules[name]
    return mod


def import_source(path: str | os.PathLike) -> ModuleType:
    """The generated module at `path`, loaded once per process (kept in `sys.modules`)."""
    path = Path(path)
    name = f"tensorc_triton_{path.stem}"
    mod = sys.modules.get(name)
    if mod is None:
        mod = load_module(path, name)
        sys.modules[name] = mod
    return mod
