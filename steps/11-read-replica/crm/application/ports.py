"""What the use cases need from the outside world. No QuerySet, model or request here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Protocol

from crm.domain.customers import Customer
from crm.domain.listing import Listing, Page, Position


class CustomerRepository(Protocol):
    async def page(self, listing: Listing, start: Position | None, backwards: bool) -> Page:
        """The page of ``listing`` after ``start`` (before it, walking ``backwards``)."""

    async def get(self, id: int) -> Customer:
        """The customer with this id; raises CustomerNotFound."""

    # Writes are synchronous: they run inside one UnitOfWork, on one connection.
    def load(self, id: int) -> Customer:
        """The customer with this id, to change it; raises CustomerNotFound."""

    def add(self, customer: Customer) -> Customer:
        """Store a new customer, its address and relationship; raises CustomerIdTaken."""

    def save(self, customer: Customer) -> Customer:
        """Store a changed customer, and its address if it is a new one."""

    def delete(self, id: int) -> bool:
        """Delete the customer; False if there was none."""


class UnitOfWork(Protocol):
    def __call__(self) -> AbstractContextManager[None]:
        """A block whose writes all happen, or none of them."""


class ResponseCache(Protocol):
    """Rendered response bodies, and the invalidation that keeps them true."""

    async def listing(
        self, shape: dict, render: Callable[[], Awaitable[bytes]]
    ) -> tuple[bytes, bool]:
        """The body for a listing of this shape and whether it was a hit."""

    async def customer(self, id: int, render: Callable[[], Awaitable[bytes]]) -> tuple[bytes, bool]:
        """The body for one customer's detail and whether it was a hit."""

    def invalidate(self, *customer_ids: int) -> None:
        """Make every listing and these customers' details miss once the writes commit:
        called for each ORM save and delete, and by code that writes without one."""

    async def status(self) -> str:
        """``ok``, or ``degraded`` when the cache cannot answer."""
