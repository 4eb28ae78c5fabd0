"""The N+1 of step 01, still here: async views alone do not change the SQL."""

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import SynchronousOnlyOperation

from crm.models import Customer

PAGE = 20


@pytest.fixture
def full_page(make_customer):
    for _ in range(PAGE + 5):
        make_customer()


def test_a_list_page_costs_two_queries_per_customer(api, full_page, django_assert_num_queries):
    # COUNT(*) + the page, then address and relationship awaited one customer at a time.
    with django_assert_num_queries(2 + 2 * PAGE):
        response = api.get("/api/customers/")
    assert len(response.json()["results"]) == PAGE


def test_customers_without_address_skip_that_query(api, make_customer, django_assert_num_queries):
    for _ in range(3):
        make_customer(address=None)
    with django_assert_num_queries(2 + 3):
        api.get("/api/customers/")


def test_search_is_one_query_plus_the_n_plus_one(api, full_page, django_assert_num_queries):
    with django_assert_num_queries(2 + 2 * PAGE):
        api.get("/api/customers/?search=berlin")


def test_detail_costs_three_queries(api, make_customer, django_assert_num_queries):
    customer = make_customer()
    with django_assert_num_queries(3):
        api.get(f"/api/customers/{customer.id}/")


def test_async_code_cannot_lazy_load(make_customer):
    """Why the N+1 is written out: the lazy load step 01's serializer relied on raises."""
    customer = make_customer()

    async def touch_address():
        fetched = await Customer.objects.aget(pk=customer.pk)
        return fetched.address

    with pytest.raises(SynchronousOnlyOperation):
        async_to_sync(touch_address)()
