"""What PostgreSQL holds as app instances are added: a pool per instance, or PgBouncer.

Step 10 serves step 09's code as instances behind HAProxy, through PgBouncer. Here both
run as 1, 2, 4 and 8 instances (``FLEET_SIZES``) behind the same HAProxy: step 09 with
each instance's pool connected to PostgreSQL, as it would be deployed on N machines,
and step 10 through PgBouncer. While ``mixed`` runs, a thread samples the client
backends PostgreSQL holds for the step's database (``pg_stat_activity``), and k6 says
what the clients saw. Clients grow with instances, ``VUS`` per instance: a team adds
instances because it has more clients.
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import replace

from bench import paths, serve, steps, variables
from bench.workload import k6, measured, settle

SCENARIO = "mixed"
# How often the sampler reads pg_stat_activity: often enough to see a burst of new
# connections, on one connection of its own that the count leaves out.
SAMPLE_EVERY_S = 0.1
HELD = """
    SELECT count(*), count(*) FILTER (WHERE state = 'active')
    FROM pg_stat_activity
    WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


def sizes() -> list[int]:
    given = variables.text("FLEET_SIZES")
    try:
        found = sorted({int(part) for part in given.split(",") if part.strip()})
    except ValueError:
        found = []
    if not found or found[0] < 1:
        raise SystemExit(f"FLEET_SIZES={given!r}: give instance counts, such as 1,2,4,8")
    return found


def pair(selected: list[steps.Step]) -> tuple[steps.Step, steps.Step] | None:
    """The first step served through PgBouncer and the step before it, whose code it
    runs, when both are measured."""
    by_number = {step.number: step for step in selected}
    for step in selected:
        if step.fleet and "pgbouncer" in step.services and step.number - 1 in by_number:
            return by_number[step.number - 1], step
    return None


class Sampler:
    """Counts, in a thread, the connections PostgreSQL holds for one database: the most
    held and the most running a query at once, and the median held."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self.held: list[int] = []
        self.active: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            name = conn.info.dbname
            while not self._stop.is_set():
                held, active = conn.execute(HELD, [name]).fetchone()
                self.held.append(held)
                self.active.append(active)
                self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self) -> dict[str, int | None]:
        return {
            "max": max(self.held, default=None),
            "median": round(statistics.median(self.held)) if self.held else None,
            "max_active": max(self.active, default=None),
        }


def measure(
    step: steps.Step,
    database_url: str,
    redis_url: str | None,
    terms_file,
    settings,
    instances: int,
    via_pgbouncer: bool,
) -> dict:
    """``mixed`` against ``step`` served as ``instances`` instances: what the clients saw
    and the connections PostgreSQL held meanwhile."""
    settings = replace(settings, vus=settings.vus * instances)
    logs = paths.CACHE_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (
        (logs / f"bench-fleet-{step.slug}.log").open("a") as log,
        serve.fleet(
            step, database_url, redis_url, output=log,
            instances=instances, via_pgbouncer=via_pgbouncer,
        ) as base_url,
    ):  # fmt: skip
        # Warm-up: every instance's pool, or PgBouncer's, as full as the load makes it.
        k6(base_url, terms_file, SCENARIO, settings, settings.warmup_s)
        settle(database_url)
        with Sampler(database_url) as sampler:
            summary = k6(base_url, terms_file, SCENARIO, settings, settings.duration_s)
        settle(database_url)
    found = measured(summary, settings.duration_s)
    return {
        "step": step.slug,
        "instances": instances,
        "pgbouncer": via_pgbouncer,
        "vus": settings.vus,
        "connections": sampler.figures(),
        **{
            key: found[key]
            for key in ("requests", "requests_per_second", "latency_ms", "errors", "error_kinds")
        },
    }
