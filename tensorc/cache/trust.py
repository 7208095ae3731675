"""Who may have written a cache file: only the current user.

A file in the cache is machine code, a pickle or Python source that tensorc runs, so anyone who can
write it can run code as the user. The rule: every directory from the cache root down to a file,
and the file itself, is owned by the current user and not writable by group or others (and is not
a symbolic link). Directories tensorc creates are 0700 and files 0600. A root that breaks the rule
(a shared, restored or world-writable cache) is not read at all: the store warns once and keeps
this process's entries in memory (see store.py).

On systems without POSIX owners (Windows) every path is trusted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
_UNSAFE_BITS = stat.S_IWGRP | stat.S_IWOTH


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def problem(st: os.stat_result, path: Path, want_dir: bool) -> str:
    """'' when `st` (an lstat of `path`) passes the rule, else why not, in words."""
    if want_dir and not stat.S_ISDIR(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        return f"{path} is {kind}"
    if not want_dir and not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file"
    uid = _uid()
    if uid is not None and st.st_uid != uid:
        return f"{path} is owned by uid {st.st_uid}, not by you (uid {uid})"
    if uid is not None and st.st_mode & _UNSAFE_BITS:
        return f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return ""


def chain_problem(root: Path, directory: Path) -> str:
    """'' when `root` and every directory below it down to `directory` pass the rule."""
    try:
        rel = directory.relative_to(root)
    except ValueError:
        return f"{directory} is not inside the cache root {root}"
    path = root
    for part in ("", *rel.parts):
        path = path / part if part else path
        try:
            st = os.lstat(path)
        except OSError as err:
            return f"{path}: {err.strerror}"
        why = problem(st, path, want_dir=True)
        if why:
            return why
    return ""


def make_private_dirs(root: Path, directory: Path) -> str:
    """Create `directory` (and `root`) where missing, each level 0700; then check the chain.
    '' on success, else why the chain is not private (or cannot be created)."""
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        path = root
        for part in ("", *directory.relative_to(root).parts):
            path = path / part if part else path
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError:
                pass
    except ValueError:
        return f"{directory} is not inside the cache root {root}"
    except OSError as err:
        return f"cannot create {path}: {err.strerror}"
    return chain_problem(root, directory)


def read_private(path: Path) -> bytes | None:
    """The bytes of `path` when it passes the rule (checked on the open file, never through a
    link), else None. The caller has checked the directories above it."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        if problem(os.fstat(fd), path, want_dir=False):
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read()
        if os.utime in os.supports_fd:  # the file's mtime is its last use (LRU eviction)
            try:
                os.utime(fd)
            except OSError:
                pass
        return data
    except OSError:
        return None
    finally:
        os.close(fd)
