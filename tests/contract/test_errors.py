"""Errors: every malformed input is a 4xx with a JSON `detail`; nothing is ever a 5xx."""

from __future__ import annotations

import random
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.contract.conftest import (
    ADDRESS,
    LIST,
    WRITTEN,
    Target,
    assert_names_field,
    count,
    new_customer,
)

BAD_PARAMETERS = [
    ("gender", "robot"),
    ("ordering", "password"),
    ("ordering", "created,id"),
    ("ordering", "relationship__points"),
    ("birthday_after", "yesterday"),
    ("birthday_before", "2020-13-01"),
    ("created_after", "01/02/2020"),
    ("created_before", "2020-02-30"),
    ("points_min", "many"),
    ("points_max", "99999999999999999999"),
    ("points_min", "99999999999999999999"),
    ("points_min", "-1"),
    ("points_max", "-1"),
    ("has_address", "maybe"),
    ("page_size", "0"),
    ("page_size", "101"),
    ("page_size", "1000000000"),
    ("page_size", "-5"),
    ("page_size", "twenty"),
    ("search", "x" * 101),
    ("search", "x" * 3_000),
    ("search", "a\x00b"),
    ("first_name", "a\x00b"),
    ("last_name", "x" * 101),
    ("last_name", "x" * 3_000),
    ("city", "x" * 3_000),
]
# Longer than gunicorn's request-line limit (4094 bytes), a request never reaches
# Django: gunicorn itself answers 414, which is also a client error. uvicorn passes it on.
SERVER_LIMIT = 414


@pytest.mark.parametrize(("field", "value"), BAD_PARAMETERS)
def test_malformed_parameter_is_400_naming_it(target: Target, field: str, value: str):
    assert_names_field(target.http.get(LIST, params={field: value}), field)


@pytest.mark.parametrize("field", ["search", "last_name", "ordering"])
def test_a_10_kb_parameter_is_a_client_error(target: Target, field: str):
    response = target.http.get(LIST, params={field: "x" * 10_000})
    if not (target.step.server == "gunicorn" and response.status_code == SERVER_LIMIT):
        assert_names_field(response, field)


def test_tampered_pagination_token(target: Target):
    """A forged page number is a 400; a forged cursor is a 400, or an empty page where
    that is natural."""
    first = target.http.get(LIST, params={"page_size": 5}).json()
    parts = urlsplit(first["next"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    token = "page" if "page" in query else "cursor"
    forged = ["abc", "0", "-1", "10" * 20, "1e9", "%00", "x" * 3000]
    if token == "cursor":
        forged += [query["cursor"][:-3] + "abc", query["cursor"][::-1]]
    for value in forged:
        response = target.http.get(f"{parts.path}?{urlencode({**query, token: value})}")
        if token == "cursor" and response.status_code == 200:
            assert response.json()["results"] == [], value
        else:
            assert_names_field(response, token)


@pytest.mark.parametrize("page", ["2", "0", "abc", "1000000000"])
def test_a_page_past_the_end_or_not_a_page_is_400(target: Target, page: str):
    if target.step.pagination != "page":
        pytest.skip("cursor pagination has no page numbers (test_cursor.py)")
    # One page holds the whole listing: page 2 is already past its end.
    response = target.http.get(LIST, params={"customer_id": "T-none", "page": page})
    assert_names_field(response, "page")


BAD_BODIES = [
    ({"customer_id": None}, "customer_id"),
    ({"first_name": ""}, "first_name"),
    ({"first_name": {"nested": "object"}}, "first_name"),
    ({"last_name": "x" * 10_000}, "last_name"),
    ({"customer_id": "x" * 65}, "customer_id"),
    ({"gender": "robot"}, "gender"),
    ({"birthday": "09/11/1914"}, "birthday"),
    ({"birthday": "1914-02-30"}, "birthday"),
    ({"phone_number": ["+43"]}, "phone_number"),
    ({"first_name": "nul\x00byte"}, "first_name"),
    ({"address": "Vienna"}, "address"),
    ({"address": {"street": "Only"}}, "address.city"),
    ({"address": {"street": "x" * 10_000}}, "address.street"),
    ({"favourite_colour": "green"}, "favourite_colour"),
    ({"relationship": {"points": 10}}, "relationship"),
    # A value of another JSON type is refused, never stored as its text ("0", "True").
    ({"address": {**ADDRESS, "country": 0}}, "address.country"),
    ({"last_name": 1815}, "last_name"),
    ({"customer_id": True}, "customer_id"),
    ({"phone_number": 4315550100}, "phone_number"),
    ({"birthday": 19141109}, "birthday"),
    ({"first_name": "   "}, "first_name"),
    ({"last_name": "x" * 101}, "last_name"),
    ({"phone_number": "1" * 33}, "phone_number"),
    ({"address": {**ADDRESS, "planet": "Earth"}}, "address.planet"),
    ({"id": 5}, "id"),
]
# What a client may never set on a customer it changes, beside BAD_BODIES' values.
BAD_PATCHES = [
    *BAD_BODIES[1:11],
    ({"created": "2020-01-01T00:00:00Z"}, "created"),
    ({"id": 5}, "id"),
]


@pytest.mark.parametrize(("change", "field"), BAD_BODIES)
def test_malformed_body_is_400_naming_the_field_and_writes_nothing(
    target: Target, change: dict, field: str
):
    before = {table: count(target, table) for table in WRITTEN}
    assert_names_field(target.http.post(LIST, json=new_customer(**change)), field)
    assert {table: count(target, table) for table in WRITTEN} == before


@pytest.mark.parametrize("field", ["customer_id", "first_name", "last_name"])
def test_a_missing_required_field_is_400_naming_it(target: Target, field: str):
    body = {key: value for key, value in new_customer().items() if key != field}
    before = count(target, "app_user")
    assert_names_field(target.http.post(LIST, json=body), field)
    assert count(target, "app_user") == before


ROW = "SELECT u.*, a.* FROM app_user u LEFT JOIN address a ON a.id = u.address_id WHERE u.id = %s"


@pytest.mark.parametrize(("change", "field"), BAD_PATCHES)
def test_malformed_patch_is_400_and_changes_nothing(target: Target, change: dict, field: str):
    (customer_id,) = target.sql("SELECT min(id) FROM app_user")[0]
    before = target.http.get(f"{LIST}{customer_id}/").json()
    row, addresses = target.sql(ROW, [customer_id]), count(target, "address")
    assert_names_field(target.http.patch(f"{LIST}{customer_id}/", json=change), field)
    # The row itself, not only a read that a cache (07-08) might serve.
    assert (target.sql(ROW, [customer_id]), count(target, "address")) == (row, addresses)
    assert target.http.get(f"{LIST}{customer_id}/").json() == before


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[1, 2, 3]",
        b"",
        b'"a string"',
        b"null",
        b"\xff\xfe\x00",
        b"{" * 10_000,
        b"[" * 100_000,
        # Well-formed, but nested deeper than any parser should follow.
        b'{"first_name": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ],
)
def test_unparsable_body_is_400(target: Target, payload: bytes):
    response = target.http.post(LIST, content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    detail = response.json()["detail"]
    # What is wrong: the body as a whole, or the first field it lacks.
    assert "body" in detail or "customer_id" in detail, detail


def test_a_form_encoded_body_is_415(target: Target):
    form = {"content-type": "application/x-www-form-urlencoded"}
    response = target.http.post(LIST, content=b"customer_id=F-1", headers=form)
    assert response.status_code == 415
    assert "detail" in response.json()


def test_a_huge_body_is_refused_without_a_5xx(target: Target):
    body = new_customer(first_name="x" * 5_000_000)
    response = target.http.post(LIST, json=body)
    assert 400 <= response.status_code < 500
    assert "detail" in response.json()


@pytest.mark.parametrize("path", ["/api/customers/abc/", "/api/customers/1.5/", "/api/nothing/"])
def test_unknown_paths_are_404(target: Target, path: str):
    response = target.http.get(path)
    assert response.status_code == 404
    assert "detail" in response.json()


def test_huge_ids_are_404_not_500(target: Target):
    for value in ["9" * 30, "99999999999999999999", "0", "-1"]:
        assert target.http.get(f"{LIST}{value}/").status_code == 404


def test_random_junk_never_causes_a_5xx(target: Target):
    rng = random.Random(1234)
    names = [
        "search", "first_name", "last_name", "city", "country", "customer_id", "gender",
        "birthday_after", "created_before", "points_min", "points_max", "has_address",
        "ordering", "page_size", "page", "cursor",
    ]  # fmt: skip
    alphabet = "aZ09-_ %&=?/\\'\"\x00é漢🙂;<>" + "x" * 10
    for _ in range(150):
        params = {
            rng.choice(names): "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
            for _ in range(rng.randint(1, 4))
        }
        response = target.http.get(LIST, params=params)
        assert response.status_code < 500, (params, response.text[:300])
        if response.status_code >= 400:
            assert "detail" in response.json()
