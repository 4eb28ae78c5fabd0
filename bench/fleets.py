"""What PostgreSQL holds as app instances are added: a pool per instance, or PgBouncer.

Step 10 serves step 09's code as instances behind HAProxy, through PgBouncer. Here both
run as 1, 2, 4 and 8 instances (``FLEET_SIZES``) behind the same HAProxy: step 09 with
each instance's pool connected to PostgreSQL, as it would be deployed on N machines,
and step 10 through PgBouncer. While ``mixed`` runs, a thread samples the client
backends PostgreSQL holds for the step's database (``pg_stat_activity``), and k6 says
what the clients saw. Clients grow with instances, ``VUS`` per instance: a team adds
instances because it has more clients.

At the most instances, both run once more against a server that allows the app only
the connections PgBouncer keeps (``limited``): what a smaller server, or more
instances, would do to a pool per instance, and what PgBouncer does instead.
"""

from __future__ import annotations

import contextlib
import secrets
import statistics
import threading
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

from bench import balancer, paths, pgbouncer, serve, services, steps, variables
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


# Who the instances log in as when the server allows them few connections: a role, since
# PostgreSQL holds no superuser to a connection limit.
LIMITED_ROLE = "crm_fleet"
# PostgreSQL's words for a connection past a limit: max_connections, a role's, a database's.
REFUSED = b"too many c"
HANG_UP = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s"


def limit_for(database_url: str) -> int:
    """The connections the limited run allows the app: PgBouncer's pool, all that
    step 10 ever opens on this server."""
    return pgbouncer.server_connections(
        int(services.server_settings(database_url)["max_connections"])
    )


@contextlib.contextmanager
def limited(database_url: str, limit: int) -> Iterator[str]:
    """``database_url`` as a role PostgreSQL lets open ``limit`` connections and no more:
    the app on a server that allows it that many, as a smaller server's max_connections
    would, while the harness's own connections stay free. PostgreSQL refuses the next
    one with "too many connections for role"."""
    import psycopg
    from psycopg import sql

    role = sql.Identifier(LIMITED_ROLE)
    # A server that asks for passwords (DATABASE_URL) gets one; the embedded one trusts.
    secret = secrets.token_urlsafe(16)
    with psycopg.connect(database_url, autocommit=True) as conn:
        known = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [LIMITED_ROLE])
        if known.fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        altered = sql.SQL("ALTER ROLE {} CONNECTION LIMIT {} PASSWORD {}")
        conn.execute(altered.format(role, limit, secret))
        for kind in ("TABLES", "SEQUENCES"):
            granted = sql.SQL("GRANT ALL ON ALL {} IN SCHEMA public TO {}")
            conn.execute(granted.format(sql.SQL(kind), role))
        # What an earlier run left logged in as the role (PgBouncer's idle pool) would
        # count against the limit.
        conn.execute(HANG_UP, [LIMITED_ROLE])
    parts = urlsplit(database_url)
    address = parts.netloc.rpartition("@")[2]
    try:
        yield parts._replace(netloc=f"{LIMITED_ROLE}:{secret}@{address}").geturl()
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(HANG_UP, [LIMITED_ROLE])


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

    def __init__(self, database_url: str, front: int | None = None):
        self.database_url = database_url
        self.front = front
        self.held: list[int] = []
        self.active: list[int] = []
        # How many instances HAProxy on ``front`` sent requests to, at each sample.
        self.up: list[int] = []
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
                if self.front is not None:
                    self.up.append(sum(balancer.servers_up(self.front).values()))
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

    def fewest_up(self) -> int | None:
        return min(self.up, default=None)


def measure(
    step: steps.Step,
    database_url: str,
    redis_url: str | None,
    terms_file,
    settings,
    instances: int,
    via_pgbouncer: bool,
    limit: int | None = None,
) -> dict:
    """``mixed`` against ``step`` served as ``instances`` instances: what the clients saw
    and the connections PostgreSQL held meanwhile; with ``limit``, on a server that
    allows the instances (or PgBouncer) that many connections."""
    settings = replace(settings, vus=settings.vus * instances)
    logs = paths.CACHE_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"bench-fleet-{step.slug}.log"
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(log_path.open("a"))
        began = log.tell()
        served = stack.enter_context(limited(database_url, limit)) if limit else database_url
        # Pools that cannot all open their connections leave some instances unhealthy:
        # the run measures what the clients see then, rather than waiting for them.
        healthy = via_pgbouncer or not limit
        base_url = stack.enter_context(
            serve.fleet(
                step, served, redis_url, output=log, healthy=healthy,
                instances=instances, via_pgbouncer=via_pgbouncer,
            )
        )  # fmt: skip
        # Warm-up: every instance's pool, or PgBouncer's, as full as the load makes it.
        k6(base_url, terms_file, SCENARIO, settings, settings.warmup_s)
        settle(database_url)
        front = balancer.front_of(base_url)
        with Sampler(database_url, front) as sampler:
            summary = k6(base_url, terms_file, SCENARIO, settings, settings.duration_s)
        settle(database_url)
    found = measured(summary, settings.duration_s)
    with log_path.open("rb") as written:
        written.seek(began)
        # psycopg's pool logs each connection PostgreSQL refused it, in every instance.
        refused = written.read().count(REFUSED)
    return {
        "step": step.slug,
        "instances": instances,
        "pgbouncer": via_pgbouncer,
        **({"limit": limit} if limit else {}),
        "vus": settings.vus,
        "connections": sampler.figures(),
        "fewest_instances_up": sampler.fewest_up(),
        "refused_connections": refused,
        **{
            key: found[key]
            for key in ("requests", "requests_per_second", "latency_ms", "errors", "error_kinds")
        },
    }
