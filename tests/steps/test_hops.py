"""Thread hops: an async step leaves the event loop only for what cannot run on it.

Counted as the bench counts them (``bench.hops``): every scenario request of the probe
pass, sent through the step's own ASGI application, twice for a read. A cache hit
makes no trip to a thread at all (steps 07 on); a miss makes one per ORM call, and one
to hand the request's connection back to the pool on the thread that holds it. Every
hop is named, and none is Django's plumbing: no middleware hook, no signal receiver.
"""

from __future__ import annotations

import pytest

from bench import hops, probe, steps
from tests.datasets import SMALL

ASYNC = [step for step in steps.under_test() if step.server == "uvicorn"]
pytestmark = pytest.mark.skipif(not ASYNC, reason="no async step yet")

# What a hop may run: the ORM's sync calls, a step's own sync database work (a write's
# transaction, the health check's ping), and closing the response, which hands the
# connection back to the pool.
ORM = "django.db.models."
CLOSE = "config.asgi.close_on_thread"
STEP_CODE = "crm."


@pytest.fixture(scope="module", params=ASYNC, ids=lambda step: step.slug)
def counted(request, servers) -> tuple[steps.Step, dict[str, list[dict]]]:
    step = request.param
    url = SMALL.step_url(servers.database_url, step, fresh=True)
    scenarios = probe.scenario_requests(SMALL.terms())
    requests = [r for group in scenarios.values() for r in group]
    owners = [name for name, group in scenarios.items() for _ in group]
    found: dict[str, list[dict]] = {}
    for result in hops.run(step, url, servers.redis_url, requests):
        found.setdefault(owners[result["request"]], []).append(result)
    return step, found


def sends(counted, cache: str | None = None) -> list[dict]:
    _, found = counted
    every = [send for results in found.values() for r in results for send in r["sends"]]
    return [s for s in every if cache is None or s["cache"] == cache]


def test_every_answer_is_a_success(counted):
    assert {(s["method"], s["status"]) for s in sends(counted) if s["status"] >= 400} == set()


def test_every_hop_is_the_orm_the_steps_own_database_work_or_the_close(counted):
    ran = {name for send in sends(counted) for name in send["named"]}
    plumbing = {n for n in ran if not n.startswith((ORM, STEP_CODE)) and n != CLOSE}
    assert plumbing == set()


def test_a_request_that_used_no_thread_makes_no_trip_to_close(counted):
    for send in sends(counted):
        if CLOSE in send["named"]:
            assert send["hops"] > 1, send


def test_requests_start_no_thread_once_the_first_has_run(counted):
    later = sends(counted)[1:]
    assert sum(send["threads"] for send in later) == 0


def test_a_cache_hit_never_leaves_the_event_loop(counted):
    step, _ = counted
    if "redis" not in step.services:
        pytest.skip(f"{step.slug} has no cache")
    hits = sends(counted, "hit")
    assert len(hits) >= 10
    assert {(s["method"], s["hops"], s["threads"]) for s in hits} == {("GET", 0, 0)}


def test_the_summary_counts_each_scenario_on_a_miss(counted):
    # A miss queries, so it hops at least once: the summary found each scenario's misses.
    _, found = counted
    for name, results in found.items():
        summary = hops.summary(results)
        assert (summary["miss"] or 0) >= 1, name
        assert summary["miss_named"], name
