"""Write generated Triton source to the on-disk cache and import it.

`triton.jit` reads a kernel's source with `inspect`, so the module must be a real file: it is
written to `$TENSORC_CACHE_DIR` (else the platformdirs user cache) + `/tensorc/triton`, named by the
sha256 of its text, atomically (temp file + `os.replace`), and stays there for people to read.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from tensorc import knobs


def cache_dir() -> Path:
    """The directory generated modules live in (created on demand)."""
    # Triton's jit reads kernel source from a real file, so even with the cache "off" the
    # generated modules need a directory: a private temporary one then.
    root = knobs.cache_root()
    base = (root if root is not None else Path(tempfile.gettempdir()) / "tensorc") / "triton"
    base.mkdir(parents=True, exist_ok=True)
    return base


def source_path(source: str) -> Path:
    """Write `source` (once) to `<cache>/<sha256>.py`; return the path."""
    digest = hashlib.sha256(source.encode()).hexdigest()
    path = cache_dir() / f"tc_{digest}.py"
    if not path.exists() or path.read_text() != source:  # a torn or foreign file is rewritten
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp_", suffix=".py")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(source)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    return path


def import_source(path: str | os.PathLike) -> ModuleType:
    """Import a generated module from its file (cached per path in `sys.modules`)."""
    path = Path(path)
    name = f"tensorc_triton_{path.stem}"
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod
