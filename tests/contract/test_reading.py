"""Reading: shapes, filters, search, ordering and pagination (DESIGN §4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.contract.conftest import (
    ADDRESS,
    LIST,
    ORDERING_KEYS,
    Target,
    count,
    new_customer,
    walk,
)

CUSTOMER_FIELDS = {
    "id", "customer_id", "first_name", "last_name", "gender", "phone_number",
    "birthday", "created", "last_updated", "address", "relationship",
}  # fmt: skip
ADDRESS_FIELDS = {"street", "street_number", "city_code", "city", "country"}
RELATIONSHIP_FIELDS = {"points", "last_activity"}


def page_keys(target: Target) -> set[str]:
    # A page-number listing counts its matches (DESIGN §4); a cursor never does.
    return {"next", "previous", "results"} | (
        {"count"} if target.step.pagination == "page" else set()
    )


def test_first_page_shape(target: Target):
    body = target.http.get(LIST).json()
    assert set(body) == page_keys(target)
    if "count" in body:
        assert body["count"] == count(target, "app_user")
    assert body["previous"] is None
    assert len(body["results"]) == 20
    for customer in body["results"]:
        assert set(customer) == CUSTOMER_FIELDS
        assert customer["address"] is None or set(customer["address"]) == ADDRESS_FIELDS
        assert customer["relationship"] is None or (
            set(customer["relationship"]) == RELATIONSHIP_FIELDS
        )


def test_detail_matches_the_list(target: Target):
    for customer in target.http.get(LIST, params={"page_size": 5}).json()["results"]:
        response = target.http.get(f"{LIST}{customer['id']}/")
        assert response.status_code == 200
        assert response.json() == customer


def test_unknown_id_is_404(target: Target):
    (missing,) = target.sql("SELECT max(id) + 1000 FROM app_user")[0]
    response = target.http.get(f"{LIST}{missing}/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_every_page_counts_the_same_matches(target: Target):
    if target.step.pagination != "page":
        pytest.skip("a cursor does not count")
    city = _sample(target, FILTERS["city"][0])
    pages, url = [], f"{LIST}?city={city}&page_size=7"
    while url:
        pages.append(target.http.get(url).json())
        url = pages[-1]["next"]
    assert {page["count"] for page in pages} == {sum(len(page["results"]) for page in pages)}


def test_an_empty_listing_is_one_empty_page(target: Target):
    body = target.http.get(LIST, params={"last_name": "Nobody-by-this-name"}).json()
    assert body == {"next": None, "previous": None, "results": []} | (
        {"count": 0} if "count" in page_keys(target) else {}
    )


def test_the_last_day_of_the_calendar_is_a_valid_bound(target: Target):
    found = walk(target, LIST, {"created_before": "9999-12-31", "page_size": 100})
    assert len(found) == count(target, "app_user")


def test_a_customer_without_a_relationship_reads_as_null(target: Target):
    (customer_id,) = target.sql(
        "SELECT min(u.id) FROM app_user u"
        " WHERE NOT EXISTS (SELECT FROM customer_relationship r WHERE r.appuser_id = u.id)"
    )[0]
    assert customer_id, "the data set has a customer without a relationship"
    assert target.http.get(f"{LIST}{customer_id}/").json()["relationship"] is None


def test_a_relationship_reads_as_its_row(target: Target):
    (customer_id, points, last_activity) = target.sql(
        "SELECT appuser_id, points, last_activity FROM customer_relationship"
        " WHERE points > 0 AND last_activity IS NOT NULL ORDER BY appuser_id LIMIT 1"
    )[0]
    read = target.http.get(f"{LIST}{customer_id}/").json()["relationship"]
    assert read["points"] == points
    assert dt.datetime.fromisoformat(read["last_activity"].replace("Z", "+00:00")) == last_activity


def test_page_size_bounds(target: Target):
    assert len(target.http.get(LIST, params={"page_size": 1}).json()["results"]) == 1
    assert len(target.http.get(LIST, params={"page_size": 100}).json()["results"]) == 100


# --- filters against the database's own answer -----------------------------------------


def _sample(target: Target, query: str):
    return target.sql(query)[0][0]


FILTERS = {
    # name: (value query, oracle query taking the value)
    # In lower case: a prefix matches whatever the case (Al, al and AL find Alan).
    "first_name": (
        "SELECT lower(left(first_name, 2)) FROM app_user ORDER BY id LIMIT 1",
        "SELECT id FROM app_user WHERE upper(first_name) LIKE upper(%s) || '%%'",
    ),
    "last_name": (
        "SELECT lower(left(last_name, 3)) FROM app_user ORDER BY id DESC LIMIT 1",
        "SELECT id FROM app_user WHERE upper(last_name) LIKE upper(%s) || '%%'",
    ),
    "city": (
        "SELECT upper(city) FROM address GROUP BY city ORDER BY count(*) DESC, city LIMIT 1",
        "SELECT u.id FROM app_user u JOIN address a ON a.id = u.address_id"
        " WHERE upper(a.city) = upper(%s)",
    ),
    "country": (
        "SELECT lower(country) FROM address ORDER BY id LIMIT 1",
        "SELECT u.id FROM app_user u JOIN address a ON a.id = u.address_id"
        " WHERE upper(a.country) = upper(%s)",
    ),
    "customer_id": (
        "SELECT customer_id FROM app_user ORDER BY id LIMIT 1 OFFSET 17",
        "SELECT id FROM app_user WHERE customer_id = %s",
    ),
    "gender": ("SELECT 'other'", "SELECT id FROM app_user WHERE gender = %s"),
    # The bounds are a customer's own values: each bound is inclusive.
    "birthday_after": (
        "SELECT max(birthday)::text FROM (SELECT birthday FROM app_user"
        " WHERE birthday IS NOT NULL ORDER BY birthday DESC LIMIT 40) AS latest",
        "SELECT id FROM app_user WHERE birthday >= %s::date",
    ),
    "birthday_before": (
        "SELECT max(birthday)::text FROM (SELECT birthday FROM app_user"
        " WHERE birthday IS NOT NULL ORDER BY birthday LIMIT 40) AS earliest",
        "SELECT id FROM app_user WHERE birthday <= %s::date",
    ),
    "created_after": (
        "SELECT (max(created) AT TIME ZONE 'UTC')::date::text FROM app_user",
        "SELECT id FROM app_user WHERE (created AT TIME ZONE 'UTC')::date >= %s::date",
    ),
    "created_before": (
        "SELECT (min(created) AT TIME ZONE 'UTC')::date + 20 FROM app_user",
        "SELECT id FROM app_user WHERE (created AT TIME ZONE 'UTC')::date <= %s::date",
    ),
    "points_min": (
        "SELECT min(points)::text FROM (SELECT points FROM customer_relationship"
        " ORDER BY points DESC LIMIT 40) AS most",
        "SELECT appuser_id FROM customer_relationship WHERE points >= %s::int",
    ),
    "points_max": (
        "SELECT '0'",
        "SELECT appuser_id FROM customer_relationship WHERE points <= %s::int",
    ),
}


@pytest.mark.parametrize("name", FILTERS)
def test_filter_returns_exactly_the_matching_customers(target: Target, name: str):
    value_query, oracle = FILTERS[name]
    value = str(_sample(target, value_query))
    expected = target.ids(oracle, [value])
    assert expected, f"the sample value {value!r} for {name} matches nothing"
    found = [c["id"] for c in walk(target, LIST, {name: value, "page_size": 100})]
    assert len(found) == len(set(found)), "a customer appeared twice"
    assert set(found) == expected


@pytest.mark.parametrize("value", ["true", "false"])
def test_has_address(target: Target, value: str):
    null = "IS NOT NULL" if value == "true" else "IS NULL"
    expected = target.ids(
        f"SELECT id FROM app_user WHERE address_id {null} AND upper(first_name) LIKE 'A%%'"
    )
    found = walk(target, LIST, {"has_address": value, "first_name": "A", "page_size": 100})
    assert {c["id"] for c in found} == expected


def test_filters_combine(target: Target):
    city = _sample(target, FILTERS["city"][0])
    expected = target.ids(
        "SELECT u.id FROM app_user u JOIN address a ON a.id = u.address_id"
        " WHERE upper(a.city) = upper(%s) AND u.gender = 'female'",
        [city],
    )
    found = walk(target, LIST, {"city": city, "gender": "female", "page_size": 100})
    assert {c["id"] for c in found} == expected


# --- search: what substring and full-text matching both satisfy --------------------------


@pytest.fixture(scope="module")
def someone(target: Target) -> dict:
    (row,) = target.sql(
        "SELECT u.id, u.last_name, u.customer_id, a.city FROM app_user u"
        " JOIN address a ON a.id = u.address_id ORDER BY u.id LIMIT 1 OFFSET 42"
    )
    return dict(zip(["id", "last_name", "customer_id", "city"], row, strict=True))


@pytest.mark.parametrize("field", ["last_name", "city", "customer_id"])
def test_search_finds_a_customer_by(target: Target, someone: dict, field: str):
    found = walk(target, LIST, {"search": someone[field], "page_size": 100})
    assert someone["id"] in {c["id"] for c in found}


def test_search_by_a_customer_id_finds_that_customer_alone(target: Target, someone: dict):
    found = walk(target, LIST, {"search": someone["customer_id"]})
    assert [c["id"] for c in found] == [someone["id"]]


def test_search_for_nonsense_finds_nothing(target: Target):
    body = target.http.get(LIST, params={"search": "qqxjzv"}).json()
    assert body["results"] == []
    assert body["next"] is None


# Hostile text: each answer below is the one docs/api-contract.md documents.

OPERATORS = "& | ! ( ) : * <-> \\"
NO_WORD = [OPERATORS, "!?", "<->", ":*", "(((", ")", "\\", "*", "|!&"]
HOSTILE = [
    *NO_WORD,
    '"',
    "'",
    '""',
    '"unbalanced',
    "it's",
    "a:*",
    "a & b | !c",
    "x <-> y",
    "'; DROP TABLE app_user; --",
    "%",
    "_%_",
    "-",
    "or",
    "¿¡",
]


def test_no_seeded_text_holds_these_terms(target: Target):
    """The empty answers below rely on it: substring steps look for each term as typed."""
    terms = sorted({term for text in NO_WORD for term in text.split()})
    found = target.sql(
        "SELECT term FROM unnest(%s::text[]) AS term WHERE EXISTS ("
        " SELECT FROM app_user u LEFT JOIN address a ON a.id = u.address_id"
        " WHERE strpos(concat_ws(' ', u.first_name, u.last_name, u.customer_id,"
        " u.phone_number, a.street, a.city, a.city_code, a.country), term) > 0)",
        [terms],
    )
    assert found == []


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_search_text_is_a_page(target: Target, text: str):
    response = target.http.get(LIST, params={"search": text, "page_size": 5})
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert isinstance(body["results"], list)
    if body["next"]:
        assert target.http.get(body["next"]).status_code == 200


@pytest.mark.parametrize("text", NO_WORD)
def test_search_without_a_word_matches_nothing(target: Target, text: str):
    body = target.http.get(LIST, params={"search": text}).json()
    assert (body["results"], body["next"]) == ([], None)


@pytest.mark.parametrize("quote", ['"', "'"])
@pytest.mark.parametrize("field", ["last_name", "city", "customer_id"])
def test_quotes_are_not_part_of_the_term(target: Target, someone: dict, field: str, quote: str):
    text = f"{quote}{someone[field]}{quote}"
    found = walk(target, LIST, {"search": text, "page_size": 100})
    assert someone["id"] in {c["id"] for c in found}


# docs/api-contract.md and the 06 page show this table: what a typed text finds, by kind.
SEMANTICS = [
    # (typed, found by a substring step, found by a full-text step)
    ("Lovelace", True, True),
    ("Lovel", True, True),
    ("vel", True, False),
    ("Lov lace", True, False),
    ("Hervas", False, True),
    ("Lovelace -Ada", False, False),
    ("Lovelace or Hopper", False, True),
    ('"van Amstel"', True, True),
    ("39 971766665", True, False),
]


@pytest.fixture(scope="module")
def written(target: Target) -> Iterator[list[int]]:
    people = [
        new_customer(first_name="Ada", last_name="Lovelace", phone_number="+39 971766665"),
        new_customer(first_name="José", last_name="Hervás van Amstel"),
    ]
    ids = [target.http.post(LIST, json=person).json()["id"] for person in people]
    yield ids
    for pk in ids:
        target.http.delete(f"{LIST}{pk}/")


@pytest.mark.parametrize(("text", "substring", "fulltext"), SEMANTICS)
def test_what_a_typed_text_finds(target: Target, written, text, substring, fulltext):
    expected = {"substring": substring, "fulltext": fulltext}[target.step.search]
    found = {c["id"] for c in walk(target, LIST, {"search": text, "page_size": 100})}
    assert bool(found & set(written)) == expected


def test_no_word_is_too_common_to_search(target: Target):
    street = {**ADDRESS, "street": "Avenue of the Americas"}
    created = target.http.post(LIST, json=new_customer(address=street)).json()
    try:
        found = walk(target, LIST, {"search": "of the", "page_size": 100})
        assert created["id"] in {c["id"] for c in found}
    finally:
        target.http.delete(f"{LIST}{created['id']}/")


# --- ordering and pagination ----------------------------------------------------------


def _key(customer: dict, name: str):
    source = customer["relationship"] or {} if name == "points" else customer
    value = source.get(name)
    if name == "created" and value is not None:
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    # NULL sorts as larger than any value: last ascending, first descending.
    return (value is None, value if value is not None else 0)


@pytest.mark.parametrize("key", ORDERING_KEYS)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_ordering_is_total_and_complete(target: Target, key: str, descending: bool):
    country = _sample(target, "SELECT country FROM address ORDER BY id LIMIT 1")
    ordering = f"-{key}" if descending else key
    found = walk(target, LIST, {"ordering": ordering, "country": country, "page_size": 30})
    keys = [(_key(c, key), c["id"]) for c in found]
    assert keys == sorted(keys, reverse=descending)
    expected = target.ids(
        "SELECT u.id FROM app_user u JOIN address a ON a.id = u.address_id WHERE a.country = %s",
        [country],
    )
    assert len(found) == len(expected)
    assert {c["id"] for c in found} == expected


def test_default_ordering_is_newest_first_over_the_whole_table(target: Target):
    found = walk(target, LIST, {"page_size": 100})
    (total,) = target.sql("SELECT count(*) FROM app_user")[0]
    assert len(found) == total
    assert len({c["id"] for c in found}) == total
    keys = [(_key(c, "created"), c["id"]) for c in found]
    assert keys == sorted(keys, reverse=True)


def test_previous_leads_back_to_the_same_page(target: Target):
    first = target.http.get(LIST, params={"ordering": "last_name", "page_size": 7}).json()
    second = target.http.get(first["next"]).json()
    assert second["previous"]
    again = target.http.get(second["previous"]).json()
    assert [c["id"] for c in again["results"]] == [c["id"] for c in first["results"]]
    assert not {c["id"] for c in second["results"]} & {c["id"] for c in first["results"]}
