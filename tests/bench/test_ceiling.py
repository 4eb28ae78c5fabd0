"""The ceiling sends the last step's SQL, answers with the last step's bytes and caches
as the last step caches.

Both run on one database of their own. pg_stat_statements identifies a statement by its
normalised parse tree (queryid), so equal queryids mean the same SQL, whatever literals
the two sent.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from bench import ceiling, probe, serve, steps
from tests.bench.answers import get
from tests.datasets import Dataset

LAST = ceiling.step_of(steps.discover())
DATA = Dataset(2_000, 7, "crm_ceiling")
# The requests of the ceiling scenarios, each with its next page: the default listing,
# search, every kind of filter k6 sends, alone and in pairs, and orderings, nullable keys
# with a range on them among them.
PATHS = [
    "/api/customers/",
    "/api/customers/?search={city}",
    "/api/customers/?page_size=5",
    "/api/customers/?city={city}",
    "/api/customers/?last_name={last3}&city={city}",
    "/api/customers/?first_name={first}",
    "/api/customers/?first_name={first2}",
    "/api/customers/?gender=female&country={country}",
    "/api/customers/?has_address=true&points_max=30000",
    "/api/customers/?created_before=2024-06-01&page_size=37",
    "/api/customers/?birthday_after=1950-01-01&birthday_before=1990-12-31",
    "/api/customers/?ordering=-points",
    "/api/customers/?ordering=points&points_min=100",
    "/api/customers/?ordering=birthday&birthday_after=1980-01-01",
    "/api/customers/?ordering=-first_name",
    "/api/customers/?ordering=customer_id",
]


def local(link: str) -> str:
    """A link's path and query, to ask another server for the same page."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


@pytest.fixture(scope="module")
def served(servers):
    url = DATA.step_url(servers.database_url, LAST)
    with (
        ceiling.running(LAST, url, servers.redis_url) as ceiling_url,
        serve.running(LAST, url, servers.redis_url) as step_url,
    ):
        terms = DATA.terms()
        first, last = terms["first_names"]["hot"][0], terms["last_names"]["hot"][0]
        words = {
            "city": terms["cities"]["hot"][0],
            "country": terms["countries"]["hot"][0],
            "first": first,
            "first2": first[:2],
            "last3": last[:3],
        }
        paths = [path.format(**{k: quote(v) for k, v in words.items()}) for path in PATHS]
        yield {
            "database": url,
            "redis": servers.redis_url,
            "ceiling": ceiling_url,
            "step": step_url,
            "paths": paths,
        }


def forget_the_ceilings_entries(redis_url: str) -> None:
    """Entries of an earlier run would answer without a query: the ceiling starts cold."""
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter("ceiling:*"):
        client.delete(key)


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
        forget_the_ceilings_entries(served["redis"])
        for path in paths:
            status, page = get(served["ceiling"] + path)
            assert status == 200, (path, page)
            if page["next"]:
                assert get(served["ceiling"] + local(page["next"]))[0] == 200
        assert get(served["ceiling"] + detail)[0] == 200

    ceilings = statements(served["database"], ask_the_ceiling)
    steps_own = statements(served["database"], lambda: probe.run(LAST, served["database"], wanted))
    assert len(steps_own) >= len(PATHS)
    assert ceilings == steps_own


@pytest.mark.parametrize("which", range(len(PATHS)))
def test_the_ceiling_answers_with_the_steps_json_and_links(served, which):
    path = served["paths"][which]
    status, ours = get(served["ceiling"] + path)
    step_status, theirs = get(served["step"] + path)
    assert status == step_status == 200
    assert ours["results"] == theirs["results"]
    assert ours["previous"] is theirs["previous"] is None
    if theirs["next"] is None:
        assert ours["next"] is None
        return
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


def test_the_ceiling_answers_a_repeated_read_from_its_cache(served, customer_id):
    for path in [served["paths"][3], f"/api/customers/{customer_id}/"]:
        with urllib.request.urlopen(served["ceiling"] + path, timeout=30) as first:
            body = first.read()
        with urllib.request.urlopen(served["ceiling"] + path, timeout=30) as again:
            assert again.headers["X-Cache"] == "hit", path
            assert again.read() == body


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=2", "page"),
        ("page_size=0", "page_size"),
        ("cursor=forged", "cursor"),
        ("gender=robot", "gender"),
        ("points_min=-1", "points_min"),
        ("ordering=height", "ordering"),
    ],
)
def test_what_the_ceiling_does_not_answer_is_a_400_naming_the_field(served, query, field):
    status, body = get(f"{served['ceiling']}/api/customers/?{query}")
    assert status == 400
    assert body["detail"].startswith(f"{field}: ")
