"""Step 11's figures: which server answered the statements, what the primary spent, and
how far behind the replica was, scenario by scenario, against the step before it
(bench/run.py ``servers_seen``, bench/cpu.py)."""

from __future__ import annotations

from bench.tables import Column, markdown
from renderers.common import (
    STATE,
    fmt_ms,
    fmt_number,
    made_at,
    measured,
    note,
    previous,
    step_of,
)


def _share(by_server: dict | None) -> str:
    if not by_server or by_server.get("replica") is None:
        return "—"
    total = (by_server.get("primary") or 0) + by_server["replica"]
    return f"{by_server['replica'] / total:.0%}" if total else "—"


def _rate(by_server: dict | None, server: str) -> str:
    value = (by_server or {}).get(server)
    return "—" if value is None else fmt_number(value, 0)


def _cpu(scenario: dict, part: str) -> str:
    value = (scenario.get("cpu_ms_per_request") or {}).get(part)
    return "—" if value is None else fmt_ms(value)


def render_replica_reads(slug: str, src_uri: str) -> str:
    """``{{ replica_reads 11-read-replica }}``: per scenario, the statements per second
    each server was sent, the replica's share of them, and the primary's CPU per request,
    beside the step before (which reads from the primary only)."""
    mine, before = measured(slug), previous(slug)
    old = before["slug"][:2] if before else "before"
    new = slug[:2]
    columns = [
        Column("scenario"),
        Column(f"primary stmt/s, {old}", ">"),
        Column(f"primary stmt/s, {new}", ">"),
        Column(f"replica stmt/s, {new}", ">"),
        Column("replica's share", ">"),
        Column(f"primary CPU/req, {old}", ">"),
        Column(f"primary CPU/req, {new}", ">"),
        Column(f"replica CPU/req, {new}", ">"),
    ]
    rows = []
    for name, scenario in mine["scenarios"].items():
        if name.endswith("-open"):
            continue
        earlier = (before or {}).get("scenarios", {}).get(name, {})
        seen = scenario.get("queries_per_second_by_server")
        seen_before = earlier.get("queries_per_second_by_server")
        rows.append(
            [
                name,
                _rate(seen_before, "primary"),
                _rate(seen, "primary"),
                _rate(seen, "replica"),
                _share(seen),
                _cpu(earlier, "postgresql"),
                _cpu(scenario, "postgresql"),
                _cpu(scenario, "replica"),
            ]
        )
    caption = (
        f"*Statements per second that each PgBouncer passed on while the scenario ran"
        f" (its pool's check of each connection it hands out included), and CPU per request"
        f" of the primary's and the replica's processes, medians of the repeats, from the"
        f" run {STATE['result']['run']['id']}. Steps {step_of(slug).label} and {old}"
        " ran in the same run, on the same data and the same cores.*"
    )
    return f"{markdown(columns, rows)}\n\n{caption}"


def render_replica_lag(slug: str, src_uri: str) -> str:
    """``{{ replica_lag 11-read-replica }}``: how far behind the replica was while each
    scenario ran."""
    mine = measured(slug)
    columns = [Column("scenario"), *(Column(t, ">") for t in ("median", "p95", "most"))]
    rows = []
    for name, scenario in mine["scenarios"].items():
        lag = scenario.get("replica_lag_ms")
        if not lag:
            continue
        rows.append(
            [name, *("—" if lag[k] is None else fmt_ms(lag[k]) for k in ("median", "p95", "max"))]
        )
    caption = (
        "*The replica's lag as the primary measures it (`pg_stat_replication.replay_lag`:"
        " from flushing WAL to hearing that the replica has replayed it), sampled every"
        " 0.1 s while each scenario ran; median and 95th percentile are the medians of the"
        " repeats', the most is the most of any repeat.*"
    )
    return f"{markdown(columns, rows)}\n\n{caption}"


# The replicas the model lines up behind the one primary.
REPLICAS = (0, 1, 2, 4, 8)


def render_replica_model(arg: str, src_uri: str) -> str:
    """``{{ replica_model 11-read-replica mixed }}``: step 10's capacity model with R
    replicas beside the shared machine. The primary's machine (PostgreSQL, PgBouncer,
    HAProxy) carries what the primary and the proxies spent per request; each replica's
    machine its share of what the replica spent; the app machines what the app spent.
    With no replica, the primary carries everything it carried on the step before."""
    from renderers.fleets import cpu_of

    slug, scenario = arg.split()
    spent = cpu_of(slug, scenario)
    before = previous(slug)
    alone = cpu_of(before["slug"], scenario) if before else spent
    cores = STATE["result"]["machine"]["cores"]
    budget = cores * 1000

    def limit(ms: float | None) -> float:
        return budget / ms if ms else float("inf")

    app = limit(spent["app"])
    columns = [
        Column("replicas", ">"),
        Column("the primary's machine can serve, req/s", ">"),
        Column("the replicas can serve, req/s", ">"),
        Column("the database side carries, req/s", ">"),
        Column("app machines it keeps busy", ">"),
    ]
    rows = []
    for replicas in REPLICAS:
        if replicas:
            primary = limit(spent["postgresql"] + (spent.get("proxies") or 0))
            reading = replicas * limit(spent.get("replica"))
        else:
            primary = limit(alone["postgresql"] + (alone.get("proxies") or 0))
            reading = float("inf")
        carried = min(primary, reading)
        rows.append(
            [
                str(replicas),
                fmt_number(primary, 0),
                "—" if reading == float("inf") else fmt_number(reading, 0),
                f"**{fmt_number(carried, 0)}**",
                fmt_number(carried / app, 1),
            ]
        )
    caption = (
        f"*From `{scenario}` in the run {STATE['result']['run']['id']}: per request,"
        f" {fmt_ms(spent['app'])} of CPU in the app instances,"
        f" {fmt_ms(spent['postgresql'])} in the primary and"
        f" {_cpu(mine_scenario(slug, scenario), 'replica')} in the replica on step"
        f" {step_of(slug).label}; with no replica, the primary's"
        f" {fmt_ms(alone['postgresql'])} of step {before['slug'][:2] if before else '—'}."
        f" Every machine has {cores} cores, as this one. The replicas share the reads"
        " evenly; the primary keeps the writes, the reads a replica has not replayed yet,"
        " and PgBouncer and HAProxy, as in step 10's model, under its assumptions.*"
    )
    return f"{markdown(columns, rows)}\n\n{caption}"


def mine_scenario(slug: str, scenario: str) -> dict:
    return measured(slug)["scenarios"][scenario]


def render_replica_faults(slug: str, src_uri: str) -> str:
    """``{{ replica_faults 11-read-replica }}``: what the clients saw while the replica
    was stopped, and while it applied every transaction late (``make test-faults``)."""
    from bench import faults
    from renderers.reliability import reliability_result, rules_kept

    found = reliability_result()
    entries = ((found or {"steps": {}})["steps"]).get(slug, {})
    shown = [(fault, entries[fault]) for fault in faults.REPLICA_FAULTS if fault in entries]
    if not shown:
        return note(
            "Not measured yet",
            f"`make test-faults STEPS={step_of(slug).number}` stops the replica, and holds"
            " it back, under load.",
        )
    made = ((found.get("made") or {}).get(slug) or {}).get(shown[0][0]) or found
    columns = [Column("fault"), Column("rules")]
    columns += [
        Column(title, ">")
        for title in (
            "requests",
            "5xx",
            "no answer",
            "slowest during",
            "own writes read old",
            "replica's reads once back",
            "acknowledged writes lost",
        )
    ]
    rows = [
        [
            fault,
            rules_kept(entry),
            f"{entry['requests']:,}",
            str(entry["unavailable"] + entry["server_errors"]),
            str(entry["unanswered"]),
            f"{entry['slowest_during_s']:.2f} s",
            str(len(entry.get("own_reads_stale", []))),
            f"{entry['replica_reads_after']:,}" if "replica_reads_after" in entry else "—",
            f"{len(entry['writes_lost'])} of {entry['writes_acknowledged']:,}",
        ]
        for fault, entry in shown
    ]
    caption = (
        f"*{found['clients']} clients reading and writing on {found['customers']:,}"
        f" customers; the replica stays stopped, or applies each transaction"
        f" {faults.LAG_MS / 1000:g} s late, for {found['outage_s']:g} s. **own writes read"
        " old**: renames whose client read the old name right after; **replica's reads"
        " once back**: scans of the customer table it answered after it was back. Made by"
        f" `make test-faults` at {made_at(made)}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


RENDERERS = {
    "replica_faults": render_replica_faults,
    "replica_reads": render_replica_reads,
    "replica_lag": render_replica_lag,
    "replica_model": render_replica_model,
}
