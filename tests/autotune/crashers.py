"""Candidate runners for the isolation tests (imported by the tuner's worker process by name):
candidate 1 segfaults, candidate 2 hangs, the others run normally."""

from __future__ import annotations

import ctypes
import time

from tensorc.autotune.worker import run_candidate


def crash_one_hang_two(job, fn=None):
    if job.index == 1:
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    if job.index == 2:
        time.sleep(3600)
    return run_candidate(job, fn)
