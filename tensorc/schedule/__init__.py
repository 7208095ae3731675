"""Schedules as data and the lowering they drive: `lower(def_, schedule) -> LoopProgram`."""

from __future__ import annotations

from tensorc.errors import ScheduleError
from tensorc.schedule.lower import lower
from tensorc.schedule.schedule import Schedule, default_schedule, space, validate

__all__ = ["Schedule", "ScheduleError", "default_schedule", "lower", "space", "validate"]
