"""The async views tested the way async Django is taught: pytest-asyncio, AsyncClient,
and the async ORM awaited in the test itself.

One event loop serves the whole session (pytest.ini), as the cache step will need: its
Redis client's pool belongs to the loop that opened it. The views' ORM calls run on
asgiref's thread for sync code, not on the test's, so they cannot see an uncommitted
test transaction: these tests commit, and Django empties the tables after each one.
"""

import pytest
from django.test import AsyncClient

from crm.infrastructure.models import Address, Customer, CustomerRelationship
from tests.conftest import ADDRESS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("connections_closed_afterwards"),
]

LIST = "/api/customers/"


@pytest.fixture
def client() -> AsyncClient:
    return AsyncClient()


async def a_customer(n: int, points: int = 0) -> Customer:
    address = await Address.objects.acreate(**ADDRESS)
    customer = await Customer.objects.acreate(
        customer_id=f"AS{n:04d}", first_name="Ada", last_name="Lovelace", address=address
    )
    await CustomerRelationship.objects.acreate(appuser=customer, points=points)
    return customer


async def test_the_list_is_walked_to_its_end_by_following_next(client):
    ids = {(await a_customer(n)).pk for n in range(7)}
    seen, url, pages = [], f"{LIST}?page_size=3", 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [customer["id"] for customer in body["results"]]
        url, pages = body["next"], pages + 1
    assert sorted(seen) == sorted(ids)
    assert pages == 3


async def test_a_detail_shows_what_the_database_holds(client):
    customer = await a_customer(1, points=42)
    response = await client.get(f"{LIST}{customer.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["customer_id"] == customer.customer_id
    assert body["address"]["city"] == ADDRESS["city"]
    assert body["relationship"]["points"] == 42


async def test_a_create_is_one_transaction_the_test_can_read_back(client):
    body = {"customer_id": "AS-NEW", "first_name": "Grace", "last_name": "Hopper"}
    response = await client.post(
        LIST, {**body, "address": ADDRESS}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    created = await Customer.objects.select_related("address").aget(customer_id="AS-NEW")
    assert created.address.city == ADDRESS["city"]
    assert await CustomerRelationship.objects.filter(appuser=created).aexists()
    assert response.json()["id"] == created.pk


async def test_an_unknown_customer_is_a_404(client):
    response = await client.get(f"{LIST}999999999/")
    assert response.status_code == 404
    assert response.json()["detail"]
