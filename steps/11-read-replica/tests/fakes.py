"""In-memory fakes of the application's ports: the use cases' tests need no database and
no Redis. Each keeps the rules its real adapter keeps (unique customer_id, all-or-nothing
units of work), since the use cases rely on them. The use cases hold no cache: the ORM's
signals invalidate it (crm/infrastructure/signals.py, tested in test_cache.py)."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from contextlib import contextmanager
from dataclasses import replace

from crm.domain.customers import Customer
from crm.domain.errors import CustomerIdTaken, CustomerNotFound
from crm.domain.listing import Listing, Page, Position


class FakeRepository:
    def __init__(self):
        self.customers: dict[int, Customer] = {}
        self.addresses: dict[int, object] = {}
        self.ids = itertools.count(1)

    async def page(self, listing: Listing, start: Position | None, backwards: bool) -> Page:
        found = sorted(self.customers.values(), key=lambda c: c.id)
        return Page(found[: listing.page_size])

    async def get(self, id: int) -> Customer:
        return self.load(id)

    def load(self, id: int) -> Customer:
        try:
            return self.customers[id]
        except KeyError:
            raise CustomerNotFound(id) from None

    def add(self, customer: Customer) -> Customer:
        return self._store(replace(customer, id=next(self.ids), created=dt.datetime.now(dt.UTC)))

    def save(self, customer: Customer) -> Customer:
        return self._store(customer)

    def delete(self, id: int) -> bool:
        return self.customers.pop(id, None) is not None

    def _store(self, customer: Customer) -> Customer:
        taken = {c.customer_id for c in self.customers.values() if c.id != customer.id}
        if customer.customer_id in taken:
            raise CustomerIdTaken(customer.customer_id.value)
        if customer.address is not None and customer.address.id is None:
            customer = replace(customer, address=replace(customer.address, id=next(self.ids)))
            self.addresses[customer.address.id] = customer.address
        self.customers[customer.id] = customer
        return customer


class FakeUnitOfWork:
    """All or nothing: the repository as it was before the block, if the block fails."""

    def __init__(self, repository: FakeRepository):
        self.repository = repository
        self.committed = 0

    @contextmanager
    def __call__(self):
        before = copy.deepcopy((self.repository.customers, self.repository.addresses))
        try:
            yield
        except BaseException:
            self.repository.customers, self.repository.addresses = before
            raise
        self.committed += 1
