"""Cursor pagination (steps 05 on): complete walks, exact `previous`, refused forgeries.

Page-number steps skip these; what both styles promise is in test_reading.py.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.contract.conftest import LIST, ORDERINGS, Target, assert_names_field, walk

KEYS = {
    "created": "u.created",
    "first_name": "u.first_name",
    "last_name": "u.last_name",
    "birthday": "u.birthday",
    "points": "r.points",
    "customer_id": "u.customer_id",
}


@pytest.fixture
def cursors(target: Target) -> Target:
    if target.step.pagination != "cursor":
        pytest.skip(f"{target.step.slug} pages with page numbers")
    return target


def direct_order(target: Target, ordering: str, where: str = "", params=()) -> list[int]:
    """The ids in the order PostgreSQL's own ORDER BY key, id gives."""
    direction = "DESC" if ordering.startswith("-") else "ASC"
    key = KEYS[ordering.lstrip("-")]
    rows = target.sql(
        "SELECT u.id FROM app_user u"
        " LEFT JOIN customer_relationship r ON r.appuser_id = u.id"
        " LEFT JOIN address a ON a.id = u.address_id"
        f" {where} ORDER BY {key} {direction}, u.id {direction}",
        params,
    )
    return [row[0] for row in rows]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_walking_next_yields_every_customer_once_in_order(cursors: Target, ordering: str):
    found = walk(cursors, LIST, {"ordering": ordering, "page_size": 100})
    assert [c["id"] for c in found] == direct_order(cursors, ordering)


@pytest.mark.parametrize("ordering", ["last_name", "-birthday", "points", "-points"])
def test_walking_a_filtered_listing_yields_exactly_its_matches(cursors: Target, ordering: str):
    (country,) = cursors.sql("SELECT country FROM address ORDER BY id LIMIT 1")[0]
    found = walk(cursors, LIST, {"ordering": ordering, "country": country, "page_size": 7})
    expected = direct_order(cursors, ordering, "WHERE upper(a.country) = upper(%s)", [country])
    assert [c["id"] for c in found] == expected


@pytest.mark.parametrize("ordering", ["-created", "first_name", "birthday", "-points"])
def test_previous_from_page_k_is_page_k_minus_1(cursors: Target, ordering: str):
    pages, url = [], None
    params = {"ordering": ordering, "page_size": 9}
    for _ in range(4):
        response = cursors.http.get(url) if url else cursors.http.get(LIST, params=params)
        pages.append(response.json())
        url = pages[-1]["next"]
    assert pages[0]["previous"] is None
    for k in range(1, len(pages)):
        back = cursors.http.get(pages[k]["previous"]).json()
        assert [c["id"] for c in back["results"]] == [c["id"] for c in pages[k - 1]["results"]]


def test_a_page_links_to_its_neighbours_the_same_way_every_time(cursors: Target):
    """A page's links name positions, not moments: asked for again a second later, the
    same page gives the same URLs, so whatever caches by URL (step 07, a CDN, the
    browser) keeps hitting on the pages after it."""
    params = {"ordering": "last_name", "page_size": 4}
    second = cursors.http.get(cursors.http.get(LIST, params=params).json()["next"]).url
    before = cursors.http.get(second).json()
    # Past the next whole second: a timestamped signature would change with it.
    time.sleep(1.05 - time.time() % 1)
    again = cursors.http.get(second).json()
    assert (again["next"], again["previous"]) == (before["next"], before["previous"])


@pytest.mark.parametrize(
    "change",
    [
        {"ordering": "-last_name"},
        {"page_size": "6"},
        {"last_name": "A"},
        {"search": "a"},
        {"has_address": "true"},
    ],
)
def test_a_cursor_replayed_under_other_parameters_is_a_400(cursors: Target, change: dict):
    first = cursors.http.get(LIST, params={"ordering": "last_name", "page_size": 5}).json()
    query = {**query_of(first["next"]), **change}
    assert_names_field(cursors.http.get(f"{LIST}?{urlencode(query)}"), "cursor")


def test_a_forged_cursor_is_a_400(cursors: Target):
    first = cursors.http.get(LIST, params={"page_size": 5}).json()
    query = query_of(first["next"])
    token = query["cursor"]
    forged = [token[:-1], token[: len(token) // 2], "", "not base64 at all!", "x" * 10_000]
    forged += [token.replace(token[5], "A" if token[5] != "A" else "B", 1)]
    for value in forged:
        response = cursors.http.get(f"{LIST}?{urlencode({**query, 'cursor': value})}")
        assert_names_field(response, "cursor")


def test_a_page_number_is_a_400_that_says_to_follow_next(cursors: Target):
    response = cursors.http.get(LIST, params={"page": 2})
    assert_names_field(response, "page")
    assert "next" in response.json()["detail"]
