"""Writing: create, partial update, delete (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.contract.conftest import (
    ADDRESS,
    LIST,
    WRITTEN,
    Target,
    assert_names_field,
    count,
    new_customer,
    walk,
)


def create(target: Target, **changes) -> dict:
    response = target.http.post(LIST, json=new_customer(**changes))
    assert response.status_code == 201, response.text
    return response.json()


def test_create_then_read_it_back(target: Target):
    body = new_customer()
    created = create(target, **body)
    for field in ("customer_id", "first_name", "last_name", "gender", "phone_number", "birthday"):
        assert created[field] == body[field]
    assert created["address"] == ADDRESS
    assert created["relationship"] == {"points": 0, "last_activity": None}
    assert target.http.get(f"{LIST}{created['id']}/").json() == created
    listed = walk(target, LIST, {"customer_id": body["customer_id"]})
    assert listed == [created]
    searched = walk(target, LIST, {"search": body["customer_id"]})
    assert created["id"] in {c["id"] for c in searched}


def test_create_writes_address_and_relationship_rows(target: Target):
    created = create(target)
    rows = target.sql(
        "SELECT a.city, r.points FROM app_user u JOIN address a ON a.id = u.address_id"
        " JOIN customer_relationship r ON r.appuser_id = u.id WHERE u.id = %s",
        [created["id"]],
    )
    assert rows == [("Paris", 0)]


def test_create_without_address(target: Target):
    created = create(target, address=None)
    assert created["address"] is None


def test_a_create_with_only_the_required_fields_takes_the_defaults(target: Target):
    body = {key: new_customer()[key] for key in ("customer_id", "first_name", "last_name")}
    response = target.http.post(LIST, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["gender"], created["birthday"], created["address"]) == ("undefined", None, None)


def test_invalid_nested_address_writes_nothing(target: Target):
    body = new_customer(address={**ADDRESS, "city": None})
    response = target.http.post(LIST, json=body)
    assert response.status_code == 400
    assert "address.city" in response.json()["detail"]
    assert not target.sql("SELECT 1 FROM app_user WHERE customer_id = %s", [body["customer_id"]])


def test_a_taken_customer_id_is_409_naming_it(target: Target):
    created, other = create(target), create(target)
    before = target.http.get(f"{LIST}{other['id']}/").json()
    posted = target.http.post(LIST, json=new_customer(customer_id=created["customer_id"]))
    patched = target.http.patch(
        f"{LIST}{other['id']}/", json={"customer_id": created["customer_id"], "first_name": "X"}
    )
    for response in (posted, patched):
        assert_names_field(response, "customer_id", status=409)
    # Nothing of either write stays: no second customer, no half-applied change.
    rows = target.sql(
        "SELECT count(*) FROM app_user WHERE customer_id = %s", [created["customer_id"]]
    )
    assert rows == [(1,)]
    assert target.http.get(f"{LIST}{other['id']}/").json() == before


def test_a_taken_customer_id_leaves_no_address_behind(target: Target):
    # The address is written before the customer row that fails: both go, or neither.
    created, other = create(target), create(target)
    linked = "SELECT address_id FROM app_user WHERE id = %s"
    addresses, address_id = count(target, "address"), target.sql(linked, [other["id"]])
    moved = {**ADDRESS, "city": "Nantes"}
    posted = target.http.post(LIST, json=new_customer(customer_id=created["customer_id"]))
    patched = target.http.patch(
        f"{LIST}{other['id']}/", json={"customer_id": created["customer_id"], "address": moved}
    )
    assert (posted.status_code, patched.status_code) == (409, 409)
    assert count(target, "address") == addresses
    assert target.sql(linked, [other["id"]]) == address_id


def test_patch_is_partial(target: Target):
    created = create(target)
    response = target.http.patch(f"{LIST}{created['id']}/", json={"last_name": "Markey"})
    assert response.status_code == 200
    patched = response.json()
    assert patched["last_name"] == "Markey"
    assert patched["first_name"] == created["first_name"]
    assert patched["address"] == created["address"]
    assert patched["last_updated"] >= created["last_updated"]


def test_patch_with_a_new_address_never_mutates_a_shared_row(target: Target):
    (customer_id, address_id, other_id), *_ = target.sql(
        "SELECT u.id, u.address_id, o.id FROM app_user u"
        " JOIN app_user o ON o.address_id = u.address_id AND o.id <> u.id"
        " ORDER BY u.id LIMIT 1"
    )
    before = target.sql("SELECT street, city FROM address WHERE id = %s", [address_id])
    addresses = count(target, "address")
    moved = {**ADDRESS, "street": "Avenue Foch", "street_number": "1"}
    response = target.http.patch(f"{LIST}{customer_id}/", json={"address": moved})
    assert response.status_code == 200
    assert response.json()["address"] == moved
    assert target.sql("SELECT street, city FROM address WHERE id = %s", [address_id]) == before
    assert count(target, "address") == addresses + 1
    other = target.http.get(f"{LIST}{other_id}/").json()
    assert other["address"]["street"] == before[0][0]
    (new_address_id,) = target.sql("SELECT address_id FROM app_user WHERE id = %s", [customer_id])[
        0
    ]
    assert new_address_id != address_id


def test_patch_address_to_null(target: Target):
    created = create(target)
    (address_id,) = target.sql("SELECT address_id FROM app_user WHERE id = %s", [created["id"]])[0]
    response = target.http.patch(f"{LIST}{created['id']}/", json={"address": None})
    assert response.status_code == 200
    assert response.json()["address"] is None
    # Detached, not deleted: an address may be shared.
    assert target.sql("SELECT 1 FROM address WHERE id = %s", [address_id]) == [(1,)]


def test_delete(target: Target):
    created = create(target)
    (address_id,) = target.sql("SELECT address_id FROM app_user WHERE id = %s", [created["id"]])[0]
    assert target.http.delete(f"{LIST}{created['id']}/").status_code == 204
    assert target.sql("SELECT 1 FROM address WHERE id = %s", [address_id]) == [(1,)]
    assert target.http.get(f"{LIST}{created['id']}/").status_code == 404
    assert target.http.delete(f"{LIST}{created['id']}/").status_code == 404
    assert not target.sql(
        "SELECT 1 FROM customer_relationship WHERE appuser_id = %s", [created["id"]]
    )


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_writes_to_an_unknown_id_are_404(target: Target, method: str):
    (missing,) = target.sql("SELECT max(id) + 1000 FROM app_user")[0]
    response = target.http.request(method, f"{LIST}{missing}/", json={"first_name": "X"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/api/customers/1/"), ("DELETE", LIST), ("PATCH", LIST), ("POST", "/api/health/")],
)
def test_wrong_method_is_405(target: Target, method: str, path: str):
    response = target.http.request(method, path, json={})
    assert response.status_code == 405


# --- read your writes: a cache (steps 07-08) must never show a client its old data -------


def reads(target: Target, customer: dict, city: str, last_name: str) -> dict:
    """The listings a write can change, each read twice so a cache has it stored."""
    views = {}
    for _ in range(2):
        views = {
            "city": {c["id"] for c in walk(target, LIST, {"city": city, "page_size": 100})},
            "search": {c["id"] for c in walk(target, LIST, {"search": last_name})},
            "detail": target.http.get(f"{LIST}{customer['id']}/"),
        }
    return views


def test_a_create_is_read_at_once(target: Target):
    reads(target, {"id": 0}, "Lyon", "Meitner")
    created = create(target, last_name="Meitner", address={**ADDRESS, "city": "Lyon"})
    seen = reads(target, created, "Lyon", "Meitner")
    assert created["id"] in seen["city"] & seen["search"]
    assert seen["detail"].json() == created


@pytest.mark.parametrize(
    ("patch", "left"),
    [({"last_name": "Franklin"}, "search"), ({"address": {**ADDRESS, "city": "Nantes"}}, "city")],
    ids=["fields", "address"],
)
def test_a_patch_is_read_at_once(target: Target, patch: dict, left: str):
    created = create(target, last_name="Curie", address={**ADDRESS, "city": "Lyon"})
    reads(target, created, "Lyon", "Curie")
    patched = target.http.patch(f"{LIST}{created['id']}/", json=patch).json()
    seen = reads(target, created, "Lyon", "Curie")
    assert created["id"] not in seen[left]
    assert seen["detail"].json() == patched


def test_a_delete_is_read_at_once(target: Target):
    created = create(target, last_name="Germain", address={**ADDRESS, "city": "Lyon"})
    reads(target, created, "Lyon", "Germain")
    assert target.http.delete(f"{LIST}{created['id']}/").status_code == 204
    seen = reads(target, created, "Lyon", "Germain")
    assert created["id"] not in seen["city"] | seen["search"]
    assert seen["detail"].status_code == 404


# --- one unit of work: a write that fails half-way leaves nothing behind ---------------------

FAILING = {
    # After the address and the customer rows, the relationship's insert fails.
    "create": (
        "customer_relationship",
        "BEFORE INSERT",
        "(SELECT customer_id FROM app_user WHERE id = NEW.appuser_id) LIKE 'ATOM-%'",
    ),
    # After the new address row, the customer's update fails.
    "patch": ("app_user", "BEFORE UPDATE", "NEW.last_name = 'Atom'"),
}


@contextmanager
def failing(target: Target, write: str) -> Iterator[None]:
    """PostgreSQL refuses one table's row for this test's customers alone: a real fault
    inside the write's transaction, where a step's own test would patch its code."""
    table, when, condition = FAILING[write]
    target.sql(
        "CREATE FUNCTION contract_fail() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN IF {condition} THEN RAISE EXCEPTION 'injected'; END IF; RETURN NEW; END $$;"
        f" CREATE TRIGGER contract_fail {when} ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION contract_fail()",
        fetch=False,
    )
    try:
        yield
    finally:
        target.sql(
            f"DROP TRIGGER contract_fail ON {table}; DROP FUNCTION contract_fail()", fetch=False
        )


def test_a_create_that_fails_half_way_writes_nothing(target: Target):
    before = {table: count(target, table) for table in WRITTEN}
    with failing(target, "create"):
        response = target.http.post(LIST, json=new_customer(customer_id="ATOM-create"))
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    assert {table: count(target, table) for table in WRITTEN} == before


def test_a_patch_that_fails_half_way_keeps_the_old_address(target: Target):
    created = create(target)
    linked = "SELECT address_id FROM app_user WHERE id = %s"
    address_id, addresses = target.sql(linked, [created["id"]]), count(target, "address")
    moved = {**ADDRESS, "city": "Munich"}
    with failing(target, "patch"):
        response = target.http.patch(
            f"{LIST}{created['id']}/", json={"last_name": "Atom", "address": moved}
        )
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    assert (target.sql(linked, [created["id"]]), count(target, "address")) == (
        address_id,
        addresses,
    )
    assert target.http.get(f"{LIST}{created['id']}/").json() == created
