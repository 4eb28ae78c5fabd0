"""Step 10's figures: the connections PostgreSQL held as app instances were added
(bench/fleets.py), and what several app machines in front of one database would carry,
modelled from the CPU each request cost the app and PostgreSQL (bench/cpu.py)."""

from __future__ import annotations

import math

from bench.tables import Column, markdown
from renderers.common import STATE, fmt_ms, fmt_number, made_at, measured, note

# The app machines the model lines up in front of the one database.
MACHINES = (1, 2, 4, 8, 16, 32)


def figures() -> dict | None:
    return STATE["result"].get("fleets")


def max_connections() -> int:
    return int(STATE["result"]["postgresql"]["settings"]["max_connections"])


def render_fleet_connections(_: str | None, src_uri: str) -> str:
    """``{{ fleet_connections }}``: at each instance count, the connections PostgreSQL
    held and what the clients saw, with a pool per instance and through PgBouncer."""
    found = figures()
    if found is None:
        return note(
            "Not measured yet",
            "The run behind these pages has no connection figures: `make bench-full`"
            " measures them with step 10.",
        )
    by = {(run["instances"], run["pgbouncer"]): run for run in found["runs"]}
    sizes = sorted({instances for instances, _ in by})
    sides = [
        (False, found["step"][:2] + ", a pool each"),
        (True, found["pooled_step"][:2] + ", PgBouncer"),
    ]
    columns = [Column("instances"), Column("clients (VUs)", ">")]
    for _, label in sides:
        columns += [
            Column(f"{label}: held", ">"),
            Column(f"{label}: busy", ">"),
            Column(f"{label}: req/s", ">"),
            Column(f"{label}: p95", ">"),
            Column(f"{label}: errors", ">"),
        ]
    rows = []
    for size in sizes:
        row = [str(size), str(by[(size, False)]["vus"])]
        for pooled, _ in sides:
            run = by[(size, pooled)]
            p95 = run["latency_ms"]["p95"]
            row += [
                fmt_number(run["connections"]["max"], 0),
                fmt_number(run["connections"]["max_active"], 0),
                fmt_number(run["requests_per_second"]),
                "—" if p95 is None else fmt_ms(p95),
                str(run["errors"]),
            ]
        rows.append(row)
    allowed = max_connections()
    pool = found["pool_max_size"]
    caption = (
        f"*`{found['scenario']}`, {found['vus_per_instance']} virtual users per instance,"
        f" each instance one uvicorn worker behind HAProxy. **held**: the most client"
        " backends PostgreSQL had open for the step's database, sampled every 0.1 s;"
        " **busy**: the most of them running a query at once. PostgreSQL allows"
        f" {allowed} connections; each instance's pool may open {pool}, so {found['step'][:2]}"
        f" would ask for more than it allows at {math.ceil(allowed / pool)} instances under"
        f" enough load. Run {STATE['result']['run']['id']}, made at"
        f" {made_at(STATE['result']['run'])}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def cpu_of(slug: str, scenario: str) -> dict:
    spent = measured(slug)["scenarios"][scenario].get("cpu_ms_per_request") or {}
    if spent.get("app") is None or spent.get("postgresql") is None:
        raise ValueError(f"the published run did not read {slug}'s CPU in {scenario}")
    return spent


def render_capacity_model(arg: str, src_uri: str) -> str:
    """``{{ capacity_model 10-scale-out mixed }}``: K app machines of the run's cores in
    front of one database machine of as many cores, each part's capacity its cores'
    seconds over its CPU per request; the smaller one is what the whole carries."""
    slug, scenario = arg.split()
    spent = cpu_of(slug, scenario)
    cores = STATE["result"]["machine"]["cores"]
    app_ms = spent["app"] + (spent.get("proxies") or 0)
    database_ms = spent["postgresql"]
    per_app_machine = cores * 1000 / app_ms
    database_limit = cores * 1000 / database_ms
    columns = [
        Column("app machines", ">"),
        Column("app side can serve, req/s", ">"),
        Column("database can serve, req/s", ">"),
        Column("the whole carries, req/s", ">"),
        Column("limit"),
    ]
    rows = []
    for machines in MACHINES:
        app_limit = machines * per_app_machine
        rows.append(
            [
                str(machines),
                fmt_number(app_limit, 0),
                fmt_number(database_limit, 0),
                f"**{fmt_number(min(app_limit, database_limit), 0)}**",
                "the app machines" if app_limit < database_limit else "**the database**",
            ]
        )
    crossing = database_limit / per_app_machine
    caption = (
        f"*From `{scenario}` on {slug} in run {STATE['result']['run']['id']}: per request,"
        f" {fmt_ms(spent['app'])} of CPU in the app instances"
        f" and {fmt_ms(spent.get('proxies') or 0)} in HAProxy and PgBouncer (the app side,"
        f" {fmt_ms(app_ms)}), {fmt_ms(database_ms)} in PostgreSQL. Each machine has"
        f" {cores} cores, as this one. Past {fmt_number(crossing, 1)} app machines the"
        " database is the limit. Assumed: every request costs what it cost here, whatever"
        " the load (no contention, no lock waits, the same cache hit rate); all of a"
        " machine's cores do nothing else; the network between machines adds latency but"
        " no CPU; k6's own CPU, which shared this machine, is left out.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


RENDERERS = {
    "fleet_connections": render_fleet_connections,
    "capacity_model": render_capacity_model,
}
