"""One query per page, no COUNT: the keyset reads the page and one row more."""

import pytest
from django.core.exceptions import FieldFetchBlocked

from crm.api.schemas import ORDERING_CHOICES
from crm.infrastructure.repository import customers
from tests.conftest import ADDRESS, JSON

PAGE = 20
FILTERS = [
    "first_name=ad",
    "last_name=Love",
    "city=berlin",
    "country=germany",
    "customer_id=T00001",
    "gender=female",
    "birthday_after=1990-01-01&birthday_before=2000-12-31",
    "created_after=2020-01-01&created_before=2030-12-31",
    "points_min=1&points_max=100",
    "has_address=true",
    "search=berlin",
    "search=ada lovelace",
]


@pytest.fixture
def full_page(make_customer):
    for n in range(PAGE + 5):
        make_customer(points=n, address=None if n % 4 == 0 else ADDRESS)
    make_customer(relationship=False)


@pytest.mark.parametrize("ordering", ORDERING_CHOICES)
def test_every_ordering_costs_one_query(api, full_page, ordering, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = api.get(f"/api/customers/?ordering={ordering}")
    assert len(response.json()["results"]) == PAGE


@pytest.mark.parametrize("query", FILTERS)
def test_every_filter_costs_one_query(api, full_page, query, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = api.get(f"/api/customers/?{query}")
    assert response.status_code == 200


def test_detail_is_one_query(api, make_customer, django_assert_num_queries):
    customer = make_customer()
    with django_assert_num_queries(1):
        body = api.get(f"/api/customers/{customer.id}/").json()
    assert body["address"]["city"] == ADDRESS["city"]


def test_detail_without_relationship_is_one_query(api, make_customer, django_assert_num_queries):
    customer = make_customer(relationship=False, address=None)
    with django_assert_num_queries(1):
        body = api.get(f"/api/customers/{customer.id}/").json()
    assert body["relationship"] is None


def test_create_writes_three_rows_and_reads_nothing_back(api, db, django_assert_num_queries):
    body = {"customer_id": "Q-1", "first_name": "A", "last_name": "B", "address": ADDRESS}
    # SAVEPOINT, INSERT address, INSERT customer, INSERT relationship, RELEASE: the
    # response is built from the objects just written.
    with django_assert_num_queries(5):
        response = api.post("/api/customers/", body, content_type=JSON)
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("change", "queries"),
    [
        # SAVEPOINT, the joined SELECT, UPDATE, RELEASE.
        ({"first_name": "Augusta"}, 4),
        # ... plus the INSERT of the new address row.
        ({"address": {**ADDRESS, "city": "Munich"}}, 5),
    ],
)
def test_patch_is_one_read_and_the_writes(
    api, make_customer, change, queries, django_assert_num_queries
):
    customer = make_customer()
    with django_assert_num_queries(queries):
        response = api.patch(f"/api/customers/{customer.id}/", change, content_type=JSON)
    assert response.status_code == 200


def test_a_column_the_query_did_not_load_raises(make_customer):
    """FETCH_RAISE: a forgotten field fails the test suite instead of adding a query per row."""
    customer = make_customer()
    loaded = customers().get(pk=customer.pk)
    assert loaded.relationship.points == 0
    with pytest.raises(FieldFetchBlocked):
        loaded.relationship.created  # noqa: B018 - deferred by only(): reading it must raise
