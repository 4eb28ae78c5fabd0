"""In-memory fakes of the application's ports: the use cases' tests need no database and
no Redis. Each keeps the rules its real adapter keeps (unique customer_id, all-or-nothing
units of work, invalidation on commit), since the use cases rely on them."""

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


class FakeCache:
    """Records what the use cases invalidate; as the real one, only once they commit."""

    def __init__(self):
        self.pending: list[int] = []
        self.invalidated: list[int] = []

    async def listing(self, shape, render):
        return await render(), False

    async def customer(self, id, render):
        return await render(), False

    def invalidate(self, *customer_ids: int) -> None:
        self.pending.extend(customer_ids)

    async def status(self) -> str:
        return "ok"


class FakeUnitOfWork:
    """All or nothing: the repository as it was before the block, if the block fails."""

    def __init__(self, repository: FakeRepository, cache: FakeCache):
        self.repository = repository
        self.cache = cache
        self.committed = 0

    @contextmanager
    def __call__(self):
        before = copy.deepcopy((self.repository.customers, self.repository.addresses))
        try:
            yield
        except BaseException:
            self.repository.customers, self.repository.addresses = before
            self.cache.pending.clear()
            raise
        self.committed += 1
        self.cache.invalidated.extend(self.cache.pending)
        self.cache.pending.clear()
