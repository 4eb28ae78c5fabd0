"""Writes. Each is one synchronous unit of work inside ``transaction.atomic``.

Django's async ORM has no async transactions: an ``acreate`` runs in autocommit on
whichever thread is free, so awaiting three creates could leave a customer without its
relationship. The API runs each function below with ``sync_to_async`` instead, which
keeps the whole unit on one thread, one connection, one transaction.
"""

from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.http import Http404

from crm.errors import Conflict
from crm.models import Address, Customer, CustomerRelationship
from crm.schemas import CustomerIn, CustomerPatch
from crm.selectors import customers

CUSTOMER_ID_TAKEN = "A customer with this customer_id already exists."


def customer_create(data: CustomerIn) -> Customer:
    fields = data.model_dump(exclude={"address"})
    with unique_customer_id(), transaction.atomic():
        if data.address is not None:
            fields["address"] = Address.objects.create(**data.address.model_dump())
        customer = Customer.objects.create(**fields)
        CustomerRelationship.objects.create(appuser=customer)
    return customer


def customer_update(pk: int, data: CustomerPatch) -> Customer:
    changes = data.model_dump(exclude_unset=True)
    with unique_customer_id(), transaction.atomic():
        try:
            # Loaded with its address and relationship: the response needs no more queries.
            customer = customers().get(pk=pk)
        except Customer.DoesNotExist:
            raise Http404 from None
        if "address" in changes:
            # Addresses are shared: a new address is a new row, never an edit of the old one.
            address = changes.pop("address")
            customer.address = Address.objects.create(**address) if address else None
        for name, value in changes.items():
            setattr(customer, name, value)
        customer.save()
    return customer


@contextmanager
def unique_customer_id():
    """Two concurrent writes can both pass a uniqueness check; the database decides."""
    try:
        yield
    except IntegrityError as exc:
        if "customer_id" in str(exc):
            raise Conflict("customer_id", CUSTOMER_ID_TAKEN) from exc
        raise
