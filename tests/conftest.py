"""Session-wide test setup.

Without a GPU, Triton kernels run through its CPU interpreter; the variable must be set before any
test imports triton, so it is set here, once, for the whole session.
"""

from __future__ import annotations

import os
import shutil

if shutil.which("nvidia-smi") is None:
    os.environ.setdefault("TRITON_INTERPRET", "1")
