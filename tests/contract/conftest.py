"""Boot every step once, exactly as `make serve` does, against a small seeded database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from bench import paths, serve, steps
from tests.datasets import SMALL

LIST = "/api/customers/"
# How long a request may wait for a pooled connection (steps 02-08). Longer than any
# burst of test_service.py takes to drain on a slow machine: at the default 5 s (a quick
# 503 in an outage, make test-faults) that test would judge the machine's speed.
POOL_WAIT = {"DB_POOL_TIMEOUT": "120"}
# The contract's orderings (DESIGN §4), each also descending.
ORDERING_KEYS = ["created", "first_name", "last_name", "birthday", "points", "customer_id"]
ORDERINGS = [f"{sign}{key}" for key in ORDERING_KEYS for sign in ("", "-")]
ADDRESS = {
    "street": "Rue de Rivoli",
    "street_number": "99",
    "city_code": "75001",
    "city": "Paris",
    "country": "France",
}


def new_customer(**changes) -> dict:
    return {
        "customer_id": f"CT-{uuid.uuid4().hex[:12]}",
        "first_name": "Hedy",
        "last_name": "Lamarr",
        "gender": "female",
        "phone_number": "+43 1 5550100",
        "birthday": "1914-11-09",
        "address": ADDRESS,
        **changes,
    }


@dataclass
class Target:
    step: steps.Step
    base_url: str
    database_url: str
    http: httpx.Client

    def sql(self, query: str, params=(), fetch: bool = True) -> list[tuple]:
        """Ground truth, read straight from the step's database (committed)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            # No parameters, the simple protocol: one call may hold several statements.
            cursor = conn.execute(query, params or None)
            return cursor.fetchall() if fetch else []

    def ids(self, query: str, params=()) -> set[int]:
        return {row[0] for row in self.sql(query, params)}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name in ("target", "scratch"):
        if name in metafunc.fixturenames:
            judged = steps.under_test()
            metafunc.parametrize(
                name, judged, ids=[s.slug for s in judged], indirect=True, scope="session"
            )


@contextmanager
def _booted(servers, step: steps.Step, copy: str = "") -> Iterator[Target]:
    url = SMALL.step_url(servers.database_url, step, fresh=True, copy=copy)
    log_path = paths.CACHE_DIR / "logs" / f"contract-{step.slug}{copy and '-' + copy}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        log_path.open("w") as log,
        serve.running(step, url, servers.redis_url, output=log, settings=POOL_WAIT) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        yield Target(step, base_url, url, http)


@pytest.fixture(scope="session")
def target(request, servers) -> Iterator[Target]:
    """The step as `make serve` runs it, on the small data set that every test reads."""
    with _booted(servers, request.param) as booted:
        yield booted


@pytest.fixture(scope="session")
def scratch(request, servers) -> Iterator[Target]:
    """The step again, on a copy of its own: for writers whose changes no other test
    may read, such as generated requests that rename and delete seeded customers."""
    with _booted(servers, request.param, copy="scratch") as booted:
        yield booted


def walk(target: Target, path: str, params: dict | None = None) -> list[dict]:
    """Every result of a listing, following `next` to the end, as a client would."""
    response = target.http.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    results = list(body["results"])
    pages = 1
    while body["next"]:
        response = target.http.get(body["next"])
        assert response.status_code == 200, response.text
        body = response.json()
        results += body["results"]
        pages += 1
        assert pages < 500, "pagination does not end"
    return results


def assert_names_field(response, field: str, status: int = 400):
    """A 400 (or ``status``) whose JSON `detail` names ``field``, as its `errors` do."""
    assert response.status_code == status, (field, response.status_code, response.text[:300])
    body = response.json()
    assert isinstance(body["detail"], str)
    assert field in body["detail"]
    assert field in {error["field"] for error in body.get("errors") or []}, body


# The tables a create writes; a refused or failed write leaves their counts alone.
WRITTEN = ("app_user", "address", "customer_relationship")


def count(target: Target, table: str) -> int:
    return target.sql(f"SELECT count(*) FROM {table}")[0][0]
