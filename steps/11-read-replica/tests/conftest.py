import itertools
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client

from crm.infrastructure.models import Address, Customer, CustomerRelationship

ADDRESS = {
    "street": "Invalidenstraße",
    "street_number": "117",
    "city_code": "10115",
    "city": "Berlin",
    "country": "Germany",
}


JSON = "application/json"


@pytest.fixture
def api():
    # Django's test client runs the async views through async_to_sync, so their ORM
    # calls land on the test's own connection and see its uncommitted rows.
    return Client()


@pytest.fixture
def make_customer(db):
    """Create a customer with an address and a relationship; keywords override fields."""
    counter = itertools.count(1)

    def make(*, address=ADDRESS, points=None, relationship=True, **fields):
        n = next(counter)
        fields.setdefault("customer_id", f"T{n:05d}")
        fields.setdefault("first_name", "Ada")
        fields.setdefault("last_name", "Lovelace")
        if isinstance(address, dict):
            address = Address.objects.create(**address)
        customer = Customer.objects.create(address=address, **fields)
        if relationship:
            CustomerRelationship.objects.create(appuser=customer, points=points or 0)
        return customer

    return make


@pytest.fixture(autouse=True)
def own_cache_keys(settings):
    """Keys of the test's own: its rows roll back, and what never commits bumps nothing."""
    default = {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    settings.CACHES = {**settings.CACHES, "default": default}


@pytest.fixture(scope="module")
async def connections_closed_afterwards():
    """The awaited ORM calls hold a connection on a thread of asgiref's, and the pool
    keeps the ones handed back open: close both after a module of async tests, or the
    test database cannot be dropped."""
    yield
    await sync_to_async(connections.close_all)()
    connections["default"].close_pool()
