import itertools

import pytest
from rest_framework.test import APIClient

from crm.models import Address, Customer, CustomerRelationship

ADDRESS = {
    "street": "Invalidenstraße",
    "street_number": "117",
    "city_code": "10115",
    "city": "Berlin",
    "country": "Germany",
}


@pytest.fixture
def api():
    return APIClient()


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
