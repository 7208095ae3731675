"""tensorc's benchmark harness: the workload suite side by side with what users would pick instead.

Run `python -m benchmarks --target cpu [--quick]`; see benchmarks/README.md.
"""

import os as _os

# OpenBLAS (numpy's and torch's BLAS here) keeps its threads spinning for a while after each call.
# On a 2-core machine those spinning threads take the cores from whatever is timed next (measured:
# the spelling right after numpy's MLP 13.3 ms instead of 7.6 ms). A short spin keeps comparators
# from slowing each other; set OPENBLAS_THREAD_TIMEOUT yourself to override.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
