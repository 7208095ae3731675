"""Schedules are frozen, hashable, JSON round-trippable data; illegal ones raise ScheduleError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "passes"))
import pass_workloads as W

from tensorc.errors import ScheduleError
from tensorc.schedule import Schedule, default_schedule, lower, space, validate


def test_json_round_trip_and_hash():
    s = Schedule(tiles=(("i", 64), ("j", 32)), order=("i", "e"), specialise=(("D", 3),), gram_rewrite=True)
    t = Schedule.from_json(s.to_json())
    assert t == s and hash(t) == hash(s)
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tiles = ()  # frozen


@pytest.mark.parametrize(
    "bad",
    [
        Schedule(target="tpu"),
        Schedule(tiles=(("i", -1),)),
        Schedule(split_j=-1),
        Schedule(vector_width=3),
        Schedule(order=("i", "i")),
    ],
)
def test_illegal_schedules(bad):
    with pytest.raises(ScheduleError):
        validate(bad)


def test_specialise_unknown_size():
    def_, _ = W.w1()
    with pytest.raises(ScheduleError):
        lower(def_, Schedule(specialise=(("Q", 3),)))
    with pytest.raises(ScheduleError):
        Schedule.from_json('{"nope": 1}')


def test_default_schedule_heuristics():
    def_, _ = W.rbf_gram()
    assert default_schedule(def_, "cpu", {"N": 100, "D": 64}).gram_rewrite
    assert not default_schedule(def_, "cpu", {"N": 100, "D": 3}).gram_rewrite
    s = default_schedule(W.w1()[0], "cpu", {"N": 1000, "M": 1000, "D": 3, "E": 1})
    assert dict(s.specialise) == {"D": 3, "E": 1}
    assert default_schedule(W.w1()[0], "gpu").tiles


def test_space_is_legal():
    for make in (W.w1, W.w4, W.tucker, W.rbf_gram):
        def_, _ = make()
        sp = space(def_, "cpu", None)
        assert sp[0] == default_schedule(def_, "cpu", None)
        assert len(set(sp)) == len(sp) >= 3
        for s in sp:
            validate(s, def_)
