"""The ETA of make bench: each kind of work at the pace it has shown, the rest at its default."""

from __future__ import annotations

import pytest

from bench.progress import Progress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("bench.progress.time.perf_counter", fake)
    return fake


def test_a_kind_not_yet_seen_is_planned_at_its_default(clock, capsys):
    progress = Progress({"prepare": 2, "k6": 100}, {"prepare": 10.0, "k6": 1.0})
    assert progress.left_s() == 2 * 10 + 100 * 1


def test_each_kind_goes_at_the_pace_it_has_shown(clock, capsys):
    progress = Progress({"prepare": 2, "k6": 100}, {"prepare": 10.0, "k6": 1.0})
    clock.now += 30
    progress.advance(1, "01 database ready", kind="prepare")
    # One preparation took 30 s: the other is planned at 30 s, k6 still at its default.
    assert progress.left_s() == 30 + 100
    clock.now += 80
    progress.advance(40, "01 list")
    assert progress.left_s() == 30 + 60 * 2.0
    assert "ETA 2:30" in capsys.readouterr().out.splitlines()[-1]


def test_a_slow_set_up_does_not_slow_the_plan_of_the_scenarios(clock, capsys):
    # The old ETA scaled everything left by elapsed / planned: a first seeding that the
    # plan did not count made every scenario look twice as slow.
    progress = Progress({"seed": 1, "k6": 100}, {"seed": 1.0, "k6": 1.0})
    clock.now += 300
    progress.advance(1, "data set ready", kind="seed")
    assert progress.left_s() == 100


def test_the_time_by_kind_is_said_at_the_end(clock, capsys):
    progress = Progress({"seed": 1, "boot": 1, "k6": 10}, {"seed": 1.0, "boot": 1.0})
    clock.now += 65
    progress.advance(1, "data set ready", kind="seed")
    clock.now += 5
    progress.advance(1, "served", kind="boot")
    assert progress.spending() == "seed 1:05, boot 0:05"


def test_a_replan_counts_only_what_is_left(clock, capsys):
    progress = Progress({"k6": 100}, {"k6": 1.0})
    clock.now += 80
    progress.advance(40, "01 list")
    progress.replan({"k6": 20})
    assert progress.left_s() == 20 * 2.0
