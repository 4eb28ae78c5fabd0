"""Steps served through PgBouncer (10 on): every connection the app uses is one of
PgBouncer's, and PostgreSQL holds no more than PgBouncer's pool however many requests
the instances take at once. The step runs as `make serve` runs it, every instance
behind HAProxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from bench import fleets, pgbouncer, serve, services, steps
from tests.conftest import need_installed
from tests.datasets import SMALL

POOLED = [step for step in steps.under_test() if "pgbouncer" in step.services]
pytestmark = pytest.mark.skipif(not POOLED, reason="no step served through PgBouncer yet")


def backends(database_url: str) -> set[int]:
    """The client backends PostgreSQL holds for this database, this one's aside."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return {pid for (pid,) in rows}


@pytest.fixture(scope="module", params=POOLED, ids=[step.slug for step in POOLED])
def served(request, servers) -> Iterator[tuple[str, str]]:
    need_installed("pgbouncer", "haproxy")
    url = SMALL.step_url(servers.database_url, request.param, fresh=True, copy="pooled")
    with serve.running(request.param, url, servers.redis_url) as base_url:
        yield base_url, url


def test_every_connection_the_instances_use_is_one_pgbouncer_holds(served, servers):
    base_url, url = served
    allowed = int(services.server_settings(servers.database_url)["max_connections"])
    with (
        httpx.Client(base_url=base_url, timeout=30) as http,
        ThreadPoolExecutor(16) as pool,
        fleets.Sampler(url) as sampler,
    ):
        paths = [f"/api/customers/?search=a{n}&ordering=-points" for n in range(64)]
        assert set(pool.map(lambda path: http.get(path).status_code, paths)) == {200}
    # While sixteen clients asked at once, and after.
    assert 0 < sampler.figures()["max"] <= pgbouncer.server_connections(allowed)
    used = backends(url)
    assert used
    assert used <= pgbouncer.server_pids(pgbouncer.ensure(url))
