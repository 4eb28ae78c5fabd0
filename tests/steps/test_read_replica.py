"""Steps that read from a replica (11 on), proved under lag: the replica replays every
transaction DELAY_MS after the primary committed it, so a read that reaches it too soon
certainly sees the old row.

- Without read-your-writes (``READ_YOUR_WRITES=0``, a switch that exists only for
  this), a client reads the row it has just changed as it was, and a cache miss stores
  that old row under the new version, where it outlives the lag.
- With it, neither happens, and reads still go to the replica.
- A stopped replica costs no read an error: reads go to the primary until it is back.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from bench import net, pgbouncer, replica, serve, steps
from tests.conftest import need_installed
from tests.datasets import SMALL

REPLICATED = [step for step in steps.under_test() if "replica" in step.services]
pytestmark = pytest.mark.skipif(not REPLICATED, reason="no step reads from a replica yet")
LIST = "/api/customers/"
# Long beside the few milliseconds between a write's answer and the next request, so
# that a read sent to the replica at once certainly misses the write.
DELAY_MS = 1000


@dataclass
class Served:
    base_url: str
    database_url: str

    def client(self) -> httpx.Client:
        """A client of its own: its own cookie jar, as another browser's."""
        return httpx.Client(base_url=self.base_url, timeout=30)

    def caught_up(self) -> None:
        """Wait until the replica has replayed every write made so far."""
        replica.caught_up(self.database_url, replica.ensure(self.database_url, DELAY_MS))

    def replica_reads(self) -> int:
        """The scans of the customer table the replica has answered for the step."""
        streaming = replica.ensure(self.database_url, DELAY_MS)
        return replica.reads(replica.same_database(streaming, self.database_url))

    def reads_reach_the_replica(self, prefix: str) -> None:
        """Unique searches, each a miss, until the replica has answered some (its
        statistics take a moment to show them)."""
        before = self.replica_reads()
        searched = iter(range(10**6))

        def answered() -> bool:
            with self.client() as http:
                for n in itertools.islice(searched, 5):
                    assert http.get(LIST, params={"search": f"{prefix}{n}"}).status_code == 200
            return self.replica_reads() > before

        net.wait_until(answered, 30, "no read reached the replica", interval=0.5)


def _served(request, servers, read_your_writes: bool) -> Iterator[Served]:
    need_installed("pgbouncer", "haproxy")
    if not servers.embedded_postgres or replica.given():
        pytest.skip("the harness makes a replica of its embedded PostgreSQL only")
    copy = "replica" if read_your_writes else "unpinned"
    url = SMALL.step_url(servers.database_url, request.param, fresh=True, copy=copy)
    settings = {"READ_YOUR_WRITES": "1" if read_your_writes else "0"}
    with serve.running(
        request.param, url, servers.redis_url, settings=settings, replica_delay_ms=DELAY_MS
    ) as base_url:
        yield Served(base_url, url)
    # The suites after these meet a replica that keeps up again.
    replica.ensure(url)


@pytest.fixture(scope="module", params=REPLICATED, ids=[step.slug for step in REPLICATED])
def pinned(request, servers) -> Iterator[Served]:
    yield from _served(request, servers, read_your_writes=True)


@pytest.fixture(scope="module", params=REPLICATED, ids=[step.slug for step in REPLICATED])
def unpinned(request, servers) -> Iterator[Served]:
    yield from _served(request, servers, read_your_writes=False)


def created(http: httpx.Client) -> dict:
    body = {
        "customer_id": f"RR-{uuid.uuid4().hex[:12]}",
        "first_name": "Grace",
        "last_name": "Hopper",
        "gender": "female",
    }
    response = http.post(LIST, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def renamed(http: httpx.Client, customer: dict, name: str) -> None:
    response = http.patch(f"{LIST}{customer['id']}/", json={"last_name": name})
    assert response.status_code == 200, response.text


def read(http: httpx.Client, customer: dict) -> dict[str, str]:
    """The customer's last name as each read shows it: detail, a filtered listing, a
    search. Each read twice, so that the second comes from the cache where it can."""

    def last_name(path: str, params: dict | None = None) -> str:
        for _ in range(2):
            response = http.get(path, params=params)
            assert response.status_code == 200, response.text
        body = response.json()
        return body["results"][0]["last_name"] if "results" in body else body["last_name"]

    return {
        "detail": last_name(f"{LIST}{customer['id']}/"),
        "listing": last_name(LIST, {"customer_id": customer["customer_id"]}),
        "search": last_name(LIST, {"search": customer["customer_id"]}),
    }


def settled(served: Served) -> dict:
    """A customer that has reached the replica, read once by everyone (cached)."""
    with served.client() as http:
        customer = created(http)
    served.caught_up()
    with served.client() as http:
        read(http, customer)
    return customer


def test_without_read_your_writes_a_client_reads_the_row_it_just_changed_as_it_was(unpinned):
    customer = settled(unpinned)
    with unpinned.client() as http:
        renamed(http, customer, "Renamed")
        assert read(http, customer)["detail"] == "Hopper"


def test_without_it_a_miss_stores_the_old_row_under_the_new_version_for_good(unpinned):
    customer = settled(unpinned)
    with unpinned.client() as writer, unpinned.client() as other:
        renamed(writer, customer, "Renamed")
        assert read(other, customer) == dict.fromkeys(["detail", "listing", "search"], "Hopper")
        unpinned.caught_up()
        # The replica has the new row; the cache keeps serving the old one.
        assert read(other, customer) == dict.fromkeys(["detail", "listing", "search"], "Hopper")


def test_a_client_reads_its_own_write_at_once_in_every_read(pinned):
    customer = settled(pinned)
    with pinned.client() as http:
        renamed(http, customer, "Renamed")
        assert read(http, customer) == dict.fromkeys(["detail", "listing", "search"], "Renamed")
        created_now = created(http)
        assert read(http, created_now) == dict.fromkeys(["detail", "listing", "search"], "Hopper")


def test_no_client_is_served_the_old_row_from_the_cache_before_or_after_the_replica_caught_up(
    pinned,
):
    customer = settled(pinned)
    with pinned.client() as writer, pinned.client() as other:
        renamed(writer, customer, "Renamed")
        # A miss after the bump waits for the write's position: from the primary now.
        assert read(other, customer) == dict.fromkeys(["detail", "listing", "search"], "Renamed")
        pinned.caught_up()
        assert read(other, customer) == dict.fromkeys(["detail", "listing", "search"], "Renamed")


def test_reads_go_to_the_replica(pinned):
    settled(pinned)
    pinned.reads_reach_the_replica("replica")


def test_a_pin_that_is_not_ours_is_ignored(pinned):
    with pinned.client() as http:
        http.cookies.set("crm_written", "99999999999:forged:signature")
        response = http.get(LIST)
    assert response.status_code == 200


def test_a_stopped_replica_costs_no_read_an_error_and_is_used_again_when_back(pinned):
    settled(pinned)
    replica.stop()
    try:
        with pinned.client() as http:
            statuses = {
                http.get(LIST, params={"search": f"stopped{n}"}).status_code for n in range(12)
            }
        assert statuses == {200}
    finally:
        replica.ensure(pinned.database_url, DELAY_MS)
    pinned.caught_up()
    pinned.reads_reach_the_replica("back")


def test_the_replica_has_a_pgbouncer_of_its_own(pinned):
    bouncer = serve.read_replica(pinned.database_url, DELAY_MS)
    assert urlport(bouncer) != urlport(pgbouncer.ensure(pinned.database_url))
    assert pgbouncer.REPLICA.pid() is not None


def urlport(url: str) -> int:
    return psycopg.conninfo.conninfo_to_dict(url)["port"]
