"""Everything a run measures outside its timed k6 runs, per step: the probe pass (the
queries and plans of each scenario's requests), and with DETAILS=1 the extras (deep
pages, thread hops, micro-benchmarks, test times, the roads not taken)."""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from bench import database, facts, fulltext, hops, ninja_cursor, probe, serve, steps, venvs
from bench.workload import BenchError


def main_query(probed: list[dict]) -> dict | None:
    """The costliest query of the scenario's slowest request: where its time goes.

    The page query is not always it: a page-number step's COUNT over a substring search
    costs far more than the page it counts.
    """
    request = probe.slowest(probed)
    query = probe.costliest(request) if request else None
    if query is None:
        return None
    return {
        "path": request["path"],
        "method": request["method"],
        "request_time_ms": probe.request_time(request),
        "sql": query["sql"],
        "time_ms": query["time_ms"],
        "outline": probe.outline(query["plan"]) if query["plan"] else None,
        "plan": query["plan"],
    }


def probed_requests(probed: list[dict]) -> dict:
    """Every query of every probed request with its time, statements written once."""
    statements: list[str] = []
    index: dict[str, int] = {}
    requests = []
    for request in probed:
        queries = []
        for query in request["queries"]:
            text = probe.statement(query["sql"])
            if text not in index:
                index[text] = len(statements)
                statements.append(text)
            queries.append([index[text], round(query["time_ms"], 3)])
        requests.append({"method": request["method"], "path": request["path"], "queries": queries})
    return {"statements": statements, "requests": requests}


def probe_pass(step: steps.Step, url: str, terms: dict) -> dict[str, dict]:
    """Queries per request, their times and the costliest plan, per scenario, untimed."""
    scenarios = probe.scenario_requests(terms)
    owners = [name for name, requests in scenarios.items() for _ in requests]
    probed = probe.run(step, url, [r for requests in scenarios.values() for r in requests], True)
    bad = [(r["method"], r["path"], r["status"]) for r in probed if r["status"] >= 400]
    if bad:
        raise BenchError(f"{step.slug}: the probe pass got errors: {bad}")
    found = {}
    for name in scenarios:
        mine = [r for r in probed if owners[r["request"]] == name]
        queries = sum(len(r["queries"]) for r in mine)
        found[name] = {
            "queries_per_request": round(queries / len(mine), 2),
            "main_query": main_query(mine),
            "probe": probed_requests(mine),
        }
    return found


def thread_hops(step: steps.Step, url: str, redis_url: str | None, terms: dict) -> dict | None:
    """Per scenario, the trips to a thread that an async step's requests make, on a miss
    and on a cache hit (``bench/hops.py``): the probe pass's requests, sent through the
    step's ASGI application. ``None`` for a step served by sync workers, which has none."""
    if step.server != "uvicorn":
        return None
    scenarios = probe.scenario_requests(terms)
    owners = [name for name, requests in scenarios.items() for _ in requests]
    counted = hops.run(
        step, url, redis_url, [r for requests in scenarios.values() for r in requests]
    )
    bad = [(s["method"], s["status"]) for c in counted for s in c["sends"] if s["status"] >= 400]
    if bad:
        raise BenchError(f"{step.slug}: counting thread hops got errors: {bad}")
    return {
        name: hops.summary([c for c in counted if owners[c["request"]] == name])
        for name in scenarios
    }


def page_cost(request: dict) -> dict:
    """The time and shared buffers of the query that reads a probed page."""
    query = probe.page_query(request)
    plan = query["plan"]
    return {
        "path": request["path"],
        "time_ms": round(query["time_ms"], 3),
        "buffers": probe.buffers(plan),
    }


def deep_pages(step: steps.Step, url: str, terms: dict) -> tuple[dict, dict | None]:
    """What page 1 and page DEEP_PAGE cost (``{"first", "deep", "page"}``), per ordering
    and, on a cursor step, per filtered listing (``probe.filtered_listings``; a
    page-number step's deep pages cost what its orderings show, and a filter's page 50
    may not exist on a small data set)."""
    wanted = [("ordering", *request) for request in probe.deep_requests(step)]
    if step.pagination == "cursor":
        listings = probe.filtered_listings(terms)
        wanted += [("filter", *request) for request in probe.deep_requests(step, listings)]
    probed = probe.run(step, url, [request for *_, request in wanted], True)
    by_request: dict[int, list[dict]] = {}
    for result in probed:
        if result["status"] != 200:
            raise BenchError(f"{step.slug}: deep page {result['path']}: {result['status']}")
        by_request.setdefault(result["request"], []).append(result)
    found: dict[str, dict] = {"ordering": {}, "filter": {}}
    for index, (kind, name, _) in enumerate(wanted):
        pages = by_request[index]
        entry = found[kind].setdefault(name, {})
        if step.pagination == "page":
            entry["deep" if "first" in entry else "first"] = page_cost(pages[0])
            entry["page"] = probe.DEEP_PAGE
        else:
            entry.update(first=page_cost(pages[0]), deep=page_cost(pages[-1]), page=len(pages))
    return found["ordering"], (found["filter"] if step.pagination == "cursor" else None)


# The slowest pages of filter_orderings kept in the results: where a step is weakest.
SLOWEST_KEPT = 5


def filter_orderings(step: steps.Step, url: str, terms: dict) -> dict | None:
    """Every probed filter under every ordering (``probe.filter_orderings``), first page
    only: how many, the median page query's time, and the slowest pages. For cursor
    steps (``extras_of``): a page-number step's COUNT costs what its filter does under
    any order."""
    probed = probe.run(step, url, probe.filter_orderings(terms), True)
    if bad := [(r["path"], r["status"]) for r in probed if r["status"] != 200]:
        raise BenchError(f"{step.slug}: filtered orderings got errors: {bad}")
    costs = sorted((page_cost(r) for r in probed), key=lambda c: c["time_ms"], reverse=True)
    return {
        "pages": len(costs),
        "median_ms": round(statistics.median(c["time_ms"] for c in costs), 3),
        "slowest": costs[:SLOWEST_KEPT],
    }


def step_pytest(
    step: steps.Step, url: str, redis_url: str | None, what: str, *args: str, report: str
) -> str:
    """Run the step's own pytest in its environment, on the harness's PostgreSQL and Redis;
    return the text of the ``report`` file that ``args`` told it to write (``{report}``
    in an argument is its path)."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / report
        done = subprocess.run(
            [
                venvs.ensure(step), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                *(arg.format(report=report_path) for arg in args),
            ],
            cwd=step.path,
            env={**serve.environment(step, url, redis_url), "ALLOWED_HOSTS": "testserver"},
            capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode != 0 or not report_path.exists():
            raise BenchError(f"{step.slug}: {what} failed:\n{done.stdout[-2000:]}")
        return report_path.read_text()


def microbenchmarks(step: steps.Step, url: str, redis_url: str | None) -> list[dict]:
    """The step's own pytest-benchmark micro-benchmarks, summarised."""
    data = json.loads(
        step_pytest(
            step,
            url,
            redis_url,
            "micro-benchmarks",
            "--benchmark-only",
            "--benchmark-json={report}",
            "tests",
            report="benchmarks.json",
        )
    )
    return [
        {
            "name": bench["name"],
            "mean_s": bench["stats"]["mean"],
            "median_s": bench["stats"]["median"],
            "min_s": bench["stats"]["min"],
            "stddev_s": bench["stats"]["stddev"],
            "rounds": bench["stats"]["rounds"],
        }
        for bench in data["benchmarks"]
    ]


def test_times(step: steps.Step, url: str, redis_url: str | None) -> list[dict] | None:
    """Run times of the test files the step names in ``timed_tests``: per file, how many
    tests passed, their total seconds and the median test's milliseconds (JUnit XML:
    set-up, call and tear-down of each test)."""
    if not step.timed_tests:
        return None
    junit = step_pytest(
        step,
        url,
        redis_url,
        "timed tests",
        "--junitxml={report}",
        *step.timed_tests,
        report="junit.xml",
    )
    # JUnit names a test's module dotted (tests.test_api), a class inside it after it.
    modules = {name.removesuffix(".py").replace("/", "."): name for name in step.timed_tests}
    seconds: dict[str, list[float]] = {name: [] for name in step.timed_tests}
    for case in ET.fromstring(junit).iter("testcase"):
        owner = case.get("classname", "")
        module = next((m for m in modules if owner == m or owner.startswith(m + ".")), None)
        if module and case.find("skipped") is None:
            seconds[modules[module]].append(float(case.get("time", 0)))
    return [
        {
            "file": name,
            "tests": len(times),
            "seconds": round(sum(times), 3),
            "median_ms": round(statistics.median(times) * 1000, 3) if times else None,
        }
        for name, times in seconds.items()
    ]


def extras_of(step: steps.Step, selected: list[steps.Step]) -> set[str]:
    """Which untimed extras ``step`` runs among ``selected``: every step its micro-
    benchmarks, test times, deep pages and thread hops ("micro", "timed", "deep",
    "hops"), every cursor step its filters under every ordering ("orderings", 264
    first pages). django-ninja's own cursor and the
    trigram index are measured against the first cursor step and the first full-text
    step only: the later steps page and search with the same code on the same rows, and
    at 1M customers the trigram index alone takes minutes to build."""
    first_cursor = next((s for s in selected if s.pagination == "cursor"), None)
    first_fulltext = next((s for s in selected if s.search == "fulltext"), None)
    found = {"micro", "timed", "deep", "hops"}
    if step.pagination == "cursor":
        found.add("orderings")
    if step == first_cursor:
        found.add("ninja")
    if step == first_fulltext:
        found.add("roads")
    return found


def untimed_pass(
    step: steps.Step, url: str, redis_url: str | None, terms: dict, extras: set[str]
) -> dict:
    """Everything measured outside the timed runs: the probe pass (queries and plans),
    the server's facts and the ``extras`` asked for (``extras_of``)."""
    # A quick run's table needs the probe pass only; deep pages alone took 12 s a step.
    deep, filtered = deep_pages(step, url, terms) if "deep" in extras else (None, None)
    return {
        "facts": facts.run(step, url),
        "probed": probe_pass(step, url, terms),
        "hops": thread_hops(step, url, redis_url, terms) if "hops" in extras else None,
        "deep": deep,
        "filtered": filtered,
        "orderings": filter_orderings(step, url, terms) if "orderings" in extras else None,
        "storage": database.storage(url),
        "ninja": ninja_cursor.run(step, url) if "ninja" in extras else None,
        "roads": fulltext.run(step, url, terms) if "roads" in extras else None,
        "micro": microbenchmarks(step, url, redis_url) if "micro" in extras else [],
        "timed": test_times(step, url, redis_url) if "timed" in extras else None,
    }
