"""The customers in PostgreSQL, through the ORM: the CustomerRepository port."""

from __future__ import annotations

from dataclasses import replace

from django.db import IntegrityError
from django.db.models import FETCH_RAISE

from crm.domain.customers import Address, Customer, CustomerId, Gender, Relationship
from crm.domain.errors import CustomerIdTaken, CustomerNotFound
from crm.domain.listing import Filters, Listing, Page, Position
from crm.infrastructure import keyset, models, routing
from crm.infrastructure.filters import filter_customers

OWN_FIELDS = ["customer_id", "first_name", "last_name", "gender", "phone_number", "birthday"]
ADDRESS_FIELDS = ["street", "street_number", "city_code", "city", "country"]
RELATIONSHIP_FIELDS = ["points", "last_activity"]
# The columns a customer is made of, and no others: the joined rows carry nothing unused.
COLUMNS = [
    "id",
    *OWN_FIELDS,
    "created",
    "last_updated",
    *(f"address__{name}" for name in ADDRESS_FIELDS),
    *(f"relationship__{name}" for name in RELATIONSHIP_FIELDS),
]


def customers():
    """Customers with their address and relationship joined into the same query.

    The page's rows in one query instead of 1 + 2 per row. FETCH_RAISE turns any attribute
    this query did not load into an error instead of a silent extra query per row.
    """
    return (
        models.Customer.objects.select_related("address", "relationship")
        .only(*COLUMNS)
        .fetch_mode(FETCH_RAISE)
    )


# --8<-- [start:page_of]
def page_of(chosen):
    """The customers of a page chosen on app_user alone, with their joined rows.

    Joined before the LIMIT, every row a sort would order must be joined first: to the
    planner, sorting a filter's 500 matches cost their 1,000 joins, more than walking
    the ordering's index until 21 matches turn up, so it walked, and a city that
    matched no one walked all million customers. Chosen first, the page's rows are the
    only ones joined, and the walk and the sort are weighed on the table alone.
    """
    return customers().filter(pk__in=chosen.values("pk"))


# --8<-- [end:page_of]


def to_domain(row: models.Customer) -> Customer:
    address = row.address
    # select_related stores "no relationship" too; reading it raises instead of querying.
    relationship = getattr(row, "relationship", None)
    return Customer(
        id=row.pk,
        customer_id=CustomerId(row.customer_id),
        first_name=row.first_name,
        last_name=row.last_name,
        gender=Gender(row.gender),
        phone_number=row.phone_number,
        birthday=row.birthday,
        created=row.created,
        last_updated=row.last_updated,
        address=None
        if address is None
        else Address(id=address.pk, **{name: getattr(address, name) for name in ADDRESS_FIELDS}),
        relationship=None
        if relationship is None
        else Relationship(relationship.points, relationship.last_activity),
    )


def key_of(customer: Customer, name: str):
    if name == "points":
        return customer.relationship.points if customer.relationship is not None else None
    if name == "customer_id":
        return customer.customer_id.value
    return getattr(customer, name)


def position(customer: Customer, name: str) -> Position:
    return Position(key_of(customer, name), customer.id)


def own_fields(customer: Customer) -> dict:
    return {
        **{name: getattr(customer, name) for name in OWN_FIELDS},
        "customer_id": customer.customer_id.value,
        "gender": customer.gender.value,
    }


def stored_address(address: Address | None) -> models.Address | None:
    """The address row: a new one for an address not stored yet (addresses are shared)."""
    if address is None:
        return None
    if address.id is not None:
        return models.Address(id=address.id)
    return models.Address.objects.create(
        **{name: getattr(address, name) for name in ADDRESS_FIELDS}
    )


def customer_id_taken(exc: IntegrityError) -> bool:
    # Two concurrent writes can both pass a uniqueness check; the database decides.
    return "customer_id" in str(exc)


def stored(customer, row, address, relationship) -> Customer:
    """The customer as the database now holds it: the ids and times it gave."""
    return replace(
        customer,
        id=row.pk,
        created=row.created,
        last_updated=row.last_updated,
        address=None if address is None else replace(customer.address, id=address.pk),
        relationship=relationship,
    )


class OrmCustomerRepository:
    # --8<-- [start:page]
    @routing.falls_back_to_primary
    async def page(self, listing: Listing, start: Position | None, backwards: bool) -> Page:
        name = listing.key
        wanted = listing.page_size + 1
        # Walking backwards reads the reverse order from the same index, then flips the
        # rows, so `previous` costs what `next` costs.
        reading = listing.descending != backwards
        # A filtered page is chosen from app_user alone, then joined (page_of). A search
        # alone keeps step 06's statement: its plans were settled there, on its index.
        filtered = replace(listing.filters, search=None) != Filters()
        rows = filter_customers(
            models.Customer.objects if filtered else customers(), listing.filters, name
        )
        rows = keyset.ordered(rows, name, reading)
        if start is not None:
            rows = keyset.after(rows, name, start, reading)
        if filtered:
            rows = keyset.ordered(page_of(rows[:wanted]), name, reading)
        found = [to_domain(row) async for row in rows[:wanted]]
        more = len(found) == wanted
        found = found[: listing.page_size]
        if backwards:
            found.reverse()
        has_next = more if not backwards else start is not None
        has_previous = more if backwards else start is not None
        return Page(
            customers=found,
            next=position(found[-1], name) if has_next and found else None,
            previous=position(found[0], name) if has_previous and found else None,
        )

    # --8<-- [end:page]

    @routing.falls_back_to_primary
    async def get(self, id: int) -> Customer:
        try:
            return to_domain(await customers().aget(pk=id))
        except models.Customer.DoesNotExist:
            raise CustomerNotFound(id) from None

    def load(self, id: int) -> Customer:
        try:
            return to_domain(customers().get(pk=id))
        except models.Customer.DoesNotExist:
            raise CustomerNotFound(id) from None

    def add(self, customer: Customer) -> Customer:
        address = stored_address(customer.address)
        try:
            row = models.Customer.objects.create(address=address, **own_fields(customer))
        except IntegrityError as exc:
            if customer_id_taken(exc):
                raise CustomerIdTaken(customer.customer_id.value) from exc
            raise
        relationship = models.CustomerRelationship.objects.create(appuser=row)
        return stored(
            customer, row, address, Relationship(relationship.points, relationship.last_activity)
        )

    def save(self, customer: Customer) -> Customer:
        address = stored_address(customer.address)
        row = models.Customer(
            id=customer.id, created=customer.created, address=address, **own_fields(customer)
        )
        try:
            # One UPDATE of the columns the API writes (update_fields: no SELECT first).
            row.save(update_fields=[*OWN_FIELDS, "address", "last_updated"])
        except IntegrityError as exc:
            if customer_id_taken(exc):
                raise CustomerIdTaken(customer.customer_id.value) from exc
            raise
        return stored(customer, row, address, customer.relationship)

    def delete(self, id: int) -> bool:
        deleted, _ = models.Customer.objects.filter(pk=id).delete()
        return deleted > 0
