"""Micro-benchmarks (pytest-benchmark); skipped unless run with --benchmark-only.

Every step measures the same named operations, so that the result file can set them
side by side and say which part of a request a step made cheaper:

- ``test_serialise_one_page``: a page of customers whose relations are already loaded,
  to response bytes, through the step's own serializer and renderer. No query runs.
- ``test_one_list_request`` and ``test_one_detail_request``: a request end to end
  through the step's test client, in process (no HTTP server, no new connection).
- ``test_take_a_connection``: what a request pays for its database connection and for
  giving it back at the end.
"""

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from crm.api.renderers import CompactJSONRenderer
from crm.api.schemas import CustomerOut
from crm.infrastructure.repository import customers, to_domain

PAGE = 20


@pytest.fixture
def page_of_customers(make_customer):
    for _ in range(PAGE):
        make_customer()
    return [to_domain(customer) for customer in customers().order_by("-created", "-id")[:PAGE]]


def test_serialise_one_page(benchmark, page_of_customers, django_assert_num_queries):
    renderer = CompactJSONRenderer()

    def serialise():
        data = [
            CustomerOut.model_validate(c, from_attributes=True).model_dump()
            for c in page_of_customers
        ]
        return renderer.render(None, data, response_status=200)

    with django_assert_num_queries(0):
        body = benchmark(serialise)
    assert body.count('"customer_id"') == PAGE


def test_one_list_request(benchmark, api, page_of_customers):
    response = benchmark(api.get, "/api/customers/")
    assert response.status_code == 200
    assert len(response.json()["results"]) == PAGE


def test_one_detail_request(benchmark, api, page_of_customers):
    response = benchmark(api.get, f"/api/customers/{page_of_customers[0].id}/")
    assert response.status_code == 200


def test_take_a_connection(benchmark, db):
    def take_and_give_back():
        connection = connections.create_connection(DEFAULT_DB_ALIAS)
        connection.ensure_connection()
        connection.close()

    benchmark(take_and_give_back)
