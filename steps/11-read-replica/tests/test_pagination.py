"""The keyset and its cursor: round trips, forgeries, edges, NULLs, and walking back."""

import datetime as dt
import itertools
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from ninja.errors import ValidationError

from crm.api.cursors import SALT, binding, decode, encode
from crm.api.schemas import ORDERING_CHOICES
from crm.domain.listing import Filters, Listing, Position
from tests.conftest import ADDRESS

LIST = "/api/customers/"


def cursor_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["cursor"][0]


def walk(api, url: str) -> tuple[list[int], int]:
    """Every id, following `next`; and how many pages it took."""
    seen, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [c["id"] for c in body["results"]]
        url, pages = body["next"], pages + 1
    return seen, pages


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("created", dt.datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=dt.UTC)),
        ("birthday", dt.date(1914, 11, 9)),
        ("birthday", None),
        ("points", 0),
        ("points", None),
        ("last_name", "Lovelace"),
        ("customer_id", "T00042"),
    ],
)
@pytest.mark.parametrize("backwards", [False, True])
def test_a_cursor_round_trips(name, key, backwards):
    listing = Listing(ordering=name)
    token = encode(Position(key, 42), backwards, binding(listing))
    assert decode(token, listing) == (Position(key, 42), backwards)


def test_a_cursor_is_opaque_and_signed():
    listing = Listing(ordering="last_name")
    token = encode(Position("Lovelace", 7), False, binding(listing))
    payload = signing.Signer(salt=SALT).unsign_object(token)
    forged = signing.Signer(salt=SALT, key="someone-else's-key").sign_object({**payload, "i": 6})
    for bad in (forged, token[:-1], token[:-3] + "abc", token[::-1], "", "%%%", "x" * 10_000):
        with pytest.raises(ValidationError) as raised:
            decode(bad, listing)
        assert raised.value.errors[0]["loc"] == ("query", "cursor")


def test_a_cursor_does_not_change_with_the_clock(monkeypatch):
    token = encode(Position("Lovelace", 7), False, "binding")
    an_hour_later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: an_hour_later)
    assert encode(Position("Lovelace", 7), False, "binding") == token


def test_a_cursor_is_bound_to_its_listing():
    token = encode(Position("Lovelace", 7), False, binding(Listing(ordering="last_name")))
    another = Listing(Filters(city="berlin"), ordering="last_name")
    with pytest.raises(ValidationError, match="other parameters"):
        decode(token, another)


@pytest.fixture
def people(make_customer):
    """Eleven customers: shared names, missing birthdays, one without a relationship."""
    made = []
    for n in range(10):
        made.append(
            make_customer(
                last_name=["Noether", "Hopper"][n % 2],
                birthday=None if n % 3 == 0 else dt.date(1900 + n % 4, 1, 1),
                points=n % 3,
                created=dt.datetime(2024, 1, 1 + n % 5, tzinfo=dt.UTC),
            )
        )
    made.append(make_customer(relationship=False, address=None, last_name="Hopper"))
    return made


def expected(people, ordering: str) -> list[int]:
    """The order a direct ORDER BY key, id gives, NULLs last ascending, first descending."""
    name = ordering.lstrip("-")

    def key(customer):
        if name == "points":
            relationship = getattr(customer, "relationship", None)
            value = relationship.points if relationship else None
        else:
            value = getattr(customer, name)
        return (value is None, value if value is not None else 0, customer.id)

    ordered = sorted(people, key=key, reverse=ordering.startswith("-"))
    return [c.id for c in ordered]


@pytest.mark.parametrize("ordering", ORDERING_CHOICES)
def test_next_walks_every_row_once_in_order(api, people, ordering):
    seen, pages = walk(api, f"{LIST}?ordering={ordering}&page_size=3")
    assert seen == expected(people, ordering)
    assert pages == 4


@pytest.mark.parametrize("ordering", ORDERING_CHOICES)
def test_previous_returns_the_page_before_exactly(api, people, ordering):
    pages, url = [], f"{LIST}?ordering={ordering}&page_size=3"
    while url:
        body = api.get(url).json()
        pages.append(body)
        url = body["next"]
    assert pages[0]["previous"] is None
    for before, page in itertools.pairwise(pages):
        back = api.get(page["previous"]).json()
        assert [c["id"] for c in back["results"]] == [c["id"] for c in before["results"]]
        assert back["next"]


def test_a_page_of_exactly_page_size_rows_has_no_next(api, people):
    body = api.get(f"{LIST}?page_size={len(people)}").json()
    assert len(body["results"]) == len(people)
    assert body["next"] is None


def test_the_last_page_has_no_next(api, people):
    first = api.get(f"{LIST}?page_size=10").json()
    last = api.get(first["next"]).json()
    assert len(last["results"]) == 1
    assert last["next"] is None
    assert last["previous"]


@pytest.mark.parametrize(
    "change",
    ["ordering=-created", "page_size=4", "last_name=Hop", "search=Hopper", "city=Paris"],
)
def test_a_cursor_replayed_under_other_parameters_is_refused(api, people, change):
    first = api.get(f"{LIST}?page_size=3&last_name=Hopper").json()
    response = api.get(f"{LIST}?{change}&cursor={cursor_of(first['next'])}")
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


@pytest.mark.parametrize(
    ("sent", "respelled"),
    [("last_name=Hopper", "last_name=HOPPER"), ("page_size=3", "page_size=3&first_name=")],
)
def test_a_cursor_holds_under_another_spelling_of_its_listing(api, people, sent, respelled):
    first = api.get(f"{LIST}?page_size=3&{sent}").json()
    response = api.get(f"{LIST}?page_size=3&{respelled}&cursor={cursor_of(first['next'])}")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == api.get(first["next"]).json()["results"]


def test_page_numbers_are_refused_with_a_way_forward(api, db):
    response = api.get(f"{LIST}?page=2")
    assert response.status_code == 400
    assert "next" in response.json()["detail"]
    assert "page" in {error["field"] for error in response.json()["errors"]}


def test_ties_beyond_a_page_are_paged_through(api, make_customer):
    """Ninja's CursorPagination keys on the first field plus an offset; this keyset does not."""
    ids = {make_customer(first_name="Ada", address=ADDRESS).id for _ in range(25)}
    seen, _ = walk(api, f"{LIST}?ordering=first_name&page_size=4")
    assert sorted(seen) == sorted(ids)
