"""Micro-benchmarks (pytest-benchmark); skipped unless run with --benchmark-only."""

import pytest

from crm.models import Customer
from crm.serializers import CustomerSerializer

PAGE = 20


@pytest.fixture
def page_of_customers(make_customer):
    for _ in range(PAGE):
        make_customer()
    return list(Customer.objects.order_by("-created", "-id")[:PAGE])


def test_serialise_one_page(benchmark, page_of_customers):
    data = benchmark(lambda: CustomerSerializer(page_of_customers, many=True).data)
    assert len(data) == PAGE


def test_one_list_request(benchmark, api, page_of_customers):
    response = benchmark(api.get, "/api/customers/")
    assert response.status_code == 200
