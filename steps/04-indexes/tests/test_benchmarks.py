"""Micro-benchmarks (pytest-benchmark); skipped unless run with --benchmark-only."""

import pytest

from crm.schemas import CustomerOut
from crm.selectors import customer_out, customers

PAGE = 20


@pytest.fixture
def page_of_customers(make_customer):
    for _ in range(PAGE):
        make_customer()
    return [customer_out(customer) for customer in customers().order_by("-created", "-id")[:PAGE]]


def test_serialise_one_page(benchmark, page_of_customers):
    data = benchmark(
        lambda: [CustomerOut.model_validate(c).model_dump() for c in page_of_customers]
    )
    assert len(data) == PAGE


def test_one_list_request(benchmark, api, page_of_customers):
    response = benchmark(api.get, "/api/customers/")
    assert response.status_code == 200
