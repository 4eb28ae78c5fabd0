"""Reads. Querysets are built here and awaited by the API."""

from django.db.models import FETCH_RAISE

from crm.filters import filter_customers
from crm.models import Customer
from crm.schemas import AddressOut, CustomerOut, RelationshipOut

OWN_FIELDS = [name for name in CustomerOut.model_fields if name not in ("address", "relationship")]
# The columns the API shows, and no others: the joined rows carry nothing unused.
COLUMNS = [
    *OWN_FIELDS,
    *(f"address__{name}" for name in AddressOut.model_fields),
    *(f"relationship__{name}" for name in RelationshipOut.model_fields),
]


def customers():
    """Customers with their address and relationship joined into the same query.

    The page's rows in one query instead of 1 + 2 per row. FETCH_RAISE turns any attribute
    this query did not load into an error instead of a silent extra query per row.
    """
    return (
        Customer.objects.select_related("address", "relationship")
        .only(*COLUMNS)
        .fetch_mode(FETCH_RAISE)
    )


def customer_list(params):
    return filter_customers(customers(), params)


def customer_out(customer: Customer) -> dict:
    """One customer as the API shows it, from what its query already loaded."""
    own = {name: getattr(customer, name) for name in OWN_FIELDS}
    # select_related stores "no relationship" too; reading it raises instead of querying.
    relationship = getattr(customer, "relationship", None)
    return {**own, "address": customer.address, "relationship": relationship}
