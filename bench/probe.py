"""The probe pass: which SQL a step issues for a request, and the plan PostgreSQL picks.

Never part of a timed run. The harness side (``run``) starts this very file as a script
inside the step's own virtualenv and working directory; the script side (``_main``)
sends each request through Django's async test client, captures the queries it made and
asks PostgreSQL to EXPLAIN each one. Plans are taken after their request, on the same
connection, so they are the plans the step really gets.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

LIST = "/api/customers/"
ORDERINGS = ["created", "first_name", "last_name", "birthday", "points", "customer_id"]
WALK_PAGES = 50
# The deep page the probe compares with page 1, per ordering (DESIGN §6).
DEEP_PAGE = 50
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}
# A read, which EXPLAIN ANALYZE can run a second time: a SELECT, also one in parentheses
# as the first part of a UNION.
READS = re.compile(r"^[\s(]*SELECT\b", re.IGNORECASE)


class ProbeError(RuntimeError):
    """The probe script failed inside the step; the message carries its stderr."""


def scenario_requests(terms: dict) -> dict[str, list]:
    """Representative requests of each workload scenario, built from a term file."""
    from bench import paths

    # The customer the write scenario creates, patches and deletes, as k6 does.
    customer = json.loads((paths.ROOT / "k6" / "customer.json").read_text())

    country = rarest_country(terms)

    def hot(kind: str) -> str:
        return terms[kind]["hot"][0]

    def cold(kind: str) -> str:
        return terms[kind]["cold"][0]

    def rarest(kind: str) -> str:
        return terms[kind]["cold"][-1]

    def listing(**params) -> str:
        return f"{LIST}?{urlencode(params)}" if params else LIST

    return {
        "list": [listing()],
        "walk": [{"walk": listing(), "pages": WALK_PAGES}],
        "detail": [f"{LIST}{terms['ids']['hot'][0]}/", f"{LIST}{terms['ids']['cold'][0]}/"],
        # Each kind of filter k6 sends (k6/workload.js FILTERS), with a common and a rare
        # value where the value decides the plan, and a combination that matches no one.
        "filter": [
            listing(first_name=hot("first_names")[:3]),
            listing(last_name=cold("last_names")[:3]),
            listing(city=hot("cities")),
            listing(city=cold("cities")),
            listing(country=country),
            listing(customer_id=cold("customer_ids")),
            listing(gender="other"),
            listing(birthday_after="1980-03-01", birthday_before="1981-02-28"),
            listing(created_after="2024-06-01"),
            listing(points_min=40_000),
            listing(points_max=10),
            listing(has_address="false"),
            listing(last_name=hot("last_names")[:3], city=hot("cities")),
            listing(first_name=hot("first_names")[:3], last_name=hot("last_names")[:3]),
            listing(country=country, gender="other"),
            listing(city=hot("cities"), points_min=40_000),
            listing(country=country, created_after="2024-06-01"),
            listing(gender="other", birthday_after="1950-01-01", birthday_before="1950-12-31"),
            listing(last_name=cold("last_names")[:3], city=cold("cities"), points_min=45_000),
            listing(country=country, ordering="last_name"),
            # A whole name, as a client types one: a prefix with few matches.
            listing(first_name=rarest("first_names")),
            listing(last_name=rarest("last_names")),
        ],
        # Selective terms (k6's `search`) and broad ones (`search-broad`), as k6 sends them.
        "search": [listing(search=cold("customer_ids")), listing(search=rarest("last_names"))],
        "search-broad": [listing(search=hot("cities")), listing(search=hot("first_names"))],
        "sort": [listing(ordering=f"{sign}{key}") for key in ORDERINGS for sign in ("", "-")],
        "unique": [listing(created_before="2022-06-01", page_size=37)],
        "write": [{"write": customer}],
    }


def filter_orderings(terms: dict) -> list[str]:
    """Every filter request of the probe under every ordering, both directions: the
    contract lets a client sort any filtered listing, so each pair needs a plan."""
    orderings = [f"{sign}{key}" for key in ORDERINGS for sign in ("", "-")]
    filters = [path for path in scenario_requests(terms)["filter"] if "ordering=" not in path]
    return [f"{path}&ordering={ordering}" for path in filters for ordering in orderings]


def deep_requests(step, firsts: dict[str, str] | None = None) -> list[tuple[str, str | dict]]:
    """``(name, request)``: page 1 and page DEEP_PAGE of each listing of ``firsts`` (a
    name and its first page), by default every ordering.

    A page-number step is asked for ``?page=50`` directly; a cursor step has no page
    numbers and is walked there, following ``next`` as a client would.
    """
    if firsts is None:
        firsts = {
            sign + key: f"{LIST}?ordering={sign}{key}" for key in ORDERINGS for sign in ("", "-")
        }
    requests = []
    for name, first in firsts.items():
        if step.pagination == "page":
            requests += [(name, first), (name, f"{first}&page={DEEP_PAGE}")]
        else:
            requests.append((name, {"walk": first, "pages": DEEP_PAGE - 1, "ends": True}))
    return requests


def rarest_country(terms: dict) -> str:
    """The country fewest customers live in (the term file lists the commonest first):
    the filter where an index has the most to offer."""
    return terms["countries"]["hot"][-1].lower()


def filtered_listings(terms: dict) -> dict[str, str]:
    """Filtered listings in the default order, walked as deep as the orderings: a common
    last-name prefix, a common city, the rarest country and a points threshold, each
    with a thousand matches or more from 100k customers on. Whether page 50 reads what
    page 1 reads, and how much that is, tells a filter served by an index range of its
    own (step 09's places) from one tested row by row along the order's index."""
    params = {
        "last_name": terms["last_names"]["hot"][0][:3],
        "city": terms["cities"]["hot"][0],
        "country": rarest_country(terms),
        "points_min": 20_000,
    }
    return {f"{key}={value}": f"{LIST}?{urlencode({key: value})}" for key, value in params.items()}


def run(step, database_url: str, requests: list, analyze: bool = False) -> list[dict]:
    """Probe each request: ``[{"request", "method", "path", "status", "queries"}]``.

    ``request`` is the index of the request that caused it, ``queries`` a list of
    ``{"sql", "plan", "time_ms"}``. With ``analyze`` a SELECT's ``time_ms`` is the
    execution time EXPLAIN ANALYZE measured in the server; any other statement's (and
    every statement's without ``analyze``) is the time around it in the step's process.

    A request is a GET path, ``{"walk": path, "pages": n}`` (the page, then ``next`` n
    times; with ``"ends": true`` only its first and last pages are EXPLAINed, the others
    keep the time around them) or ``{"write": body}`` (create, patch, delete a customer of
    its own). Only SELECTs are EXPLAINed: EXPLAIN ANALYZE would run a write twice.
    """
    from bench import serve

    job = json.dumps({"requests": requests, "analyze": analyze})
    result = serve.run_script(step, Path(__file__), database_url, stdin=job)
    if result.returncode != 0:
        raise ProbeError(f"{step.slug}: probe failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def run_split(step, database_url: str, requests: list, analyze: bool = False) -> list[dict]:
    """``run``, its requests shared between one probe process per core.

    For reads whose plans and buffers matter, never their times: two processes share
    the machine. The results come back in the order of ``requests``, with their indexes.
    """
    from concurrent.futures import ThreadPoolExecutor

    share = -(-len(requests) // (os.cpu_count() or 1))
    parts = [(start, requests[start : start + share]) for start in range(0, len(requests), share)]
    with ThreadPoolExecutor(len(parts) or 1) as pool:
        done = pool.map(lambda part: run(step, database_url, part[1], analyze), parts)
        return [
            {**found, "request": found["request"] + start}
            for (start, _), results in zip(parts, done, strict=True)
            for found in results
        ]


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


def page_query(request: dict) -> dict:
    """The query that reads a probed request's page, else its costliest read."""
    reads = [q for q in request["queries"] if q["plan"] is not None]
    return (page_queries(reads) or [costliest({"queries": reads})])[0]


def buffers(plan: dict) -> int:
    """Shared buffers an analysed plan touched, from the cache or the disk: its cost in
    pages, whichever of the two served them."""
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def statement(sql: str) -> str:
    """The SQL with its literals replaced by ``?``: the N+1's twenty lookups are one."""
    return LITERAL.sub("?", sql)


def request_time(request: dict) -> float:
    """The database time of one probed request: the sum of its queries' times."""
    return sum(query["time_ms"] for query in request["queries"])


def slowest(requests: list[dict]) -> dict | None:
    """The probed request that spent the most time in the database."""
    timed = [request for request in requests if request["queries"]]
    return max(timed, key=request_time, default=None)


def costliest(request: dict) -> dict | None:
    """The single query of ``request`` that took the longest."""
    return max(request["queries"], key=lambda query: query["time_ms"], default=None)


def breakdown(queries: list[dict]) -> list[dict]:
    """Queries grouped by statement, costliest first, each with its share of the time.

    ``queries`` are ``{"statement", "time_ms"}``; returns ``{"statement", "count",
    "time_ms", "share"}``.
    """
    total = sum(query["time_ms"] for query in queries)
    groups: dict[str, dict] = {}
    for query in queries:
        group = groups.setdefault(
            query["statement"], {"statement": query["statement"], "count": 0, "time_ms": 0.0}
        )
        group["count"] += 1
        group["time_ms"] += query["time_ms"]
    for group in groups.values():
        group["share"] = group["time_ms"] / total if total else 0.0
    return sorted(groups.values(), key=lambda group: -group["time_ms"])


def seq_scans(plan: dict | None) -> set[str]:
    if plan is None:
        return set()
    return {n["Relation Name"] for n in nodes(plan) if n["Node Type"] == "Seq Scan"}


def explain(step, database_url: str, path: str) -> str:
    """``make explain``: one GET through the step, its queries grouped by statement, and
    the plan of the query that reads the page, naming every table it reads whole."""
    (request,) = run(step, database_url, [path], analyze=True)
    queries = request["queries"]
    lines = [
        f"\n{step.slug} {request['method']} {request['path']} -> {request['status']}:"
        f" {len(queries)} quer{'y' if len(queries) == 1 else 'ies'},"
        f" {request_time(request):.1f} ms in PostgreSQL\n"
    ]
    for group in breakdown(
        [{"statement": statement(q["sql"]), "time_ms": q["time_ms"]} for q in queries]
    ):
        # A long column list hides what tells the queries apart, which follows it.
        columns, cut, rest = group["statement"].partition(" FROM ")
        shown = f"SELECT ... FROM {rest}" if cut and len(columns) > 60 else group["statement"]
        lines.append(f"{group['count']:>4} x {group['time_ms']:8.2f} ms  {shown[:400]}")
    pages = page_queries(queries)
    planned = pages or [query for query in queries if query["plan"] is not None]
    if planned:
        plan = planned[0]["plan"]
        lines.append(f"\nplan of the {'page' if pages else 'first'} query:")
        lines.append("    " + outline(plan).replace(" > ", "\n  > "))
        scans = seq_scans(plan)
        if scans:
            lines.append(f"\nreads whole tables (Seq Scan): {', '.join(sorted(scans))}")
    return "\n".join(lines)


def _main() -> None:  # runs inside the step's virtualenv, cwd = the step folder
    import asyncio
    import sys
    import time
    from contextlib import ExitStack

    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from asgiref.sync import sync_to_async
    from django.conf import settings
    from django.db import connection
    from django.test import AsyncClient
    from django.test.utils import CaptureQueriesContext

    # A cached step is probed cold, every request with an empty cache: what the probe
    # shows is the SQL a miss sends, not that the load test left entries warm. Created
    # here, before any request, so that every request shares it.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    from django.core.cache import caches

    probe_cache = caches["default"]
    # The async test client's requests name the test server as their host.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    job = json.load(sys.stdin)
    options = "ANALYZE, BUFFERS, FORMAT JSON" if job["analyze"] else "FORMAT JSON"
    # The async client on one event loop: the sync client would start a loop and a
    # thread for every request to an async view, several times what a page's queries
    # cost. Everything sync, the ORM and a sync view alike, then runs on asgiref's one
    # thread-sensitive thread, so its connection is the one captured and EXPLAINed on.
    client = AsyncClient()
    on_the_orm_thread = sync_to_async
    results = []
    durations: list[float] = []
    capturing = ExitStack()

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            durations.append((time.perf_counter() - started) * 1000)

    def capture() -> CaptureQueriesContext:
        durations.clear()
        probe_cache.clear()
        context = capturing.enter_context(CaptureQueriesContext(connection))
        capturing.enter_context(connection.execute_wrapper(timed))
        return context

    def release(context: CaptureQueriesContext) -> list[dict]:
        # connection.queries is the calling thread's: read it where the queries ran.
        capturing.close()
        return context.captured_queries

    def explain(record: dict) -> None:
        for query in record["queries"]:
            if READS.match(query["sql"]):
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN ({options}) {query['sql']}")
                    explained = cursor.fetchone()[0][0]
                query["plan"] = explained["Plan"]
                query["time_ms"] = explained.get("Execution Time", query["time_ms"])

    async def send(index: int, method: str, path: str, body=None, explained: bool = True):
        context = await on_the_orm_thread(capture)()
        try:
            response = await client.generic(
                method, path, json.dumps(body) if body else "", content_type="application/json"
            )
        finally:
            ran = await on_the_orm_thread(release)(context)
        queries = []
        # BEGIN, COMMIT and ROLLBACK bypass execute wrappers; Django times them itself,
        # to the millisecond.
        measured = iter(durations)
        for query in ran:
            sql = query["sql"]
            control = sql in TRANSACTION_CONTROL
            time_ms = float(query["time"]) * 1000 if control else next(measured)
            queries.append({"sql": sql, "plan": None, "time_ms": time_ms})
        record = {
            "request": index,
            "method": method,
            # A `next` link may be absolute; the record keeps the path and query.
            "path": urlsplit(path)._replace(scheme="", netloc="").geturl(),
            "status": response.status_code,
            "queries": queries,
        }
        if explained:
            await on_the_orm_thread(explain)(record)
        results.append(record)
        return response

    async def main() -> None:
        for index, request in enumerate(job["requests"]):
            if isinstance(request, str):
                await send(index, "GET", request)
            elif "walk" in request:
                # A deep page's cost is its first and last pages': EXPLAIN ANALYZE on the
                # pages between would double the walk's time for plans nobody reads.
                every = not request.get("ends")
                first = len(results)
                response = await send(index, "GET", request["walk"], explained=every)
                for _ in range(request["pages"]):
                    following = response.status_code == 200 and response.json()["next"]
                    if not following:
                        break
                    response = await send(index, "GET", following, explained=every)
                if not every:
                    await on_the_orm_thread(explain)(results[first])
                    if len(results) - 1 > first:
                        await on_the_orm_thread(explain)(results[-1])
            else:
                body = {**request["write"], "customer_id": f"PROBE-{uuid.uuid4().hex[:16]}"}
                created = await send(index, "POST", LIST, body)
                url = f"{LIST}{created.json()['id']}/"
                await send(index, "PATCH", url, {"last_name": "Patched"})
                await send(index, "DELETE", url)

    asyncio.run(main())
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    _main()
