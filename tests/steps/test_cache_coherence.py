"""Cached steps (07 on): a write made outside the API is served fresh at once.

As a user makes one: ``manage.py shell`` in the step's own venv, on the database the
server reads, while the server keeps its workers and their cache entries. The ORM's
save and delete signals invalidate on commit, whoever writes (DESIGN §7).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench import serve, steps
from tests.datasets import SMALL

CACHED = [step for step in steps.under_test() if "redis" in step.services]
pytestmark = pytest.mark.skipif(not CACHED, reason="no cached step yet")
LIST = "/api/customers/"
NEW_NAME = "Zanzibar"
RECEIVERS = Path(__file__).with_name("receivers.py")


@pytest.fixture(params=CACHED, ids=lambda step: step.slug)
def app(request, servers) -> Iterator[tuple[steps.Step, httpx.Client, str]]:
    step = request.param
    url = SMALL.step_url(servers.database_url, step, fresh=True)
    with (
        serve.running(step, url, servers.redis_url) as base_url,
        httpx.Client(base_url=base_url, timeout=30) as http,
    ):
        yield step, http, url


def shell(step: steps.Step, database_url: str, redis_url: str, code: str) -> None:
    manage = step.path / "manage.py"
    serve.run_script(step, manage, database_url, "shell", "--no-imports", "-c", code,
                     redis_url=redis_url, check=True)  # fmt: skip


def read_everything(http: httpx.Client, customer: dict) -> dict[str, httpx.Response]:
    # Twice each: the second read is served from the cache, which the write must reach.
    paths = {
        "detail": f"{LIST}{customer['id']}/",
        "listing": f"{LIST}?customer_id={customer['customer_id']}",
        "search": f"{LIST}?search={customer['customer_id']}",
    }
    return {name: [http.get(path) for _ in range(2)][-1] for name, path in paths.items()}


def test_a_save_in_manage_py_shell_is_served_at_once(app, servers):
    step, http, url = app
    customer = http.get(LIST, params={"page_size": 1}).json()["results"][0]
    before = read_everything(http, customer)
    assert [r.headers["X-Cache"] for r in before.values()] == ["hit", "hit", "hit"]
    shell(
        step,
        url,
        servers.redis_url,
        "from crm.models import Customer\n"
        f"c = Customer.objects.get(pk={customer['id']})\n"
        f"c.last_name = {NEW_NAME!r}\n"
        "c.save()\n",
    )
    after = read_everything(http, customer)
    assert after["detail"].json()["last_name"] == NEW_NAME
    for name in ("listing", "search"):
        assert [c["last_name"] for c in after[name].json()["results"]] == [NEW_NAME], name
    found = http.get(LIST, params={"search": NEW_NAME}).json()["results"]
    assert customer["id"] in {c["id"] for c in found}


def test_a_delete_in_manage_py_shell_is_served_at_once(app, servers):
    step, http, url = app
    customer = http.get(LIST, params={"page_size": 1}).json()["results"][0]
    read_everything(http, customer)
    shell(
        step,
        url,
        servers.redis_url,
        f"from crm.models import Customer\nCustomer.objects.get(pk={customer['id']}).delete()\n",
    )
    after = read_everything(http, customer)
    assert after["detail"].status_code == 404
    assert after["listing"].json()["results"] == after["search"].json()["results"] == []


def receivers(step: steps.Step) -> list[list[str]]:
    listed = serve.run_script(step, RECEIVERS, "postgresql://unused/unused", check=True)
    return json.loads(listed.stdout)


@pytest.mark.parametrize("step", CACHED, ids=lambda step: step.slug)
def test_every_cached_step_listens_where_the_first_one_does(step):
    # The first cached step's receivers: every ORM save and delete of the three tables
    # (pre_delete for an address, whose customers must be read before it goes).
    expected = [
        ["post_delete", "app_user"],
        ["post_delete", "customer_relationship"],
        ["post_save", "address"],
        ["post_save", "app_user"],
        ["post_save", "customer_relationship"],
        ["pre_delete", "address"],
    ]
    assert receivers(CACHED[0]) == expected
    assert receivers(step) == expected
