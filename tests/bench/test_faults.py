"""make test-faults: its rules judged on calls made up here, then a short real run.

The real run is the short version CI runs: a cached step, which pools its connections
too, under every fault that applies to it for 3 s; 10 s of overload on a step without a
cache, whose every request reaches PostgreSQL; and a rolling restart of the first step
served as instances behind HAProxy. make test-faults runs every fault on every step.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import httpx
import psycopg
import pytest

from bench import faults, serve, steps
from bench.faults import Call, Load, Window, Written
from tests.conftest import need_installed
from tests.datasets import SMALL

# One second past the recovery rule: requests sent then are judged.
SHORT = faults.Settings(steady_s=2, outage_s=3, after_s=faults.RECOVERY_S + 1, overload_s=10)
CI_STEPS = ["04", "07"]
# The fault begins at 10 s and ends at 20 s.
WINDOW = Window(down=10.0, back=20.0, health=503)


def load_of(*calls: tuple[float, float, int | None]) -> Load:
    load = Load("http://unused", [])
    load.calls = [Call(started, ended, "detail", status) for started, ended, status in calls]
    return load


def judged(fault: str, *calls: tuple[float, float, int | None], window=WINDOW) -> list[str]:
    return faults.broken_rules(fault, faults.judge(fault, load_of(*calls), window, [], []))


def test_a_503_while_postgres_is_down_is_allowed_a_500_is_not():
    assert judged("outage", (12, 13, 503), (26, 26.1, 200)) == []
    assert judged("outage", (12, 13, 500)) == ["1 answer(s) were 5xx other than 503"]


def test_a_redis_fault_allows_no_503():
    assert judged("redis-paused", (12, 13, 503)) == ["1 answer(s) were 5xx"]


def test_a_request_slower_than_the_pool_timeout_during_a_fault_is_a_hang():
    (broken,) = judged("outage", (12, 12 + faults.POOL_TIMEOUT_S + faults.SLACK_S + 1, 503))
    assert "more than the pool's" in broken


def test_an_unanswered_request_is_reported():
    assert judged("killed", (12, 42, None))[0].startswith("1 request(s) got no answer")


def test_a_restarted_server_has_a_moment_a_killed_connection_has_none():
    failing_soon_after = (20.5, 20.6, 503)
    assert judged("outage", failing_soon_after) == []
    (broken,) = judged("killed", failing_soon_after)
    assert "started 0 s or more after the fault ended" in broken
    late = (20 + faults.RECOVERY_S + 1, 26.1, 503)
    assert judged("outage", late) == [
        "1 request(s) failed that started 5 s or more after the fault ended"
    ]


def test_health_must_answer_503_during_an_outage():
    up = Window(down=10.0, back=20.0, health=200)
    assert judged("outage", window=up) == ["health answered 200 with the database down"]


def test_what_fails_until_haproxy_takes_a_killed_instance_out_is_reported_not_judged():
    held, sent_as_it_died = (9.5, 10.2, 502), (11, 11.1, None)
    assert judged("instance-killed", held, sent_as_it_died, (12, 12.1, 200)) == []
    entry = faults.judge("instance-killed", load_of(held, sent_as_it_died), WINDOW, [], [])
    assert entry["failed_before_removed"] == 2
    assert entry["server_errors"] == entry["unanswered"] == 0
    # Ended before the kill: nothing to do with it.
    assert judged("instance-killed", (8, 9, 502)) == ["1 answer(s) were 5xx"]
    # A 500 of an instance still up is its own failure, killed neighbour or not.
    assert judged("instance-killed", (9.5, 10.2, 500)) == ["1 answer(s) were 5xx"]
    # Sent just before HAProxy took it out, answered after: still the instance's.
    assert judged("instance-killed", (19.9, 20.5, 502)) == []
    # Once HAProxy has taken the instance out, no request may fail.
    assert judged("instance-killed", (21, 21.1, 502)) == [
        "1 answer(s) were 5xx",
        "1 request(s) failed that started 0 s or more after the fault ended",
    ]


def test_a_rolling_restart_allows_no_failure_at_all():
    assert judged("rolling-restart", (12, 12.1, 200)) == []
    assert judged("rolling-restart", (12, 12.1, 503)) == ["1 answer(s) were 5xx"]


def test_pgbouncer_down_is_an_outage_to_the_app():
    assert judged("pgbouncer-restarted", (12, 13, 503), (26, 26.1, 200)) == []
    assert judged("pgbouncer-restarted", (12, 13, 500)) == ["1 answer(s) were 5xx other than 503"]
    (broken,) = judged("pgbouncer-restarted", window=Window(10.0, 20.0, health=200))
    assert broken == "health answered 200 with the database down"


def test_a_stopped_replica_allows_no_503_and_must_be_read_from_again():
    entry = faults.judge("replica-stopped", load_of((12, 13, 200)), WINDOW, [], [])
    assert faults.broken_rules("replica-stopped", {**entry, "replica_reads_after": 40}) == []
    assert faults.broken_rules("replica-stopped", {**entry, "replica_reads_after": 0}) == [
        "no read went to the replica once it was back"
    ]
    entry = faults.judge("replica-stopped", load_of((12, 13, 503)), WINDOW, [], [])
    assert "1 answer(s) were 5xx" in faults.broken_rules(
        "replica-stopped", {**entry, "replica_reads_after": 1}
    )


def test_a_client_reading_older_data_than_its_own_write_breaks_the_rules():
    load = load_of((12, 13, 200))
    load.stale_own_reads = ["SEEDED-7: read 'Renamed 3'"]
    entry = faults.judge("replica-lagging", load, WINDOW, [], [])
    assert faults.broken_rules("replica-lagging", entry) == [
        "a client read older data than its own write: SEEDED-7: read 'Renamed 3'"
    ]


def test_the_replica_faults_apply_to_the_steps_with_a_replica():
    for step in steps.discover():
        found = [f for f in faults.faults_for(step, list(faults.FAULTS)) if "replica" in f]
        assert found == (list(faults.REPLICA_FAULTS) if "replica" in step.services else [])


def test_the_fleet_faults_apply_to_the_steps_served_as_a_fleet():
    for step in steps.discover():
        fleet = [
            f for f in faults.faults_for(step, list(faults.FAULTS)) if f in faults.FLEET_FAULTS
        ]
        if "pgbouncer" in step.services:
            assert fleet == list(faults.FLEET_FAULTS), step.slug
        elif step.fleet:
            assert fleet == ["instance-killed", "rolling-restart"], step.slug
        else:
            assert fleet == [], step.slug


def test_settings_refuse_what_is_not_a_duration():
    with pytest.raises(SystemExit, match="not a number"):
        faults.Settings.from_env({"OUTAGE": "ten"})
    with pytest.raises(SystemExit, match="outside"):
        faults.Settings.from_env({"OUTAGE": "0"})
    assert faults.Settings.from_env({"OUTAGE": "3"}).outage_s == 3


def test_an_unknown_fault_is_a_clear_error():
    with pytest.raises(SystemExit, match="unknown fire; choose from outage"):
        faults.main({"FAULTS": "outage,fire"})


def test_a_lost_write_is_named_and_an_unsure_one_is_not_judged(servers):
    url = SMALL.step_url(servers.database_url, steps.select(CI_STEPS[0]))
    with psycopg.connect(url) as conn:
        (kept, name), (gone,) = (
            conn.execute("SELECT id, last_name FROM app_user ORDER BY id LIMIT 1").fetchone(),
            conn.execute("SELECT max(id) + 1 FROM app_user").fetchone(),
        )
    written = [
        Written("KEPT", id=kept, last_name=name),
        Written("LOST", id=gone),
        Written("UNSURE", id=gone, unsure=True),
        Written("STALE", id=kept, last_name=f"not {name}"),
        Written("UNDELETED", id=kept, deleted=True),
    ]
    assert faults.lost_writes(written, url) == [
        "LOST: created, not there",
        f"STALE: changed to 'not {name}', reads {name!r}",
        "UNDELETED: deleted, still there",
    ]


def embedded_only():
    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        pytest.skip("the faults stop the embedded PostgreSQL and Redis")


@pytest.fixture(scope="module")
def measured(servers):
    embedded_only()
    wanted = [fault for fault in faults.FAULTS if fault != faults.OVERLOAD]
    return faults.measure([steps.select(CI_STEPS[1])], wanted, SHORT)


def test_every_fault_that_applies_is_measured(measured):
    assert {slug: sorted(found) for slug, found in measured.items()} == {
        steps.select("07").slug: sorted(["killed", "outage", *faults.REDIS_FAULTS]),
    }


def test_the_result_file_holds_every_step_and_how_long_the_run_took(measured, tmp_path):
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    path = tmp_path / "reliability.json"
    faults.write(measured, SHORT, started, path)
    found = json.loads(path.read_text())
    assert set(found["steps"]) == set(measured)
    assert found["wall_time_s"] >= 5


def test_every_step_keeps_every_rule_under_every_fault(measured):
    """The rules that are behaviour, not timing: how quick an answer or a recovery was
    moves with the machine, and goes to the result file of `make test-faults`."""
    for slug, found in measured.items():
        for fault, entry in found.items():
            where = f"{slug} {fault}"
            assert entry["server_errors"] == 0, where
            assert entry["unanswered"] == 0, where
            assert entry["writes_lost"] == [], where
            assert entry["reads_wrong"] == [], where
            if fault != "outage":
                # No restart to wait for: nothing that starts after the fault may fail.
                assert entry["failed_after_recovery"] == 0, where


def test_the_faults_happened_under_load_with_writes(measured):
    for found in measured.values():
        for entry in found.values():
            assert entry["requests"] > 0
            assert entry["writes_acknowledged"] > 0
        # PostgreSQL really was down: some requests were told so, and health too.
        assert found["outage"]["unavailable"] > 0
        assert found["outage"]["health_during"] == 503
    # Requests went on while Redis was gone or stalled, and were answered.
    cached = measured[steps.select("07").slug]
    for fault in faults.REDIS_FAULTS:
        assert cached[fault]["during_fault"] > 0, fault


@pytest.fixture(scope="module")
def deployed(servers) -> dict:
    """A rolling restart of the first step served behind HAProxy, under load: the fleet
    fault CI keeps (make test-faults runs the others)."""
    embedded_only()
    need_installed("pgbouncer", "haproxy")
    step = next(step for step in steps.discover() if step.fleet)
    return faults.measure([step], [faults.ROLLING], SHORT)[step.slug][faults.ROLLING]


def test_a_rolling_restart_under_load_fails_no_request(deployed):
    assert deployed["broken"] == []
    assert deployed["unavailable"] == deployed["server_errors"] == deployed["unanswered"] == 0
    # Every instance went and came back while the clients wrote.
    assert deployed["during_fault"] > 0
    assert deployed["writes_acknowledged"] > 0


def test_three_times_its_capacity_leaves_a_step_alive_and_recovered(servers):
    embedded_only()
    step = steps.select(CI_STEPS[0])
    (entry,) = faults.measure([step], [faults.OVERLOAD], SHORT)[step.slug].values()
    assert entry["server_errors"] == 0
    assert entry["offered_rps"] > entry["capacity_rps"] > 0
    assert entry["alive"]
    assert entry["health_after"] == 200


def test_a_stale_cache_is_reported_read_by_read(servers):
    """A write behind the cache's back (SQL, so no version is bumped) is what a missed
    invalidation leaves: the detail and the first page the step keeps serving are old."""
    step = steps.select(CI_STEPS[1])
    url = SMALL.step_url(servers.database_url, step, fresh=True)
    with psycopg.connect(url) as conn:
        (oldest,) = conn.execute("SELECT min(id) FROM app_user").fetchone()
    with serve.running(step, url, servers.redis_url) as base_url:
        for path in (f"/api/customers/{oldest}/", "/api/customers/"):
            httpx.get(base_url + path).raise_for_status()
        with psycopg.connect(url) as conn:
            conn.execute(
                "UPDATE app_user SET last_name = 'Behind', created = now() WHERE id = %s",
                [oldest],
            )
        wrong = faults.wrong_reads(
            [Written("BEHIND", id=oldest, last_name="Behind")], base_url, url
        )
    assert len(wrong) == 2, wrong
    assert wrong[0].startswith("BEHIND: changed, API reads")
    assert wrong[1].startswith("the first page lists")


def test_a_run_narrowed_to_some_steps_keeps_the_others_figures(tmp_path):
    path = tmp_path / "reliability.json"
    first, last = steps.discover()[0].slug, steps.discover()[-1].slug
    started = dt.datetime.now(dt.UTC)
    faults.write({first: {"outage": {"broken": []}}}, SHORT, started, path)
    faults.write({last: {"outage": {"broken": ["x"]}}}, SHORT, started, path)
    # A run narrowed to one fault keeps the step's others.
    faults.write({last: {"killed": {"broken": []}}, first: {}}, SHORT, started, path)
    found = json.loads(path.read_text())
    assert list(found["steps"]) == [first, last]
    assert found["steps"][first]["outage"]["broken"] == []
    assert found["steps"][last] == {"outage": {"broken": ["x"]}, "killed": {"broken": []}}
    assert {slug: set(made) for slug, made in found["made"].items()} == {
        first: {"outage"},
        last: {"outage", "killed"},
    }
    # Figures made with other settings are not mixed in.
    faults.write({last: {"killed": {}}}, faults.Settings(outage_s=7), started, path)
    assert json.loads(path.read_text())["steps"] == {last: {"killed": {}}}
