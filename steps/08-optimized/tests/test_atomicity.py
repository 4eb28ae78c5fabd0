"""Create is one unit of work: a failure after the customer row leaves nothing behind."""

import pytest

from crm.infrastructure.models import Address, Customer, CustomerRelationship
from tests.conftest import ADDRESS

BODY = {"customer_id": "ATOM-1", "first_name": "A", "last_name": "B", "address": ADDRESS}


class Injected(Exception):
    pass


@pytest.fixture
def failing_relationship(monkeypatch):
    def fail(**kwargs):
        # The address and the customer are written by now.
        assert Customer.objects.filter(customer_id="ATOM-1").exists()
        raise Injected

    monkeypatch.setattr(CustomerRelationship.objects, "create", fail)


@pytest.mark.django_db(transaction=True)
def test_failed_create_rolls_back_address_and_customer(client, failing_relationship):
    client.raise_request_exception = False
    response = client.post("/api/customers/", BODY, content_type="application/json")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}
    assert Customer.objects.count() == 0
    assert Address.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_failed_patch_keeps_the_old_address(client, monkeypatch):
    created = client.post("/api/customers/", BODY, content_type="application/json").json()

    def fail(self, *args, **kwargs):
        raise Injected

    monkeypatch.setattr(Customer, "save", fail)
    client.raise_request_exception = False
    moved = {**ADDRESS, "city": "Munich"}
    response = client.patch(
        f"/api/customers/{created['id']}/", {"address": moved}, content_type="application/json"
    )
    assert response.status_code == 500
    assert list(Address.objects.values_list("city", flat=True)) == ["Berlin"]
