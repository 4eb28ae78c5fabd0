"""The harness's fleet: a step served as several instances behind HAProxy, reaching
PostgreSQL through PgBouncer, one address for every client. Step 10 runs so; the last
step served as one server runs so here, as any step can be, to compare with it. Then the connection
figures of a run (bench/fleets.py): what PostgreSQL holds as instances are added, with
a pool per instance and through PgBouncer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from bench import (
    balancer,
    ceiling,
    database,
    fleets,
    net,
    pgbouncer,
    results,
    run,
    serve,
    services,
    steps,
)
from tests.conftest import need_installed
from tests.datasets import SMALL


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def fleet(servers) -> Iterator[tuple[str, str]]:
    need_installed("pgbouncer", "haproxy")
    # A step served as one server by make serve: any step can be served so, to compare.
    step = ceiling.step_of(steps.discover())
    url = SMALL.step_url(servers.database_url, step, fresh=True, copy="fleet")
    with serve.fleet(step, url, servers.redis_url, instances=2, via_pgbouncer=True) as base_url:
        yield base_url, url


def test_every_instance_serves_through_the_one_address(fleet):
    base_url, _ = fleet
    before = balancer.served(port_of(base_url))
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for _ in range(20):
            assert http.get("/api/customers/").status_code == 200
    after = balancer.served(port_of(base_url))
    assert set(after) == {"app1", "app2"}
    assert all(after[name] > before.get(name, 0) for name in after)


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


def test_the_sampler_counts_the_connections_held_and_those_running_a_query(servers):
    url = SMALL.step_url(servers.database_url, steps.discover()[0], copy="sampler")
    with contextlib.ExitStack() as stack:
        idle = [stack.enter_context(psycopg.connect(url, autocommit=True)) for _ in range(3)]
        busy = stack.enter_context(psycopg.connect(url, autocommit=True))
        with fleets.Sampler(url) as sampler:
            busy.execute("SELECT pg_sleep(0.5)")
        assert len(idle) == 3
    assert sampler.figures() == {"max": 4, "median": 4, "max_active": 1}


def test_the_pair_is_the_first_step_through_pgbouncer_and_the_one_before_it():
    present = steps.discover()
    pooled = next(step for step in present if "pgbouncer" in step.services)
    before = next(step for step in present if step.number == pooled.number - 1)
    assert fleets.pair(present) == (before, pooled)
    assert fleets.pair([pooled]) is None
    assert fleets.pair([before]) is None


@pytest.mark.parametrize("given", ["0,2", "two", " , "])
def test_fleet_sizes_must_be_instance_counts(monkeypatch, given):
    monkeypatch.setenv("FLEET_SIZES", given)
    with pytest.raises(SystemExit, match="FLEET_SIZES"):
        fleets.sizes()


@pytest.fixture(scope="module")
def figures(servers, tmp_path_factory) -> dict:
    """A run's connection figures at one and two instances, on the small data set."""
    need_installed("pgbouncer", "haproxy")
    present = steps.discover()
    pair = fleets.pair(present)
    settings = run.Settings(
        vus=4, duration_s=2, warmup_s=1, open_rate=10, max_vus=8, scenarios=["list"]
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLEET_SIZES", "1,2")
        sitting = run.Sitting.start(
            list(pair), SMALL.customers, SMALL.seed, settings, SMALL.prefix, fresh=True
        )
        sitting.seed()
        sitting.measure_fleets()
        found = sitting.fleet_result()
    sitting.kept.discard()
    return found


def test_the_figures_pair_every_size_with_and_without_pgbouncer(figures, servers):
    results.validate({**results.load(results.published()), "fleets": figures})
    runs = [
        (r["step"], r["instances"], r["pgbouncer"], r["vus"], r.get("limit"))
        for r in figures["runs"]
    ]
    before, pooled = figures["step"], figures["pooled_step"]
    limit = pgbouncer.server_connections(
        int(services.server_settings(servers.database_url)["max_connections"])
    )
    assert runs == [
        (before, 1, False, 4, None), (pooled, 1, True, 4, None),
        (before, 2, False, 8, None), (pooled, 2, True, 8, None),
        # The most instances again, on a server allowing PgBouncer's pool.
        (before, 2, False, 8, limit), (pooled, 2, True, 8, limit),
    ]  # fmt: skip
    # Two instances of four clients each ask for fewer connections than that.
    assert all(r["errors"] == 0 and r["requests"] > 0 for r in figures["runs"])
    assert all(r["refused_connections"] == 0 for r in figures["runs"])
    assert all(r["fewest_instances_up"] == r["instances"] for r in figures["runs"])


def test_pools_that_ask_past_the_limit_are_refused_and_the_run_still_measures(servers):
    """Two instances of the step before PgBouncer keep two connections each from the
    start; a server allowing three refuses the fourth, and the run goes on."""
    need_installed("haproxy")
    before, _ = fleets.pair(steps.discover())
    url = SMALL.step_url(servers.database_url, before)
    terms_file = database.terms_path(database.base_fingerprint(SMALL.customers, SMALL.seed))
    settings = run.Settings(
        vus=2, duration_s=2, warmup_s=1, open_rate=10, max_vus=4, scenarios=["list"]
    )
    found = fleets.measure(before, url, servers.redis_url, terms_file, settings, 2, False, 3)
    assert found["limit"] == 3
    assert found["refused_connections"] > 0
    assert found["connections"]["max"] <= 3
    assert found["requests"] > 0


def test_a_limited_server_refuses_the_role_past_its_limit_and_lets_it_read(servers):
    url = services.with_database(servers.database_url, "postgres")
    with fleets.limited(url, 2) as limited, contextlib.ExitStack() as held:
        assert psycopg.conninfo.conninfo_to_dict(limited)["user"] == fleets.LIMITED_ROLE
        for _ in range(2):
            conn = held.enter_context(psycopg.connect(limited))
            assert conn.execute("SELECT current_user").fetchone() == (fleets.LIMITED_ROLE,)
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            psycopg.connect(limited).close()
        # The harness's own connections are not the app's: the limit leaves them free.
        psycopg.connect(url).close()


def test_through_pgbouncer_postgresql_holds_no_more_than_its_pool(figures, servers):
    allowed = int(services.server_settings(servers.database_url)["max_connections"])
    budget = pgbouncer.server_connections(allowed)
    pooled = [r for r in figures["runs"] if r["pgbouncer"]]
    assert all(0 < r["connections"]["max"] <= budget for r in pooled)


def test_with_a_pool_per_instance_every_instance_holds_its_own(figures):
    # Each instance's pool keeps its min_size (2) connections however little it is asked.
    own = {r["instances"]: r["connections"]["max"] for r in figures["runs"] if not r["pgbouncer"]}
    assert all(held >= 2 * instances for instances, held in own.items())
