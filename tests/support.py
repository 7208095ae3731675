"""Test plumbing shared by the example and TC-program suites (tests/ is on sys.path via conftest).

- `load_sibling`: import a helper module next to a test file under a unique name (the test folders
  are not packages and share basenames such as `cases`).
- `require_backend`: skip, with the reason, when a backend cannot run here (never silently).
- `compiled`: `tensorc.load` once per (file, backend).
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

import tensorc

BACKENDS = ["interp", "loops", "cpu"]
_modules: dict[tuple[str, str], object] = {}


def load_sibling(test_file: str, name: str):
    here = pathlib.Path(test_file).resolve().parent
    spec = importlib.util.spec_from_file_location(
        f"tensorc_tests_{here.name}_{name}", here / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def require_backend(backend: str) -> None:
    if not tensorc.backends.get_backend(backend).available():
        pytest.skip(f"backend {backend!r} is not available on this machine")


def compiled(path: pathlib.Path, backend: str):
    key = (str(path), backend)
    if key not in _modules:
        _modules[key] = tensorc.load(str(path), backend=backend)
    return _modules[key]
