"""Which untimed extras each step of a run measures (DETAILS=1, make bench-full)."""

from __future__ import annotations

from bench import steps, untimed


def firsts(selected: list[steps.Step], extra: str) -> list[str]:
    return [step.slug for step in selected if extra in untimed.extras_of(step, selected)]


def test_every_step_runs_its_micro_benchmarks_and_test_times():
    present = steps.discover()
    for extra in ("micro", "timed"):
        assert firsts(present, extra) == [step.slug for step in present]


def test_a_road_not_taken_is_measured_on_the_first_step_that_takes_the_road():
    present = steps.discover()
    cursor = [step.slug for step in present if step.pagination == "cursor"]
    fulltext = [step.slug for step in present if step.search == "fulltext"]
    assert firsts(present, "ninja") == cursor[:1]
    assert firsts(present, "roads") == fulltext[:1]
    # Measured on whichever step comes first in the run, so a run of late steps has them.
    late = [step for step in present if step.slug in fulltext]
    assert firsts(late, "ninja") == firsts(late, "roads") == fulltext[:1]


def test_every_cursor_step_probes_its_filters_under_every_ordering():
    present = steps.discover()
    cursor = [step.slug for step in present if step.pagination == "cursor"]
    assert cursor
    assert firsts(present, "orderings") == cursor
