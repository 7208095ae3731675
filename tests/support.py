"""Test plumbing shared by the example and TC-program suites (tests/ is on sys.path via conftest).

- `load_sibling`: import a helper module next to a test file under a unique name (the test folders
  are not packages and share basenames such as `cases`).
- `require_backend`: skip, with the reason, when a backend cannot run here (never silently).
- `compiled`: `tensorc.load` once per (file, backend).
- `attention_source`, `attention_inputs`: the blocked-attention defs (causal, full, strict, band)
  and their q, k, v (tests/schedule and tests/backends/llvm).
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
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


_ATTENTION = """
def {name}(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {{
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e){mask}
}}"""
_MASKS = {"causal": "  where j <= i", "full": "", "strict": "  where j < i",
          "band": "  where abs(i - j) <= {width}"}  # fmt: skip


def attention_source(band_width: int) -> str:
    """Defs `causal`, `full`, `strict` (j < i: row 0 sees nothing) and `band` (|i - j| <= width)."""
    masks = {name: mask.format(width=band_width) for name, mask in _MASKS.items()}
    return "".join(_ATTENTION.format(name=n, mask=m) for n, m in masks.items()) + "\n"


def attention_inputs(sizes: dict, rng: np.random.Generator, amp: float = 1.0):
    """float32 q (times `amp`), k, v for the defs of `attention_source`."""
    b, h, n, m, d, e = (sizes[x] for x in "BHNMDE")
    q = (amp * rng.standard_normal((b, h, n, d))).astype(np.float32)
    k = rng.standard_normal((b, h, m, d)).astype(np.float32)
    v = rng.standard_normal((b, h, m, e)).astype(np.float32)
    return q, k, v
