"""tensorc: einsum-style tensor equations compiled to fused CPU (LLVM) and GPU (Triton) kernels.

    >>> import tensorc, numpy as np
    >>> mod = tensorc.compile('''
    ... def gram(float(N,D) x) -> (g) { g(i,j) = x(i,d) * x(j,d) }
    ... ''')
    >>> g = mod.gram(np.random.rand(100, 3).astype(np.float32))

Front ends: `compile` / `load` (.tc source), `einsum` / `einsum_path` (numpy's semantics and
signature), `jit` (decorator). Errors are `TensorcError`s and also the builtin a Python user
catches (`ValueError` for shapes and subscripts, `TypeError` for dtypes and argument types).
`tune(fn, *args)` searches schedules for one call's sizes and remembers the fastest correct one.
"""

from __future__ import annotations

import tensorc.explain  # noqa: F401 - loaded first, so its import never rebinds `explain` below
from tensorc.api import compile, einsum, einsum_path, explain, jit, load
from tensorc.autotune import tune
from tensorc.grad.api import grad  # after the package import: `tensorc.grad` is this function
from tensorc.backends import CHOICES as BACKENDS
from tensorc.errors import TensorcError, TensorcWarning

__all__ = [
    "BACKENDS", "TensorcError", "TensorcWarning", "compile", "einsum", "einsum_path", "explain", "grad", "jit", "load",
    "tune",
]
__version__ = "0.1.0"
