"""Reads. Querysets are built here and awaited by the API."""

from crm.filters import filter_customers
from crm.models import Address, Customer, CustomerRelationship
from crm.schemas import CustomerOut

OWN_FIELDS = [name for name in CustomerOut.model_fields if name not in ("address", "relationship")]


def customer_list(params):
    return filter_customers(Customer.objects.all(), params)


async def customer_out(customer: Customer) -> dict:
    """One customer as the API shows it, with the N+1 of step 01 written out.

    In step 01 DRF's nested serializers loaded the address and the relationship lazily,
    one query each, for every customer on a page. Async code cannot lazy-load (touching
    ``customer.address`` raises SynchronousOnlyOperation), so the very same queries are
    awaited here one by one.
    """
    address = None
    if customer.address_id is not None:
        address = await Address.objects.aget(pk=customer.address_id)
    try:
        relationship = await CustomerRelationship.objects.aget(appuser_id=customer.pk)
    except CustomerRelationship.DoesNotExist:
        relationship = None
    own = {name: getattr(customer, name) for name in OWN_FIELDS}
    return {**own, "address": address, "relationship": relationship}
