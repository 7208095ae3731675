"""Make `tensorc.backends` importable from a source checkout that is not pip-installed.

pyproject maps `tensorc.backends` -> `backends/`; without an (editable) install we alias it here.
"""

from __future__ import annotations

import importlib
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HERE = os.path.dirname(__file__)
for p in (ROOT, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

try:
    importlib.import_module("tensorc.backends.llvm")
except ImportError:
    sys.modules["tensorc.backends"] = importlib.import_module("backends")
