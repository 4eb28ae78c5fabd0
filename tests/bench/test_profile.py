"""`make profile`: py-spy's samples of the last step and of the ceiling, by package."""

from __future__ import annotations

import pytest

from bench import profile, run, steps
from tests.bench.test_ceiling import DATA

OWN = {"/repo/steps/08-optimized/": "the step's code"}
RAW = "\n".join(
    [
        "<module> (/repo/steps/08-optimized/manage.py:1);"
        "handle (/repo/steps/08-optimized/crm/api/controllers.py:40) 7",
        "run (/v/lib/python3.13/asyncio/base_events.py:9);"
        "get (/v/lib/python3.13/site-packages/django/core/handlers/base.py:3) 2",
        "a (/v/lib/python3.13/site-packages/pydantic_core/core.py:2) 1",
        "b (/v/lib/python3.13/asyncio/events.py:1) 1",
        "c (/v/lib/python3.13/site-packages/uvloop/loop.py:1);d (<frozen importlib>:1) 1",
        'process 12:"python -m uvicorn";process 14:"python -c import x; spawn_main(7)" 4',
        'process 12:"python -m uvicorn";e (/v/lib/python3.13/site-packages/redis/x.py:3) 2',
        "not a sample line",
    ]
)


def test_each_sample_counts_for_its_innermost_frames_package():
    groups = {g["name"]: g for g in profile.breakdown(RAW, OWN)}
    assert {name: g["samples"] for name, g in groups.items()} == {
        "the step's code": 7,
        "Django": 2,
        "redis-py": 2,
        "pydantic": 1,
        "Python: asyncio": 1,
        "other": 1,
        profile.NATIVE: 4,
    }
    assert next(iter(groups)) == "the step's code"
    assert sum(g["share"] for g in groups.values()) == pytest.approx(1, abs=1e-3)


def test_the_last_two_steps_and_the_ceiling_are_sampled_under_load(servers):
    settings = run.Settings(
        vus=2, duration_s=2, warmup_s=1, open_rate=10, max_vus=4, scenarios=["search"]
    )
    found = profile.profile(DATA.customers, DATA.seed, "search", settings, prefix=DATA.prefix)
    # py-spy samples one server: the steps served as a fleet are left out.
    ladder = [step for step in steps.discover() if not step.fleet]
    assert found["steps"] == [ladder[-2].slug, ladder[-1].slug]
    assert found["step"] == ladder[-1].slug
    assert list(found["targets"]) == [*found["steps"], "ceiling"]
    assert found["command"] == "make profile SCENARIO=search DURATION=2"
    step, top = found["targets"][found["step"]], found["targets"]["ceiling"]
    for target in found["targets"].values():
        assert target["errors"] == 0
        assert target["samples"] == sum(g["samples"] for g in target["groups"]) > 0
        # Per request: every group's share of the samples, over the requests served.
        per_request = sum(g["ms_per_request"] for g in target["groups"])
        assert per_request == pytest.approx(target["cpu_ms_per_request"], rel=0.01)
        assert target["cpu_ms_per_request"] == pytest.approx(
            target["samples"] / profile.RATE_HZ * 1000 / target["requests"], rel=0.01
        )
    assert "the ceiling" in {g["name"] for g in top["groups"]}
    assert "Django" in {g["name"] for g in step["groups"]}
    assert "Django" not in {g["name"] for g in top["groups"]}
    assert found["wall_time_s"] > 0
