"""The probe pass: which SQL a step issues for a request, and the plan PostgreSQL picks.

Never part of a timed run. The harness side (``run``) starts this very file as a script
inside the step's own virtualenv and working directory; the script side (``_main``)
sends each request through Django's test client, captures the queries it made and asks
PostgreSQL to EXPLAIN each one. Plans are taken right after their request, on the same
connection, so they are the plans the step really gets.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

LIST = "/api/customers/"
ORDERINGS = ["created", "first_name", "last_name", "birthday", "points", "customer_id"]
WALK_PAGES = 10


class ProbeError(RuntimeError):
    """The probe script failed inside the step; the message carries its stderr."""


def scenario_requests(terms: dict) -> dict[str, list]:
    """Representative requests of each workload scenario, built from a term file."""
    from bench import paths
    from bench.seed import LOCALES

    # The customer the write scenario creates, patches and deletes, as k6 does.
    customer = json.loads((paths.ROOT / "k6" / "customer.json").read_text())

    # The least common country: the filter where an index has the most to offer.
    country = LOCALES[-1][1].lower()

    def hot(kind: str) -> str:
        return terms[kind]["hot"][0]

    def cold(kind: str) -> str:
        return terms[kind]["cold"][0]

    def listing(**params) -> str:
        return f"{LIST}?{urlencode(params)}" if params else LIST

    return {
        "list": [listing()],
        "walk": [{"walk": listing(), "pages": WALK_PAGES}],
        "detail": [f"{LIST}{terms['ids']['hot'][0]}/", f"{LIST}{terms['ids']['cold'][0]}/"],
        "filter": [
            listing(last_name=hot("last_names")[:3], city=hot("cities")),
            listing(first_name=cold("first_names")[:2], city=cold("cities")),
            listing(first_name=hot("first_names")[:3]),
            listing(last_name=cold("last_names")[:4]),
            listing(city=cold("cities")),
            listing(country=country, ordering="last_name"),
            listing(customer_id=cold("customer_ids")),
            listing(points_min=40_000),
            listing(points_max=10),
            listing(created_after="2024-06-01"),
            listing(birthday_before="1950-01-01"),
            listing(has_address="false"),
        ],
        "search": [listing(search=hot("last_names")), listing(search=cold("cities"))],
        "sort": [listing(ordering=f"{sign}{key}") for key in ORDERINGS for sign in ("", "-")],
        "write": [{"write": customer}],
    }


def run(step, database_url: str, requests: list, analyze: bool = False) -> list[dict]:
    """Probe each request: ``[{"request", "method", "path", "status", "queries"}]``.

    ``request`` is the index of the request that caused it, ``queries`` a list of
    ``{"sql", "plan"}``.

    A request is a GET path, ``{"walk": path, "pages": n}`` (the page, then ``next`` n
    times) or ``{"write": body}`` (create, patch, delete a customer of its own). Only
    SELECTs are EXPLAINed: EXPLAIN ANALYZE would run a write twice.
    """
    from bench import serve, venvs

    result = subprocess.run(
        [venvs.ensure(step), "-c", Path(__file__).read_text()],
        cwd=step.path,
        env=serve.environment(step, database_url, None),
        input=json.dumps({"requests": requests, "analyze": analyze}),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise ProbeError(f"{step.slug}: probe failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def nodes(plan: dict) -> Iterator[dict]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def outline(plan: dict) -> str:
    """``Limit > Index Scan(app_user)[app_user_created_id_idx] > …``, for notes and docs."""
    parts = []
    for node in nodes(plan):
        relation = f"({node['Relation Name']})" if "Relation Name" in node else ""
        index = f"[{node['Index Name']}]" if "Index Name" in node else ""
        parts.append(f"{node['Node Type']}{relation}{index}")
    return " > ".join(parts)


def page_queries(queries: list[dict]) -> list[dict]:
    """The queries that read a page: a LIMIT at the top of their plan."""
    return [q for q in queries if q["plan"] is not None and q["plan"]["Node Type"] == "Limit"]


def seq_scans(plan: dict | None) -> set[str]:
    if plan is None:
        return set()
    return {n["Relation Name"] for n in nodes(plan) if n["Node Type"] == "Seq Scan"}


def _main() -> None:  # runs inside the step's virtualenv, cwd = the step folder
    import os
    import sys

    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    job = json.load(sys.stdin)
    options = "ANALYZE, BUFFERS, FORMAT JSON" if job["analyze"] else "FORMAT JSON"
    client = Client(HTTP_HOST="localhost")
    results = []

    def send(index: int, method: str, path: str, body=None):
        with CaptureQueriesContext(connection) as captured:
            response = client.generic(
                method, path, json.dumps(body) if body else "", content_type="application/json"
            )
        queries = []
        for query in captured.captured_queries:
            plan = None
            if query["sql"].lstrip().upper().startswith("SELECT"):
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN ({options}) {query['sql']}")
                    plan = cursor.fetchone()[0][0]["Plan"]
            queries.append({"sql": query["sql"], "plan": plan})
        results.append(
            {
                "request": index,
                "method": method,
                "path": path,
                "status": response.status_code,
                "queries": queries,
            }
        )
        return response

    for index, request in enumerate(job["requests"]):
        if isinstance(request, str):
            send(index, "GET", request)
        elif "walk" in request:
            response = send(index, "GET", request["walk"])
            for _ in range(request["pages"]):
                following = response.status_code == 200 and response.json()["next"]
                if not following:
                    break
                response = send(index, "GET", following)
        else:
            body = {**request["write"], "customer_id": f"PROBE-{uuid.uuid4().hex[:16]}"}
            created = send(index, "POST", LIST, body)
            url = f"{LIST}{created.json()['id']}/"
            send(index, "PATCH", url, {"last_name": "Patched"})
            send(index, "DELETE", url)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    _main()
