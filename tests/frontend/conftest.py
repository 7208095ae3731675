"""Front-end tests import only tensorc.frontend / tensorc.ir / tensorc.errors.

If the top-level `tensorc/__init__.py` cannot be imported yet (other packages mid-construction, or
the tree not installed so `tensorc.backends` is missing), fall back to a bare namespace package so
these tests still exercise the front end.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

try:
    import tensorc  # noqa: F401
except Exception:  # noqa: BLE001 - only the package's optional top level is skipped
    for name in [m for m in sys.modules if m == "tensorc" or m.startswith("tensorc.")]:
        del sys.modules[name]
    pkg = types.ModuleType("tensorc")
    pkg.__path__ = [str(Path(__file__).resolve().parents[2] / "tensorc")]
    sys.modules["tensorc"] = pkg

sys.path.insert(0, str(Path(__file__).resolve().parent))
