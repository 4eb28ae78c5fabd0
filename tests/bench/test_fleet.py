"""The harness's fleet: a step served as several instances behind HAProxy, reaching
PostgreSQL through PgBouncer, one address for every client. Step 10 runs so; the last
step serves here, as any step can be served to compare with it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from bench import balancer, net, pgbouncer, serve, steps
from tests.datasets import SMALL


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def fleet(servers) -> Iterator[tuple[str, str]]:
    missing = [problem for problem in (pgbouncer.missing(), balancer.missing()) if problem]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{'; '.join(missing)}: .ci/run installs them")
        pytest.skip("; ".join(missing))
    step = steps.discover()[-1]
    url = SMALL.step_url(servers.database_url, step, fresh=True, copy="fleet")
    with serve.fleet(step, url, servers.redis_url, instances=2, via_pgbouncer=True) as base_url:
        yield base_url, url


def backends(database_url: str) -> set[int]:
    """PostgreSQL's backend processes connected to this database, but this one."""
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return {pid for (pid,) in rows}


def test_every_instance_serves_through_the_one_address(fleet):
    base_url, _ = fleet
    before = balancer.served(port_of(base_url))
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for _ in range(20):
            assert http.get("/api/customers/").status_code == 200
    after = balancer.served(port_of(base_url))
    assert set(after) == {"app1", "app2"}
    assert all(after[name] > before.get(name, 0) for name in after)


def test_every_connection_the_instances_use_is_one_pgbouncer_holds(fleet):
    base_url, url = fleet
    with httpx.Client(base_url=base_url, timeout=30) as http, ThreadPoolExecutor(8) as pool:
        paths = [f"/api/customers/?search=a{n}" for n in range(40)]
        assert set(pool.map(lambda path: http.get(path).status_code, paths)) == {200}
    used = backends(url)
    assert used
    assert used <= pgbouncer.server_pids(pgbouncer.ensure(url))


def test_a_write_through_one_instance_is_read_through_another(fleet):
    base_url, _ = fleet
    customer = {
        "customer_id": "FLEET-1",
        "first_name": "Grace",
        "last_name": "Hopper",
        "gender": "female",
        "phone_number": "+1 202 5550100",
        "birthday": "1906-12-09",
        "address": {
            "street": "Pennsylvania Avenue",
            "street_number": "1600",
            "city_code": "20500",
            "city": "Washington",
            "country": "USA",
        },
    }
    with httpx.Client(base_url=base_url, timeout=30) as http:
        created = http.post("/api/customers/", json=customer)
        assert created.status_code == 201, created.text
        pk = created.json()["id"]
        before = balancer.served(port_of(base_url))
        answers = [http.get(f"/api/customers/{pk}/") for _ in range(4)]
        after = balancer.served(port_of(base_url))
        assert {a.status_code for a in answers} == {200}
        assert {a.json()["first_name"] for a in answers} == {"Grace"}
        # Both instances answered a read of the write, whichever one took the write.
        assert all(after[name] > before[name] for name in after)
        assert http.delete(f"/api/customers/{pk}/").status_code == 204
    assert net.health_status(base_url) == 200
