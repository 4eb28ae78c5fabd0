import datetime as dt

import pytest

from crm.models import Address, Customer, CustomerRelationship
from tests.conftest import ADDRESS

LIST = "/api/customers/"
FIELDS = {
    "id", "customer_id", "first_name", "last_name", "gender", "phone_number",
    "birthday", "created", "last_updated", "address", "relationship",
}  # fmt: skip


def detail(pk):
    return f"/api/customers/{pk}/"


def assert_refused(response, field, status=400):
    assert response.status_code == status, response.content
    body = response.json()
    assert field in body["detail"]
    assert field in {error["field"] for error in body["errors"]}


# --- reading ------------------------------------------------------------------------


def test_list_is_a_page_newest_first(api, make_customer):
    old = make_customer(created=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    new = make_customer(created=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    body = api.get(LIST).json()
    assert body["count"] == 2
    assert body["next"] is None
    assert body["previous"] is None
    assert [c["id"] for c in body["results"]] == [new.id, old.id]
    assert set(body["results"][0]) == FIELDS


def test_detail_nests_address_and_relationship(api, make_customer):
    customer = make_customer(points=70, phone_number="+49 30 1234567")
    body = api.get(detail(customer.id)).json()
    assert body["customer_id"] == customer.customer_id
    assert body["address"] == ADDRESS
    assert body["relationship"] == {"points": 70, "last_activity": None}
    assert body["phone_number"] == "+49 30 1234567"


def test_detail_without_address_or_relationship(api, make_customer):
    customer = make_customer(address=None, relationship=False)
    body = api.get(detail(customer.id)).json()
    assert body["address"] is None
    assert body["relationship"] is None


@pytest.mark.parametrize("path", [detail(999999), "/api/customers/abc/", "/api/nope/"])
def test_unknown_resources_are_404_json(api, db, path):
    response = api.get(path)
    assert response.status_code == 404
    assert "detail" in response.json()


# --- filters, search, ordering ----------------------------------------------------------


@pytest.fixture
def people(make_customer):
    return {
        "ada": make_customer(
            first_name="Ada", last_name="Lovelace", gender="female", points=10,
            birthday=dt.date(1990, 5, 1), created=dt.datetime(2021, 3, 1, 12, tzinfo=dt.UTC),
        ),
        "alan": make_customer(
            first_name="Alan", last_name="Turing", gender="male", points=500,
            birthday=dt.date(1980, 6, 23), created=dt.datetime(2022, 6, 1, 23, 59, tzinfo=dt.UTC),
            address={**ADDRESS, "city": "Paris", "country": "France", "city_code": "75001"},
        ),
        "grace": make_customer(
            first_name="Grace", last_name="Hopper", gender="female", points=90, address=None,
            created=dt.datetime(2023, 1, 1, tzinfo=dt.UTC),
        ),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("first_name=al", {"alan"}),
        ("first_name=A", {"ada", "alan"}),
        ("last_name=hop", {"grace"}),
        ("city=paris", {"alan"}),
        ("country=GERMANY", {"ada"}),
        ("customer_id=T00002", {"alan"}),
        ("gender=female", {"ada", "grace"}),
        ("birthday_after=1985-01-01", {"ada"}),
        ("birthday_before=1980-06-23", {"alan"}),
        ("created_after=2022-06-01", {"alan", "grace"}),
        ("created_before=2022-06-01", {"ada", "alan"}),
        ("points_min=90", {"alan", "grace"}),
        ("points_max=90", {"ada", "grace"}),
        ("has_address=false", {"grace"}),
        ("has_address=true", {"ada", "alan"}),
        ("search=turing", {"alan"}),
        ("search=paris", {"alan"}),
        ("search=T00003", {"grace"}),
        ("search=berlin", {"ada"}),
        ("first_name=a&city=berlin", {"ada"}),
    ],
)
def test_filters_and_search(api, people, query, expected):
    ids = {c["id"] for c in api.get(f"{LIST}?{query}").json()["results"]}
    assert ids == {people[name].id for name in expected}


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("created", ["ada", "alan", "grace"]),
        ("-created", ["grace", "alan", "ada"]),
        ("first_name", ["ada", "alan", "grace"]),
        ("-last_name", ["alan", "ada", "grace"]),
        ("points", ["ada", "grace", "alan"]),
        ("-points", ["alan", "grace", "ada"]),
        ("customer_id", ["ada", "alan", "grace"]),
        # NULL sorts as larger than any value: last ascending, first descending.
        ("birthday", ["alan", "ada", "grace"]),
        ("-birthday", ["grace", "ada", "alan"]),
    ],
)
def test_orderings(api, people, ordering, expected):
    results = api.get(f"{LIST}?ordering={ordering}").json()["results"]
    assert [c["id"] for c in results] == [people[name].id for name in expected]


@pytest.mark.parametrize("ordering", ["first_name", "-first_name"])
def test_ties_are_broken_by_id_in_the_same_direction(api, make_customer, ordering):
    ids = [make_customer(first_name="Same").id for _ in range(4)]
    results = api.get(f"{LIST}?ordering={ordering}").json()["results"]
    assert [c["id"] for c in results] == sorted(ids, reverse=ordering.startswith("-"))


def test_pages_follow_next_without_gaps(api, make_customer):
    ids = {make_customer().id for _ in range(7)}
    seen, url = [], f"{LIST}?page_size=3"
    while url:
        body = api.get(url).json()
        assert body["count"] == 7
        seen += [c["id"] for c in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(ids)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("gender=robot", "gender"),
        ("ordering=password", "ordering"),
        ("ordering=created,id", "ordering"),
        ("birthday_after=yesterday", "birthday_after"),
        ("birthday_before=2020-13-01", "birthday_before"),
        ("created_after=01/02/2020", "created_after"),
        ("created_before=2020-02-30", "created_before"),
        ("points_min=many", "points_min"),
        ("points_max=-1", "points_max"),
        ("points_min=99999999999999999999", "points_min"),
        ("has_address=maybe", "has_address"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=2", "page"),
        ("page=1000000000", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page_size=1000000000", "page_size"),
        ("page_size=ten", "page_size"),
        ("search=" + "x" * 101, "search"),
        ("search=" + "x" * 10_000, "search"),
        ("search=a%00b", "search"),
        ("first_name=a%00b", "first_name"),
        ("last_name=" + "x" * 101, "last_name"),
    ],
)
def test_malformed_parameters_are_400_naming_the_field(api, people, query, field):
    assert_refused(api.get(f"{LIST}?{query}"), field)


def test_an_empty_result_is_an_empty_first_page(api, db):
    body = api.get(f"{LIST}?last_name=nobody").json()
    assert body == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_last_day_of_the_calendar_is_a_valid_bound(api, people):
    assert api.get(f"{LIST}?created_before=9999-12-31").json()["count"] == 3


# --- writing ------------------------------------------------------------------------

NEW = {
    "customer_id": "NEW-1",
    "first_name": "Katherine",
    "last_name": "Johnson",
    "gender": "female",
    "phone_number": "+1 757 5550100",
    "birthday": "1918-08-26",
    "address": {**ADDRESS, "city": "Hampton", "country": "United States"},
}


def test_create_writes_customer_address_and_relationship(api, db):
    response = api.post(LIST, NEW, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    customer = Customer.objects.get(pk=body["id"])
    assert customer.address.city == "Hampton"
    assert customer.relationship.points == 0
    assert body["relationship"] == {"points": 0, "last_activity": None}
    assert api.get(detail(body["id"])).json() == body


def test_create_minimal_customer(api, db):
    body = {"customer_id": "MIN-1", "first_name": "M", "last_name": "N"}
    created = api.post(LIST, body, format="json").json()
    assert created["gender"] == "undefined"
    assert created["address"] is None
    assert created["birthday"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_id": None}, "customer_id"),
        ({"first_name": ""}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"customer_id": "x" * 65}, "customer_id"),
        ({"gender": "robot"}, "gender"),
        ({"birthday": "26/08/1918"}, "birthday"),
        ({"phone_number": "1" * 33}, "phone_number"),
        ({"first_name": {"nested": "object"}}, "first_name"),
        ({"first_name": "nul\x00byte"}, "first_name"),
        ({"address": {"street": "Only street"}}, "address.city"),
        ({"address": "Berlin"}, "address"),
        ({"address": {**ADDRESS, "planet": "Earth"}}, "address.planet"),
        ({"id": 5}, "id"),
        ({"relationship": {"points": 5}}, "relationship"),
        ({"favourite_colour": "green"}, "favourite_colour"),
    ],
)
def test_invalid_create_is_400_and_writes_nothing(api, db, change, field):
    assert_refused(api.post(LIST, {**NEW, **change}, format="json"), field)
    assert Customer.objects.count() == Address.objects.count() == 0


@pytest.mark.parametrize("field", ["customer_id", "first_name", "last_name"])
def test_required_fields(api, db, field):
    body = {k: v for k, v in NEW.items() if k != field}
    assert_refused(api.post(LIST, body, format="json"), field)


def test_duplicate_customer_id_is_409(api, make_customer):
    make_customer(customer_id="DUP")
    assert_refused(
        api.post(LIST, {**NEW, "customer_id": "DUP"}, format="json"), "customer_id", status=409
    )


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("", "application/json"),
        ("[" * 100_000, "application/json"),
    ],
)
def test_malformed_bodies_are_400(api, db, payload, content_type):
    response = api.generic("POST", LIST, payload, content_type=content_type)
    assert response.status_code == 400
    assert "body" in response.json()["detail"] or "customer_id" in response.json()["detail"]


def test_non_json_body_is_rejected_with_a_detail(api, db):
    response = api.generic("POST", LIST, "a=b", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "detail" in response.json()


def test_patch_changes_only_the_given_fields(api, make_customer):
    customer = make_customer(first_name="Ada", phone_number="+44 1")
    response = api.patch(detail(customer.id), {"first_name": "Augusta"}, format="json")
    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.first_name, customer.phone_number) == ("Augusta", "+44 1")


def test_patch_with_an_address_creates_a_row_and_leaves_the_shared_one(api, make_customer):
    shared = Address.objects.create(**ADDRESS)
    first, second = make_customer(address=shared), make_customer(address=shared)
    moved = {**ADDRESS, "city": "Munich", "city_code": "80331"}
    body = api.patch(detail(first.id), {"address": moved}, format="json").json()
    assert body["address"] == moved
    shared.refresh_from_db()
    second.refresh_from_db()
    assert shared.city == "Berlin"
    assert second.address_id == shared.id
    assert Address.objects.count() == 2


def test_patch_address_null_detaches_it(api, make_customer):
    customer = make_customer()
    body = api.patch(detail(customer.id), {"address": None}, format="json").json()
    assert body["address"] is None
    assert Address.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [({"gender": "x"}, "gender"), ({"created": "2020-01-01T00:00:00Z"}, "created")],
)
def test_invalid_patch_is_400_and_changes_nothing(api, make_customer, change, field):
    customer = make_customer()
    assert_refused(api.patch(detail(customer.id), change, format="json"), field)
    assert Customer.objects.get(pk=customer.id).last_updated == customer.last_updated


def test_patch_to_a_taken_customer_id_is_409(api, make_customer):
    make_customer(customer_id="TAKEN")
    other = make_customer()
    assert_refused(
        api.patch(detail(other.id), {"customer_id": "TAKEN"}, format="json"),
        "customer_id",
        status=409,
    )


def test_delete_removes_customer_and_relationship_but_not_the_address(api, make_customer):
    customer = make_customer()
    assert api.delete(detail(customer.id)).status_code == 204
    assert api.get(detail(customer.id)).status_code == 404
    assert not CustomerRelationship.objects.exists()
    assert Address.objects.count() == 1


def test_writes_to_unknown_ids_are_404(api, db):
    assert api.patch(detail(424242), {"first_name": "X"}, format="json").status_code == 404
    assert api.delete(detail(424242)).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("put", "/api/customers/1/"), ("delete", LIST), ("patch", LIST), ("post", "/api/health/")],
)
def test_wrong_methods_are_405(api, make_customer, method, path):
    make_customer()
    response = getattr(api, method)(path, {}, format="json")
    assert response.status_code == 405


# --- service endpoints ------------------------------------------------------------


def test_health(api, db):
    assert api.get("/api/health/").json() == {"status": "ok", "database": "ok"}


def test_openapi_document_describes_the_api(api, db):
    schema = api.get("/api/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/customers/", "/api/customers/{id}/"} <= set(schema["paths"])
    params = {p["name"] for p in schema["paths"]["/api/customers/"]["get"]["parameters"]}
    assert {"search", "ordering", "page", "page_size", "city", "points_min"} <= params


def test_swagger_ui_and_its_assets_are_served_locally(api, db):
    page = api.get("/api/docs/")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    asset = api.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200
