"""Cached steps (07 on) against a real Redis that stops, and comes back with its data.

Each test runs its own redis-server, saving to disk like a production Redis would, so
that a restart brings back every entry and counter it had: the hard case, where a
write made while Redis was down must still never be hidden by an entry from before.
The step runs as `make serve` runs it, with every worker.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from bench import net, serve, services, steps
from tests.datasets import SMALL

CACHED = [step for step in steps.under_test() if "redis" in step.services]
pytestmark = pytest.mark.skipif(not CACHED, reason="no cached step yet")
LIST = "/api/customers/"
# Only a wait for a server to start or to apply a retry, never a timing assertion.
DEADLINE_S = 30


class Redis:
    """A redis-server of the test's own, stopped and started on one port and one dir."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = net.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                services._redis_binary(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--save", "",
                "--appendonly", "no",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        net.wait_until(
            lambda: services._redis_ping(self.port), DEADLINE_S, "redis-server did not start"
        )

    def stop(self) -> None:
        # SHUTDOWN SAVE writes every key to dump.rdb first; start() loads it again.
        with contextlib.suppress(redis.ConnectionError):
            redis.Redis.from_url(self.url).shutdown(save=True)
        self.process.wait(timeout=DEADLINE_S)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture(params=CACHED, ids=lambda step: step.slug)
def app(request, servers, tmp_path) -> Iterator[tuple[httpx.Client, Redis, str]]:
    step = request.param
    server = Redis(tmp_path)
    server.start()
    url = SMALL.step_url(servers.database_url, step, fresh=True)
    try:
        with (
            serve.running(step, url, server.url) as base_url,
            httpx.Client(base_url=base_url, timeout=30) as http,
        ):
            yield http, server, url
    finally:
        server.stop()


def first_customer(http: httpx.Client) -> dict:
    return http.get(LIST, params={"page_size": 1}).json()["results"][0]


def test_reads_and_writes_go_on_while_redis_is_down(app):
    http, server, _ = app
    customer = first_customer(http)
    detail = f"{LIST}{customer['id']}/"
    http.get(detail)
    assert http.get(detail).headers["X-Cache"] == "hit"
    server.stop()
    for path in (LIST, detail, f"{LIST}?search={customer['last_name']}"):
        response = http.get(path)
        assert (response.status_code, response.headers["X-Cache"]) == (200, "miss")
    patched = http.patch(detail, json={"first_name": "Augusta"})
    assert patched.status_code == 200
    health = http.get("/api/health/")
    assert (health.status_code, health.json()["cache"]) == (200, "degraded")
    server.start()


def test_a_write_while_redis_is_down_is_never_hidden_after_it_returns(app):
    http, server, url = app
    customer = first_customer(http)
    detail = f"{LIST}{customer['id']}/"
    listing = f"{LIST}?search={customer['customer_id']}"
    for _ in range(4):  # both workers, each path stored
        http.get(detail)
        http.get(listing)
    # The step's cache keys start with the name of its database (config/settings.py).
    counter = f"crm:{url.rsplit('/', 1)[1]}:1:list:generation"
    generation = int(server.client().get(counter) or 0)
    server.stop()
    assert http.patch(detail, json={"first_name": "Augusta"}).status_code == 200
    server.start()
    # Redis is back with every entry from before the write. The worker that wrote
    # retries its bump until it lands; wait for that, then no read may show the old name.
    net.wait_until(
        lambda: int(server.client().get(counter) or 0) > generation,
        DEADLINE_S,
        "the failed bump was never retried",
    )
    for _ in range(6):
        assert http.get(detail).json()["first_name"] == "Augusta"
        assert http.get(listing).json()["results"][0]["first_name"] == "Augusta"
