"""Micro-benchmarks (pytest-benchmark); skipped unless run with --benchmark-only."""

import pytest
from asgiref.sync import async_to_sync

from crm.models import Customer
from crm.schemas import CustomerOut
from crm.selectors import customer_out

PAGE = 20


@pytest.fixture
def page_of_customers(make_customer):
    for _ in range(PAGE):
        make_customer()
    customers = Customer.objects.order_by("-created", "-id")[:PAGE]
    return [async_to_sync(customer_out)(customer) for customer in customers]


def test_serialise_one_page(benchmark, page_of_customers):
    data = benchmark(
        lambda: [CustomerOut.model_validate(c).model_dump() for c in page_of_customers]
    )
    assert len(data) == PAGE


def test_one_list_request(benchmark, api, page_of_customers):
    response = benchmark(api.get, "/api/customers/")
    assert response.status_code == 200
