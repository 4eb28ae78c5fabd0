"""Controls differ from their step by the one factor they isolate, and answer as it does.

Each control is built as the harness builds it (``bench/controls.py``) and served beside
its step on one database: the same requests get the same answers, and what the control
changes is what its ``step.toml`` entry says, nothing else.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from urllib.parse import quote

import psycopg
import pytest

from bench import controls, facts, serve, steps
from tests.bench.answers import get
from tests.datasets import SMALL

DECLARED = controls.declared(steps.discover())
BY_SLUG = {control.slug: control for control in DECLARED}
# What the sync rewrite may touch on a line: async Django's words, nothing else.
ASYNC_WORDS = ("async ", "await ", "sync_to_async", ".aget(", ".acount(", ".adelete(")


def files(root) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not set(path.relative_to(root).parts) & set(steps.CACHE_DIRS)
    }


def test_every_control_is_named_once_and_never_as_a_step():
    every = steps.discover()
    assert {control.slug for control in DECLARED}.isdisjoint(step.slug for step in every)
    assert len(BY_SLUG) == len(DECLARED)
    assert {"01-persistent", "02-sync"} <= set(BY_SLUG)


@pytest.mark.parametrize("control", DECLARED, ids=lambda control: control.slug)
def test_a_control_differs_from_its_step_only_where_it_says(control):
    built = controls.build(control)
    mine, theirs = files(built.path), files(control.step.path)
    assert set(mine) == set(theirs)
    changed = {name for name in mine if mine[name] != theirs[name]}
    allowed = {"requirements.txt"} if control.requirements else set()
    if control.code == "sync":
        allowed |= {name for name in mine if name.startswith("crm/") and name.endswith(".py")}
    assert changed <= allowed
    if control.requirements:
        added = mine["requirements.txt"].removeprefix(theirs["requirements.txt"])
        assert added.split() == list(control.requirements)
    assert built.server == control.server
    assert built.slug == control.slug


def test_the_sync_control_keeps_the_code_and_drops_only_async():
    control = BY_SLUG["02-sync"]
    built = controls.build(control)
    for module in sorted((built.path / "crm").rglob("*.py")):
        source = module.read_text()
        ast.parse(source)
        assert not re.search(r"\basync def |\bawait |sync_to_async\(", source), module
        original = (control.step.path / module.relative_to(built.path)).read_text()
        diff = difflib.ndiff(original.splitlines(), source.splitlines())
        removed = [line[2:] for line in diff if line.startswith("- ")]
        assert all(any(word in line for word in ASYNC_WORDS) for line in removed), removed


@pytest.fixture(scope="module")
def side_by_side(servers):
    """Step 02 and its sync control, on one clone of the small data set."""
    control = BY_SLUG["02-sync"]
    url = SMALL.step_url(servers.database_url, control.step, fresh=True, copy="control")
    built = controls.build(control)
    with (
        serve.running(control.step, url) as step_url,
        serve.running(built, url, settings=control.environment) as control_url,
    ):
        yield step_url, control_url


def test_the_sync_control_answers_every_read_as_its_step(side_by_side):
    step_url, control_url = side_by_side
    city = SMALL.terms()["cities"]["hot"][0]
    paths = [
        "/api/customers/",
        "/api/customers/?page=2&page_size=7",
        f"/api/customers/?search={quote(city)}",
        "/api/customers/?ordering=-points&points_min=100",
        "/api/customers/?page_size=0",
        "/api/customers/999999999/",
    ]
    first = get(f"{step_url}/api/customers/?page_size=1")[1]["results"][0]["id"]

    def answer(base: str, path: str) -> tuple[int, str]:
        # Links name the server they came from.
        status, body = get(base + path)
        return status, json.dumps(body).replace(base, "<server>")

    for path in [*paths, f"/api/customers/{first}/"]:
        assert answer(step_url, path) == answer(control_url, path), path


def test_the_sync_control_writes_as_its_step(side_by_side):
    for base in side_by_side:
        body = {"customer_id": f"CTRL-{base[-5:]}", "first_name": "Ada", "last_name": "Lovelace"}
        created, customer = get(f"{base}/api/customers/", "POST", body)
        assert created == 201
        url = f"{base}/api/customers/{customer['id']}/"
        assert get(url, "PATCH", {"last_name": "Byron"})[1]["last_name"] == "Byron"
        assert get(url, "DELETE")[0] == 204
        assert get(url)[0] == 404


def test_the_persistent_control_keeps_each_workers_connection(servers):
    control = BY_SLUG["01-persistent"]
    url = SMALL.step_url(servers.database_url, control.step, fresh=True, copy="control")
    built = controls.build(control)
    assert facts.run(control.step, url)["database"]["conn_max_age"] == 0
    assert facts.run(built, url, control.environment)["database"]["conn_max_age"] == 600
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with serve.running(built, url, settings=control.environment) as base:
        for _ in range(20):
            assert get(f"{base}/api/customers/?page_size=1")[0] == 200
        with psycopg.connect(servers.database_url, autocommit=True) as conn:
            (kept,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'idle'"
                " AND pid <> pg_backend_pid()",
                [name],
            ).fetchone()
    # Each worker that served a request still holds its connection, idle between them.
    assert 1 <= kept <= steps.workers(control.server)
