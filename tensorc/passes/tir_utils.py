"""Moved to `tensorc.ir.tir_utils` (TensorIR helpers live with the IR); this name is kept for
callers outside passes/ and schedule/."""

from __future__ import annotations

from tensorc.ir.tir_utils import *
from tensorc.ir.tir_utils import __all__  # noqa: F401
