"""The N+1, pinned: the numbers the next step is measured against."""

import pytest

PAGE = 20


@pytest.fixture
def full_page(make_customer):
    for _ in range(PAGE + 5):
        make_customer()


def test_a_list_page_costs_two_queries_per_customer(api, full_page, django_assert_num_queries):
    # COUNT(*) + the page, then address and relationship fetched one customer at a time.
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
