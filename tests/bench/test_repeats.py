"""make bench-full's repeats: a scenario whose first two runs agree (SPREAD) skips its
third, the run plans without it, and its figures are the median of the runs it had."""

from __future__ import annotations

import pytest

from bench import journal, progress, run, steps, workload

SETTINGS = run.Settings(
    vus=8,
    duration_s=10,
    warmup_s=5,
    open_rate=20,
    max_vus=64,
    scenarios=["list", "search"],
    repeats=3,
    spread=0.1,
    ceiling=False,
)


def measured(rps: float, p95: float) -> dict:
    latency = {"avg": p95 / 2, "p50": p95 / 2, "p95": p95, "p99": p95, "max": p95}
    return {
        "model": "closed",
        "duration_s": 10,
        "requests": int(rps * 10),
        "requests_per_second": rps,
        "latency_ms": latency,
        "error_rate": 0.0,
        "errors": 0,
        "dropped_iterations": 0,
        "cache_hit_ratio": None,
    }


@pytest.fixture
def sitting(tmp_path, monkeypatch) -> run.Sitting:
    monkeypatch.setattr(journal, "DIRECTORY", tmp_path)
    first = steps.discover()[:1]
    kept = journal.Journal.open({"steps": [first[0].slug], "settings": {"repeats": 3}})
    found = run.Sitting(first, 1000, 1, SETTINGS, "crm_test", None, kept)
    found.progress = progress.Progress(found.plan())
    return found


def test_spread_is_the_wider_of_the_throughput_and_p95_ranges():
    assert workload.spread([measured(100, 50), measured(95, 50)]) == pytest.approx(5 / 97.5)
    assert workload.spread([measured(100, 50), measured(100, 60)]) == pytest.approx(10 / 55)


def test_only_the_scenarios_whose_runs_disagree_are_run_a_third_time(sitting):
    slug = sitting.selected[0].slug
    for repeat in (1, 2):
        sitting.kept.keep_cell(slug, "list", repeat, measured(100 + repeat, 50))
        sitting.kept.keep_cell(slug, "search", repeat, measured(10 * repeat, 500))
    assert sitting.todo(slug, 3) == ["search"]
    scenario = sitting.scenarios_of(slug, ["list"])["list"]
    assert len(scenario["repeats"]) == 2
    assert scenario["requests_per_second"] == pytest.approx(101.5)


def test_a_third_run_is_needed_until_both_earlier_ones_are_kept(sitting):
    slug = sitting.selected[0].slug
    sitting.kept.keep_cell(slug, "list", 1, measured(100, 50))
    assert sitting.todo(slug, 3) == ["list", "search"]


def test_without_spread_every_repeat_runs(sitting):
    slug = sitting.selected[0].slug
    for repeat in (1, 2):
        sitting.kept.keep_cell(slug, "list", repeat, measured(100, 50))
    sitting.settings = run.Settings(**{**SETTINGS.__dict__, "spread": 0.0})
    assert sitting.todo(slug, 3) == ["list", "search"]


def test_the_plan_drops_the_third_runs_no_longer_needed(sitting):
    slug = sitting.selected[0].slug
    planned = sitting.plan()["k6"]
    for repeat in (1, 2):
        for name in SETTINGS.scenarios:
            sitting.kept.keep_cell(slug, name, repeat, measured(100, 50))
    # Both scenarios settled: the third round has nothing left for the step.
    assert sitting.plan()["k6"] == 0
    assert sitting.plan()["boot"] == 0
    assert planned == 3 * (SETTINGS.warmup_s + 2 * SETTINGS.duration_s)


def test_a_repeat_not_yet_decided_is_planned_as_likely_as_the_decided_ones(sitting):
    slug = sitting.selected[0].slug
    for repeat in (1, 2):
        sitting.kept.keep_cell(slug, "list", repeat, measured(100, 50))
    sitting.kept.keep_cell(slug, "search", 1, measured(10, 500))
    # The one decided third run was spared, so the undecided one is planned at nothing,
    # and so is the server it would need: round 2's search after its warm-up is left.
    assert sitting.still_needed() == 0
    warmup, duration = SETTINGS.warmup_s, SETTINGS.duration_s
    assert sitting.plan()["k6"] == warmup + duration
    assert sitting.plan()["boot"] == 1


def test_a_scenario_that_stopped_repeating_stays_stopped(sitting):
    sitting.settings = run.Settings(**{**SETTINGS.__dict__, "repeats": 4})
    slug = sitting.selected[0].slug
    for repeat in (1, 2):
        sitting.kept.keep_cell(slug, "list", repeat, measured(100, 50))
        sitting.kept.keep_cell(slug, "search", repeat, measured(10 * repeat, 500))
    sitting.kept.keep_cell(slug, "search", 3, measured(15, 500))
    assert sitting.todo(slug, 3) == []
    # list's third run never happened, and its fourth is not owed for that.
    assert sitting.todo(slug, 4) == ["search"]
    assert not sitting.undecided(slug, "list", 4)
    assert len(sitting.scenarios_of(slug, ["list"])["list"]["repeats"]) == 2


def test_what_the_servers_did_is_the_median_of_the_repeats_and_the_worst_lag():
    runs = [
        {
            **measured(100, 50),
            "queries_per_second_by_server": {"primary": primary, "replica": replica},
            "replica_lag_ms": {"median": median, "p95": p95, "max": most},
        }
        for primary, replica, median, p95, most in [
            (40, 300, 1.0, 4.0, 9.0),
            (60, 200, 3.0, 8.0, 120.0),
            (50, 250, 2.0, 6.0, 30.0),
        ]
    ]
    found = workload.combined(runs)
    assert found["queries_per_second_by_server"] == {"primary": 50, "replica": 250}
    assert found["replica_lag_ms"] == {"median": 2.0, "p95": 6.0, "max": 120.0}
    assert [r["replica_lag_ms"]["max"] for r in found["repeats"]] == [9.0, 120.0, 30.0]


def test_a_step_without_pgbouncer_has_no_server_figures():
    found = workload.combined([measured(100, 50), measured(90, 55)])
    assert "queries_per_second_by_server" not in found
    assert "replica_lag_ms" not in found
