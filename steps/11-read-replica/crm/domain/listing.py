"""What a client asks a listing for, and a page of it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from crm.domain.customers import Customer

# The orderings a listing offers; "-name" is the same order descending. Ties are broken
# by id in the same direction, so the order is total and pages never overlap.
ORDERINGS = ("created", "first_name", "last_name", "birthday", "points", "customer_id")
DEFAULT_ORDERING = "-created"
# Text filters matched case-insensitively: ?city=Paris and ?city=PARIS list the same.
FOLDED = ("search", "first_name", "last_name", "city", "country")


@dataclass(frozen=True)
class Filters:
    search: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    city: str | None = None
    country: str | None = None
    customer_id: str | None = None
    gender: str | None = None
    birthday_after: dt.date | None = None
    birthday_before: dt.date | None = None
    created_after: dt.date | None = None
    created_before: dt.date | None = None
    points_min: int | None = None
    points_max: int | None = None
    has_address: bool | None = None


@dataclass(frozen=True)
class Listing:
    """One listing, whatever the spelling of the request that asked for it."""

    filters: Filters = field(default_factory=Filters)
    ordering: str = DEFAULT_ORDERING
    page_size: int = 20

    @property
    def key(self) -> str:
        return self.ordering.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.ordering.startswith("-")

    def canonical(self) -> dict:
        """The listing as plain values: a blank filter as no filter, a case-insensitive
        one in lower case. Equal for every spelling of one listing, and only for it."""
        shape = {"ordering": self.ordering, "page_size": self.page_size}
        for name, value in asdict(self.filters).items():
            if value == "":
                value = None
            elif name in FOLDED and value is not None:
                value = value.lower()
            shape[name] = value.isoformat() if isinstance(value, dt.date) else value
        return shape


@dataclass(frozen=True)
class Position:
    """A row of a listing: its ordering key (None for a NULL key) and its id."""

    key: object
    id: int


@dataclass(frozen=True)
class Page:
    customers: list[Customer]
    # Where the next and the previous page start; None where there is none.
    next: Position | None = None
    previous: Position | None = None
