"""Step 10's figures: the connections PostgreSQL held as app instances were added
(bench/fleets.py), and what several app machines in front of one database would carry,
modelled from the CPU each request cost the app and PostgreSQL (bench/cpu.py)."""

from __future__ import annotations

from bench.tables import Column, markdown
from renderers.common import STATE, fmt_ms, fmt_number, made_at, measured, note, step_of

# What k6 counted, by kind (bench/workload.py ERROR_KINDS).
KINDS = {"unavailable": "503:", "server_errors": "other 5xx:", "unanswered": "no answer:"}
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
    by = {(run["instances"], run["pgbouncer"]): run for run in found["runs"] if "limit" not in run}
    sizes = sorted({instances for instances, _ in by})
    own, pooled = found["step"][:2], found["pooled_step"][:2]
    columns = [
        Column("instances"),
        Column("clients", ">"),
        Column(f"held, {own}", ">"),
        Column(f"held, {pooled}", ">"),
        Column(f"busy, {own} / {pooled}", ">"),
        Column(f"req/s (p95), {own}", ">"),
        Column(f"req/s (p95), {pooled}", ">"),
        Column(f"errors, {own} / {pooled}", ">"),
    ]

    def served(run: dict) -> str:
        p95 = run["latency_ms"]["p95"]
        return f"{fmt_number(run['requests_per_second'])} ({'—' if p95 is None else fmt_ms(p95)})"

    rows = []
    for size in sizes:
        alone, shared = by[(size, False)], by[(size, True)]
        rows.append(
            [
                str(size),
                str(alone["vus"]),
                fmt_number(alone["connections"]["max"], 0),
                fmt_number(shared["connections"]["max"], 0),
                f"{fmt_number(alone['connections']['max_active'], 0)} /"
                f" {fmt_number(shared['connections']['max_active'], 0)}",
                served(alone),
                served(shared),
                f"{alone['errors']} / {shared['errors']}",
            ]
        )
    allowed = max_connections()
    pool = found["pool_max_size"]
    caption = (
        f"*`{found['scenario']}`, {found['vus_per_instance']} virtual users (clients) per"
        f" instance, each instance one uvicorn worker behind HAProxy; {own} with a pool"
        f" per instance, {pooled} through PgBouncer. **held**: the most client backends"
        " PostgreSQL had open for the step's database, sampled every 0.1 s; **busy**: the"
        " most of them running a query at once. PostgreSQL allows"
        f" {allowed} connections; each instance's pool may open {pool}, so {found['step'][:2]}"
        f" would ask for more than it allows from {allowed // pool + 1} instances on, under"
        f" enough load. Run {STATE['result']['run']['id']}, made at"
        f" {made_at(STATE['result']['run'])}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def render_fleet_limited(_: str | None, src_uri: str) -> str:
    """``{{ fleet_limited }}``: the most instances, with a pool each and through
    PgBouncer, on a server that allows the app only PgBouncer's pool."""
    found = figures()
    limited = [run for run in (found or {"runs": []})["runs"] if "limit" in run]
    if not limited:
        return note(
            "Not measured yet",
            "The run behind these pages did not serve the instances on a server allowing"
            " fewer connections: `make bench-full` does, with step 10.",
        )
    columns = [
        Column("served as"),
        Column("clients", ">"),
        Column("held", ">"),
        Column("refused", ">"),
        Column("instances up", ">"),
        Column("req/s", ">"),
        Column("p95", ">"),
        Column("failed", ">"),
        Column("what failed"),
    ]
    rows = []
    for run in sorted(limited, key=lambda run: run["pgbouncer"]):
        p95 = run["latency_ms"]["p95"]
        kinds = ", ".join(
            f"{KINDS[kind]} {count:,}" for kind, count in run["error_kinds"].items() if count
        )
        rows.append(
            [
                f"{run['step'][:2]}, {run['instances']} instances"
                + (" through PgBouncer" if run["pgbouncer"] else " with a pool each"),
                str(run["vus"]),
                fmt_number(run["connections"]["max"], 0),
                f"{run['refused_connections']:,}",
                f"{fmt_number(run['fewest_instances_up'], 0)} of {run['instances']}",
                fmt_number(run["requests_per_second"]),
                "—" if p95 is None else fmt_ms(p95),
                f"{run['errors']:,} of {run['requests']:,}",
                kinds or "nothing",
            ]
        )
    caption = (
        f"*`{found['scenario']}` as above, on a server that allows the app"
        f" {limited[0]['limit']} connections, PgBouncer's pool: the instances, or PgBouncer,"
        " log in as a role with that CONNECTION LIMIT, and PostgreSQL refuses the next"
        " connection with `too many connections for role`, as a smaller server's"
        " max_connections would. **held**: the most client backends PostgreSQL had open;"
        " **refused**: the connections it refused the instances' pools, from their logs"
        " (PgBouncer never asks for more than its pool);"
        " **instances up**: the fewest HAProxy sent requests to at once, since an instance"
        " whose pool has no connection fails its health check."
        f" Run {STATE['result']['run']['id']}, made at {made_at(STATE['result']['run'])}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def cpu_of(slug: str, scenario: str) -> dict:
    spent = measured(slug)["scenarios"][scenario].get("cpu_ms_per_request") or {}
    if spent.get("app") is None or spent.get("postgresql") is None:
        raise ValueError(f"the published run did not read {slug}'s CPU in {scenario}")
    return spent


def render_capacity_model(arg: str, src_uri: str) -> str:
    """``{{ capacity_model 10-scale-out mixed }}``: K app machines of the run's cores in
    front of one shared machine of as many cores, running PostgreSQL, PgBouncer and
    HAProxy, which every app machine uses; each side's capacity is its cores' seconds
    over its CPU per request, and the smaller one is what the whole carries."""
    slug, scenario = arg.split()
    spent = cpu_of(slug, scenario)
    cores = STATE["result"]["machine"]["cores"]
    proxies = spent.get("proxies")
    app_ms = spent["app"]
    shared_ms = spent["postgresql"] + (proxies or 0)
    per_app_machine = cores * 1000 / app_ms
    shared_limit = cores * 1000 / shared_ms
    columns = [
        Column("app machines", ">"),
        Column("app machines can serve, req/s", ">"),
        Column("the shared machine can serve, req/s", ">"),
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
                fmt_number(shared_limit, 0),
                f"**{fmt_number(min(app_limit, shared_limit), 0)}**",
                "the app machines" if app_limit < shared_limit else "**the shared machine**",
            ]
        )
    proxied = (
        f" and {fmt_ms(proxies)} in HAProxy and PgBouncer" if proxies is not None else
        " (HAProxy's and PgBouncer's were not read)"
    )  # fmt: skip
    caption = (
        f"*From `{scenario}` on {slug} in run {STATE['result']['run']['id']}: per request,"
        f" {fmt_ms(app_ms)} of CPU in the app instances, {fmt_ms(spent['postgresql'])} in"
        f" PostgreSQL{proxied}. Every machine has {cores} cores, as this one; the shared"
        " machine runs PostgreSQL, PgBouncer and HAProxy, which every app machine uses."
        f" Past {fmt_number(shared_limit / per_app_machine, 1)} app machines the shared"
        " machine is the limit. Assumed: every request costs what it cost here, whatever"
        " the load (no contention, no lock waits, the same cache hit rate); a machine's"
        " cores do nothing else; the network between machines adds latency but no CPU;"
        " k6's own CPU, which shared this machine, is left out.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def render_fleet_faults(slug: str, src_uri: str) -> str:
    """``{{ fleet_faults 10-scale-out }}``: what the clients saw while an instance died,
    every instance was restarted in turn, and PgBouncer was restarted
    (``make test-faults``)."""
    from bench import balancer, faults
    from renderers.reliability import reliability_result, rules_kept

    found = reliability_result()
    entries = ((found or {"steps": {}})["steps"]).get(slug, {})
    shown = [(fault, entries[fault]) for fault in faults.FLEET_FAULTS if fault in entries]
    if not shown:
        return note(
            "Not measured yet",
            f"`make test-faults STEPS={step_of(slug).number}` kills an instance, restarts"
            " every one in turn and restarts PgBouncer under load.",
        )
    # The revision these faults were measured at: a narrower run (STEPS=, FAULTS=) may
    # have measured them apart from the rest of the file.
    made = ((found.get("made") or {}).get(slug) or {}).get(shown[0][0]) or found
    columns = [Column("fault"), Column("rules")]
    columns += [
        Column(title, ">")
        for title in (
            "requests",
            "failed before it was out",
            "503",
            "other 5xx",
            "no answer",
            "acknowledged writes lost",
            "the fault lasted",
        )
    ]
    rows = [
        [
            fault,
            rules_kept(entry),
            f"{entry['requests']:,}",
            str(entry["failed_before_removed"]) if "failed_before_removed" in entry else "—",
            f"{entry['unavailable']:,}",
            str(entry["server_errors"]),
            str(entry["unanswered"]),
            f"{len(entry['writes_lost'])} of {entry['writes_acknowledged']:,}",
            f"{entry['window_s']:.1f} s" if "window_s" in entry else "—",
        ]
        for fault, entry in shown
    ]
    caption = (
        f"*{found['clients']} clients reading and writing on {found['customers']:,}"
        " customers; PgBouncer stays down"
        f" {found['outage_s']:g} s. **the fault lasted**: from the kill until HAProxy had taken"
        f" the instance out (it asks each instance every {balancer.CHECK_EVERY_MS / 1000:g} s"
        f" and takes it out after {balancer.FALL} failed checks), from the first drain until"
        " the last instance was back, or"
        f" PgBouncer's stop and start. Made by `make test-faults` at {made_at(made)}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


RENDERERS = {
    "fleet_connections": render_fleet_connections,
    "fleet_limited": render_fleet_limited,
    "capacity_model": render_capacity_model,
    "fleet_faults": render_fleet_faults,
}
