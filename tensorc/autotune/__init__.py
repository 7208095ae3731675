"""Autotuning: `tensorc.tune(fn, *args)` searches schedules and backend configs (see tuner.py)."""

from tensorc.autotune.records import Candidate
from tensorc.autotune.tuner import Trial, TuneResult, candidates, lookup, tune

__all__ = ["Candidate", "Trial", "TuneResult", "candidates", "lookup", "tune"]
