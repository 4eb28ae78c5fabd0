"""``make measure-wal``: what the WAL a replica needs costs the ladder's measurements.

The embedded PostgreSQL writes replica WAL (``services.PG_SETTINGS``), so that a step
that reads from a replica can have one made of it (``bench/replica.py``). With
``wal_level = minimal`` the seeder's loads into freshly truncated tables, and the index
builds after them, would skip WAL. This measures both
levels on one server, restarted between them, rounds taking turns: how long the seeder
takes and how much WAL it writes, and the `write` scenario against the last step
served as one server. The figures go to ``docs/results/wal.json``, which the
methodology page renders.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time

import psycopg

from bench import (
    ceiling,
    database,
    replica,
    results,
    run,
    serve,
    services,
    steps,
    venvs,
    workload,
)

RESULT = results.RESULTS_DIR / "wal.json"
PREFIX = "crm_wal"
# The base seeded and dropped in each round: its own prefix, so the step's stays.
SEEDED = "crm_wal_seeded"
SCENARIO = "write"
# Each level on top of the measuring settings; replica is the settings as they are.
LEVELS = {"minimal": {"wal_level": "minimal", "max_wal_senders": "0"}, "replica": {}}


def quiet(_: str) -> None:
    """The seeder's and the migrations' own lines: the round's summary says enough."""


def _since(url: str, lsn: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(
            conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [lsn]).fetchone()[0]
        )


def one_round(level: str, step: steps.Step, customers: int, seed: int, settings) -> dict:
    """Seed and measure ``write`` on a server restarted at ``level``."""
    with services.restarted_with(LEVELS[level]):
        found = services.ensure()
        in_force = services.server_settings(found.database_url)["wal_level"]
        database.drop_all(found.database_url, SEEDED)
        mark, started = replica.written(found.database_url), time.perf_counter()
        database.prepare_base(found.database_url, customers, seed, SEEDED, log=quiet)
        seeded_s = time.perf_counter() - started
        wal_bytes = _since(found.database_url, mark)
        database.drop_all(found.database_url, SEEDED)
        # The step's database outlives the restarts: both levels write to the same one.
        url = database.prepare_step(found.database_url, step, customers, seed, PREFIX, log=quiet)
        terms = database.terms_path(database.base_fingerprint(customers, seed))
        with serve.running(step, url, found.redis_url) as base_url:
            workload.k6(base_url, terms, SCENARIO, settings, settings.warmup_s)
            measured = workload.k6(base_url, terms, SCENARIO, settings, settings.duration_s)
    return {
        "level": level,
        "wal_level": in_force,
        "seed_s": round(seeded_s, 2),
        "seed_wal_bytes": wal_bytes,
        "write_rps": round(measured["requests_per_second"], 1),
        "write_p95_ms": measured["latency_ms"]["p95"],
    }


def measure(customers: int, seed: int, rounds: int, settings, log=print) -> dict:
    # The code measured is the code at the start, whatever changes while it runs.
    revision, dirty = results.git_revision()
    found = services.ensure(redis=False)
    if not found.embedded_postgres:
        raise SystemExit(
            "[wal] the measurement restarts the embedded PostgreSQL: unset DATABASE_URL"
        )
    # A server with a replication slot refuses to start on minimal WAL.
    replica.forget(found.database_url)
    database.drop_all(found.database_url, PREFIX)
    step = ceiling.step_of(steps.discover())
    # Built now, not inside a round's timing: the seeder migrates with the first step.
    for needed in (steps.discover()[0], step):
        venvs.ensure(needed)
    measured = []
    for index in range(1, rounds + 1):
        for level in LEVELS:
            log(f"[wal] round {index}/{rounds}: wal_level = {level}")
            entry = one_round(level, step, customers, seed, settings)
            log(
                f"[wal]   seeded in {entry['seed_s']:.1f} s, {entry['seed_wal_bytes'] / 1e6:,.0f}"
                f" MB of WAL; write {entry['write_rps']:,.1f} req/s"
            )
            measured.append(entry)
    database.drop_all(found.database_url, PREFIX)
    return {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_revision": revision,
        "git_dirty": dirty,
        "command": "make measure-wal",
        "customers": customers,
        "step": step.slug,
        "scenario": SCENARIO,
        "duration_s": settings.duration_s,
        "vus": settings.vus,
        "rounds": measured,
    }


def summary(found: dict) -> dict[str, dict]:
    """Per level: the median and the range of each figure over the rounds."""
    shown = {}
    for level in LEVELS:
        mine = [entry for entry in found["rounds"] if entry["level"] == level]
        shown[level] = {
            name: (
                statistics.median(entry[name] for entry in mine),
                min(entry[name] for entry in mine),
                max(entry[name] for entry in mine),
            )
            for name in ("seed_s", "seed_wal_bytes", "write_rps")
        }
    return shown


def main(settings: run.Settings, customers: int, seed: int) -> int:
    found = measure(customers, seed, settings.repeats, settings)
    RESULT.write_text(json.dumps(found, indent=1) + "\n")
    print(f"[wal] written: {RESULT}")
    return 0
