"""The whole `make bench` pipeline, small and short: real PostgreSQL, real servers, real k6.

Two steps (the first and the last served as one server, so both servers run), a tiny
data set on its own database prefix, one second per scenario: every scenario once with
every extra, and one scenario twice, the steps, a fleet and the ceiling taking turns. It
proves the path and the result file, not any number's size.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from bench import (
    ceiling,
    controls,
    database,
    journal,
    probe,
    report,
    results,
    run,
    serve,
    steps,
    untimed,
    workload,
)

CUSTOMERS = 3_000
SEED = 5
PREFIX = "crm_smoke"
REPEATS = 2


PRESENT = steps.discover()
# The first step, and the one the ceiling sends the SQL of: the last served as one server.
ENDS = list(dict.fromkeys([PRESENT[0], ceiling.step_of(PRESENT)]))
# With the last step too where it runs as a fleet behind HAProxy and PgBouncer.
WITH_FLEET = list(dict.fromkeys([*ENDS, PRESENT[-1]]))


def pipeline(
    directory,
    scenarios: list[str],
    repeats: int,
    details: bool,
    with_controls: bool = False,
    chosen: list[steps.Step] = ENDS,
) -> dict:
    settings = run.Settings(
        vus=2,
        duration_s=1,
        warmup_s=1,
        open_rate=10,
        max_vus=8,
        scenarios=scenarios,
        repeats=repeats,
        details=details,
        controls=with_controls,
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        path = run.run(chosen, CUSTOMERS, SEED, settings, prefix=PREFIX, directory=directory)
        run.finish(path, media=directory / "media")
    print(printed.getvalue())
    return {**results.load(path), "printed": printed.getvalue()}


@pytest.fixture(scope="module")
def measured(servers, tmp_path_factory) -> dict:
    """Every scenario once, with every extra and the controls."""
    return pipeline(
        tmp_path_factory.mktemp("results"), [*workload.SCENARIOS, workload.OPEN], 1, True, True
    )


@pytest.fixture(scope="module")
def repeated(servers, tmp_path_factory) -> dict:
    """One scenario the ceiling also runs, REPEATS times, without the extras."""
    return pipeline(
        tmp_path_factory.mktemp("repeated"), ["list"], REPEATS, False, chosen=WITH_FLEET
    )


def test_the_steps_take_turns_repeat_after_repeat(repeated):
    warmed = re.findall(
        r"\[bench\] (\S+) \(\d+/\d+, repeat (\d+)/\d+\) warmed up", repeated["printed"]
    )
    slugs = [step["slug"] for step in repeated["steps"]]
    assert warmed == [(slug, str(n)) for n in range(1, REPEATS + 1) for slug in slugs]


def test_each_step_is_probed_right_after_its_last_round(repeated):
    last_round = rf"repeat {REPEATS}/{REPEATS}\) warmed up"
    events = re.findall(
        rf"\[bench\] (\S+) \(\d+/\d+(?:, {last_round}|\) (probed))", repeated["printed"]
    )
    slugs = [step["slug"] for step in repeated["steps"]]
    assert events == [event for slug in slugs for event in ((slug, ""), (slug, "probed"))]


def test_without_the_extras_a_step_is_probed_for_its_queries_only(repeated):
    """A quick run's table needs queries per request; deep pages and thread hops are
    extras, as the micro-benchmarks are."""
    for step in repeated["steps"]:
        assert step["deep_pages"] is step["filtered_pages"] is None, step["slug"]
        assert step["microbenchmarks"] == [], step["slug"]
        for name, scenario in step["scenarios"].items():
            assert scenario["queries_per_request"] > 0, (step["slug"], name)
            assert scenario.get("thread_hops") is None, (step["slug"], name)


def test_every_repeat_is_kept_and_the_medians_shown(repeated):
    assert repeated["k6"]["repeats"] == REPEATS
    for step in repeated["steps"]:
        for name, scenario in step["scenarios"].items():
            kept = scenario["repeats"]
            assert len(kept) == REPEATS, (step["slug"], name)
            assert scenario["requests"] == sum(r["requests"] for r in kept)
            low, high = report.spread(scenario)
            assert low <= scenario["requests_per_second"] <= high


def test_the_result_file_validates_and_names_its_run(measured):
    assert (measured["dataset"]["customers"], measured["dataset"]["seed"]) == (CUSTOMERS, SEED)
    shape = measured["dataset"]["distribution"]
    assert sum(shape["gender"].values()) == pytest.approx(1, abs=0.001)
    assert shape["customers_per_address"] > 1
    assert measured["versions"]["k6"].startswith("v1.")
    assert measured["versions"]["postgresql"]
    assert "shared_buffers" in measured["postgresql"]["settings"]
    assert len(measured["run"]["git_revision"]) == 40


def test_every_scenario_ran_without_errors(measured):
    for step in measured["steps"]:
        assert set(step["scenarios"]) == {*workload.SCENARIOS, workload.OPEN}
        for name, scenario in step["scenarios"].items():
            where = (step["slug"], name)
            assert scenario["requests"] > 0, where
            assert scenario["requests_per_second"] > 0, where
            assert scenario["latency_ms"]["p95"] > 0, where
            assert scenario["errors"] == 0, where
            assert scenario["error_kinds"] == dict.fromkeys(workload.ERROR_KINDS, 0), where


def test_every_scenario_says_where_its_cpu_went(measured, servers):
    """The app's and k6's CPU always; PostgreSQL's when the harness runs it. Step 01
    caches nothing, so every request it answers costs PostgreSQL some CPU."""
    for step in measured["steps"]:
        for name, scenario in step["scenarios"].items():
            spent = scenario["cpu_ms_per_request"]
            where = (step["slug"], name, spent)
            assert spent["app"] > 0, where
            assert spent["k6"] > 0, where
            assert [run["cpu_ms_per_request"] for run in scenario["repeats"]] == [spent]
            if not servers.embedded_postgres:
                assert spent["postgresql"] is None
            elif step["number"] == 1:
                assert spent["postgresql"] > 0, where
            if step["number"] == 1:
                # Step 01 uses no Redis: the embedded one idling is not its cost.
                assert spent["redis"] is None, where


def test_the_probe_pass_counted_queries_and_kept_plans(measured):
    for step in measured["steps"]:
        for name, scenario in step["scenarios"].items():
            if name.startswith("mixed"):
                assert scenario["queries_per_request"] is None
                continue
            where = (step["slug"], name)
            assert scenario["queries_per_request"] >= 1, where
            main, kept = scenario["main_query"], scenario["probe"]
            assert main["time_ms"] > 0, where
            assert main["request_time_ms"] >= main["time_ms"], where
            # The slowest request is one of those probed, and took the time it says.
            times = [sum(ms for _, ms in r["queries"]) for r in kept["requests"]]
            assert max(times) == pytest.approx(main["request_time_ms"], abs=0.01), where
            if name != "write":
                assert main["plan"]["Node Type"], where
                assert "Plan" not in main["plan"]


def test_an_async_step_counts_its_thread_hops_and_a_sync_one_has_none(measured):
    for step in measured["steps"]:
        for name, scenario in step["scenarios"].items():
            hops = scenario.get("thread_hops")
            if step["server"] == "gunicorn" or name.startswith("mixed"):
                assert hops is None, (step["slug"], name)
                continue
            # A miss queries, on a thread; the last step caches, and a hit never hops.
            assert hops["miss"] >= 1, (step["slug"], name)
            assert hops["miss_named"], (step["slug"], name)
            assert hops["hit"] in (None, 0), (step["slug"], name)


def test_the_controls_of_the_measured_steps_run_every_scenario(measured):
    measured_slugs = {step["slug"] for step in measured["steps"]}
    wanted = [c for c in controls.declared(steps.discover()) if c.step.slug in measured_slugs]
    found = {control["slug"]: control for control in measured["controls"]}
    assert set(found) == {control.slug for control in wanted}
    for control in wanted:
        entry = found[control.slug]
        assert entry["step"] == control.step.slug
        assert entry["server"] == control.server
        assert set(entry["scenarios"]) == set(measured["k6"]["scenarios"])
        assert all(s["errors"] == 0 for s in entry["scenarios"].values()), control.slug
    # Its settings are read as its server reads them: 01-persistent keeps connections.
    if "01-persistent" in found:
        assert found["01-persistent"]["database"]["conn_max_age"] == 600


def test_micro_benchmarks_and_server_facts_are_recorded(measured):
    for step in measured["steps"]:
        assert step["microbenchmarks"]
        assert all(b["mean_s"] > 0 for b in step["microbenchmarks"])
        assert step["packages"]["django"]
        assert step["workers"] >= 1
    servers = {step["server"] for step in measured["steps"]}
    if len(measured["steps"]) > 1:
        assert servers == {"gunicorn", "uvicorn"}


def test_a_fleet_counts_its_instances_and_the_proxies_cpu(repeated):
    for step in repeated["steps"]:
        served = steps.select(step["slug"])
        spent = step["scenarios"]["list"]["cpu_ms_per_request"]
        if served.fleet:
            assert step["instances"] == step["workers"] == served.instances
            assert spent["proxies"] > 0, step["slug"]
        else:
            assert "instances" not in step
            assert spent["proxies"] is None, step["slug"]


def test_the_test_files_a_step_names_are_timed(measured):
    for step in measured["steps"]:
        named = steps.select(step["slug"]).timed_tests
        timed = step["test_times"]
        assert (timed is not None) == bool(named), step["slug"]
        for entry, name in zip(timed or [], named, strict=True):
            assert entry["file"] == name
            assert entry["tests"] > 0
            assert entry["seconds"] > 0


def test_charts_come_from_the_result(measured, tmp_path):
    written = report.charts(measured, tmp_path)
    assert all(path.stat().st_size > 1000 for path in written)


def test_a_step_started_elsewhere_is_measured_without_touching_latest(servers, tmp_path):
    """compose.yml's k6 profile: the step runs in its container, the harness only measures."""
    step = steps.discover()[-1]
    url = database.prepare_step(servers.database_url, step, CUSTOMERS, SEED, PREFIX)
    settings = run.Settings(
        vus=2, duration_s=1, warmup_s=1, open_rate=5, max_vus=4, scenarios=["list", "write"]
    )
    with serve.running(step, url, servers.redis_url) as base_url:
        path = run.measure_running(step, base_url, settings, tmp_path, url=url)
    assert "latest" not in results.names(tmp_path)
    measured = results.load(path)
    (only,) = measured["steps"]
    assert only["slug"] == step.slug
    assert measured["dataset"]["customers"] == CUSTOMERS
    for scenario in only["scenarios"].values():
        assert scenario["requests"] > 0
        assert scenario["errors"] == 0
        assert scenario["queries_per_request"] is None
        # Not the harness's server: its CPU is not read, k6's is.
        assert scenario["cpu_ms_per_request"]["app"] is None
        assert scenario["cpu_ms_per_request"]["k6"] > 0


def extras(found: dict) -> dict[str, set[str]]:
    """The extras each step of the run was to measure (untimed.extras_of)."""
    slugs = {step["slug"] for step in found["steps"]}
    chosen = [step for step in steps.discover() if step.slug in slugs]
    return {step.slug: untimed.extras_of(step, chosen) for step in chosen}


def test_deep_pages_and_ninja_cursor_are_recorded(measured):
    orderings = {f"{sign}{key}" for key in probe.ORDERINGS for sign in ("", "-")}
    for step in measured["steps"]:
        deep = step["deep_pages"]
        assert set(deep) == orderings, step["slug"]
        for entry in deep.values():
            assert entry["first"]["buffers"] > 0
            assert entry["deep"]["time_ms"] > 0
            assert entry["deep"]["buffers"] > 0
            assert entry["page"] == probe.DEEP_PAGE
        assert (step["ninja_cursor"] is not None) == ("ninja" in extras(measured)[step["slug"]])


def test_a_cursor_steps_filtered_listings_are_walked_deep(measured):
    """At this size a filter's listing ends before page 50: the walk records where."""
    terms = json.loads(database.terms_path(database.base_fingerprint(CUSTOMERS, SEED)).read_text())
    for step in measured["steps"]:
        filtered = step["filtered_pages"]
        if step["pagination"] == "page":
            assert filtered is None, step["slug"]
            continue
        assert set(filtered) == set(probe.filtered_listings(terms)), step["slug"]
        for entry in filtered.values():
            assert entry["first"]["buffers"] > 0
            assert entry["deep"]["buffers"] > 0
            assert 1 <= entry["page"] < probe.DEEP_PAGE
        assert max(entry["page"] for entry in filtered.values()) > 1, step["slug"]


def test_the_full_text_roads_not_taken_are_measured(measured):
    for step in measured["steps"]:
        found = step["fulltext"]
        assert (found is not None) == ("roads" in extras(measured)[step["slug"]]), step["slug"]
        if found is None:
            continue
        assert found["index_bytes"] > 0
        assert found["trigram"]["index_bytes"] > 0
        kinds = {entry["kind"]: entry for entry in found["terms"]}
        assert set(kinds) == {"selective", "broad", "inside a word"}
        assert kinds["selective"]["matches"] >= 1
        # Only a substring search finds the inside of a word; the vector holds whole words.
        assert kinds["inside a word"]["matches"] == 0
        assert kinds["inside a word"]["trigram_matches"] > 0
        for entry in found["terms"]:
            for way in ("page", "ranked", "trigram"):
                assert entry[way]["time_ms"] > 0, (entry["term"], way)
                assert entry[way]["outline"], (entry["term"], way)


def test_the_ceiling_runs_every_scenario_it_has(measured):
    found = measured["ceiling"]
    assert found["step"] == measured["steps"][-1]["slug"]
    assert list(found["scenarios"]) == [n for n in workload.SCENARIOS if n in ceiling.SCENARIOS]
    for name, scenario in found["scenarios"].items():
        assert scenario["errors"] == 0, name
        assert scenario["requests"] > 0, name
    assert "share of the ceiling" in measured["printed"]


def test_the_ceiling_took_its_turn_in_every_round(repeated):
    (scenario,) = repeated["ceiling"]["scenarios"].values()
    assert len(scenario["repeats"]) == REPEATS
    turns = re.findall(r"\[bench\] ceiling \(repeat (\d+)/\d+\) warmed up", repeated["printed"])
    assert turns == [str(n) for n in range(1, REPEATS + 1)]


def test_a_run_says_where_its_time_went(measured, repeated):
    for found in (measured, repeated):
        assert set(found["run"]["spent_s"]) == {"seed", "prepare", "boot", "k6", "probe"}
        assert "[bench] time by kind: seed " in found["printed"]


def test_a_finished_run_leaves_no_journal_and_counts_one_sitting(measured):
    assert measured["run"]["sittings"] == 1
    assert not list(journal.DIRECTORY.glob("run-*.json"))


def test_a_cursor_step_probes_every_filter_under_every_ordering(measured):
    terms = json.loads(database.terms_path(database.base_fingerprint(CUSTOMERS, SEED)).read_text())
    for step in measured["steps"]:
        found = step["filter_orderings"]
        if "orderings" not in extras(measured)[step["slug"]]:
            assert found is None, step["slug"]
            continue
        assert found["pages"] == len(probe.filter_orderings(terms)), step["slug"]
        slowest = [page["time_ms"] for page in found["slowest"]]
        assert slowest == sorted(slowest, reverse=True)
        assert slowest[-1] >= found["median_ms"] > 0, step["slug"]
        assert {page["path"].rsplit("ordering=", 1)[1] for page in found["slowest"]} <= {
            f"{sign}{key}" for key in probe.ORDERINGS for sign in ("", "-")
        }
