"""LLVM backend tests import their LoopIR builders (loopbuild.py, workloads.py) from this folder."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(__file__)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
