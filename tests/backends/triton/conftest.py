"""Triton backend tests run on CPU through the interpreter: set TRITON_INTERPRET before triton loads."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")


def _ensure_backends_package() -> None:
    """Map `tensorc.backends` to the repo's `backends/` when tensorc is not pip-installed."""
    try:
        import tensorc.backends  # noqa: F401

        return
    except ImportError:
        pass
    root = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location(
        "tensorc.backends",
        root / "backends" / "__init__.py",
        submodule_search_locations=[str(root / "backends")],
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tensorc.backends"] = mod
    spec.loader.exec_module(mod)


_ensure_backends_package()


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
