"""The ceiling sends the last step's SQL and answers with the last step's bytes.

Both run on one database of their own. pg_stat_statements identifies a statement by its
normalised parse tree (queryid), so equal queryids mean the same SQL, whatever literals
the two sent.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from bench import ceiling, probe, serve, steps
from tests.datasets import Dataset

LAST = steps.discover()[-1]
DATA = Dataset(2_000, 7, "crm_ceiling")
# The requests of the ceiling scenarios: the default listing and search, with next pages.
PATHS = ["/api/customers/", "/api/customers/?search={city}", "/api/customers/?page_size=5"]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def local(link: str) -> str:
    """A link's path and query, to ask another server for the same page."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


@pytest.fixture(scope="module")
def served(servers):
    url = DATA.step_url(servers.database_url, LAST)
    with (
        ceiling.running(LAST, url) as ceiling_url,
        serve.running(LAST, url, servers.redis_url) as step_url,
    ):
        city = quote(DATA.terms()["cities"]["hot"][0])
        paths = [path.format(city=city) for path in PATHS]
        yield {"database": url, "ceiling": ceiling_url, "step": step_url, "paths": paths}


@pytest.fixture
def customer_id(served) -> int:
    with psycopg.connect(served["database"]) as conn:
        return conn.execute("SELECT min(id) FROM app_user").fetchone()[0]


def statements(database_url: str, action) -> set[int]:
    """The queryids of the customer reads ``action`` makes on this database."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        (preloaded,) = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
        if "pg_stat_statements" not in preloaded:
            pytest.skip("this PostgreSQL does not load pg_stat_statements (the embedded one does)")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        (dbid,) = conn.execute(
            "SELECT oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        conn.execute("SELECT pg_stat_statements_reset(0::oid, %s::oid, 0::bigint)", [dbid])
        action()
        rows = conn.execute(
            "SELECT queryid FROM pg_stat_statements WHERE dbid = %s"
            ' AND query LIKE \'SELECT "app_user"."id"%%\'',
            [dbid],
        ).fetchall()
    return {queryid for (queryid,) in rows}


def test_the_ceiling_sends_the_last_steps_statements(served, customer_id):
    detail = f"/api/customers/{customer_id}/"
    paths = served["paths"]
    wanted = [*paths, detail, *({"walk": path, "pages": 1} for path in paths)]

    def ask_the_ceiling():
        for path in paths:
            status, page = get(served["ceiling"] + path)
            assert status == 200, (path, page)
            assert get(served["ceiling"] + local(page["next"]))[0] == 200
        assert get(served["ceiling"] + detail)[0] == 200

    ceilings = statements(served["database"], ask_the_ceiling)
    steps_own = statements(served["database"], lambda: probe.run(LAST, served["database"], wanted))
    # First pages, next pages (keyset), search and its next page, detail.
    assert len(steps_own) == 5
    assert ceilings == steps_own


@pytest.mark.parametrize("which", range(len(PATHS)))
def test_the_ceiling_answers_with_the_steps_json_and_links(served, which):
    path = served["paths"][which]
    status, ours = get(served["ceiling"] + path)
    step_status, theirs = get(served["step"] + path)
    assert status == step_status == 200
    assert ours["results"] == theirs["results"]
    assert ours["previous"] is theirs["previous"] is None
    assert local(ours["next"]) == local(theirs["next"])
    # Each server follows the other's next link to the same page: the cursors agree.
    _, from_ceiling = get(served["step"] + local(ours["next"]))
    _, from_step = get(served["ceiling"] + local(theirs["next"]))
    assert from_ceiling["results"] == from_step["results"] != ours["results"]
    assert local(from_step["previous"]) == local(from_ceiling["previous"])


def test_detail_is_the_steps_json(served, customer_id):
    path = f"/api/customers/{customer_id}/"
    assert get(served["ceiling"] + path) == get(served["step"] + path)
    assert get(served["ceiling"] + "/api/customers/0/")[0] == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [("city=Paris", "city"), ("page_size=0", "page_size"), ("cursor=forged", "cursor")],
)
def test_what_the_ceiling_does_not_answer_is_a_400_naming_the_field(served, query, field):
    status, body = get(f"{served['ceiling']}/api/customers/?{query}")
    assert status == 400
    assert body["detail"].startswith(f"{field}: ")
