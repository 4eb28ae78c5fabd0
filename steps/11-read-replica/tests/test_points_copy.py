"""app_user.points, the copy the points ordering reads, follows every write path."""

from django.db import connection

from crm.infrastructure.models import Customer, CustomerRelationship
from tests.conftest import JSON


def copied(customer) -> int | None:
    return Customer.objects.values_list("points", flat=True).get(pk=customer.pk)


def test_a_created_customer_has_its_points_copied(api, db):
    body = {"customer_id": "P-1", "first_name": "Emmy", "last_name": "Noether"}
    created = api.post("/api/customers/", body, content_type=JSON).json()
    assert Customer.objects.values_list("points", flat=True).get(pk=created["id"]) == 0


def test_orm_and_raw_sql_updates_are_copied(make_customer):
    customer = make_customer(points=5)
    assert copied(customer) == 5
    CustomerRelationship.objects.filter(appuser=customer).update(points=7)
    assert copied(customer) == 7
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customer_relationship SET points = points + 1 WHERE appuser_id = %s",
            [customer.pk],
        )
    assert copied(customer) == 8


def test_a_customer_without_a_relationship_has_no_points(make_customer):
    customer = make_customer(relationship=False)
    assert copied(customer) is None
    CustomerRelationship.objects.create(appuser=customer, points=3)
    assert copied(customer) == 3
    CustomerRelationship.objects.filter(appuser=customer).delete()
    assert copied(customer) is None


def test_a_patch_never_overwrites_the_copy(api, make_customer):
    customer = make_customer(points=9)
    response = api.patch(
        f"/api/customers/{customer.pk}/", {"first_name": "Grace"}, content_type=JSON
    )
    assert response.status_code == 200
    assert copied(customer) == 9


def test_deleting_a_customer_deletes_its_relationship_cleanly(api, make_customer):
    customer = make_customer(points=4)
    assert api.delete(f"/api/customers/{customer.pk}/").status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()
