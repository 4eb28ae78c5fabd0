"""Customers, their addresses and loyalty relationships."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNDEFINED = "undefined"


@dataclass(frozen=True)
class CustomerId:
    """The business's own identifier of a customer ("C0000042"), unique among customers."""

    value: str

    def __post_init__(self):
        if not self.value:
            raise ValueError("A customer_id cannot be empty.")

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Address:
    """A postal address. Customers share addresses, so one is never edited in place:
    moving a customer gives it a new address (``id`` None until it is stored)."""

    street: str
    street_number: str
    city_code: str
    city: str
    country: str
    id: int | None = None


@dataclass(frozen=True)
class Relationship:
    """The loyalty relationship every customer is created with."""

    points: int = 0
    last_activity: dt.datetime | None = None


@dataclass(frozen=True)
class Customer:
    customer_id: CustomerId
    first_name: str
    last_name: str
    gender: Gender = Gender.UNDEFINED
    phone_number: str | None = None
    birthday: dt.date | None = None
    address: Address | None = None
    relationship: Relationship | None = field(default_factory=Relationship)
    # Given by the store: None until the customer is stored.
    id: int | None = None
    created: dt.datetime | None = None
    last_updated: dt.datetime | None = None

    def changed(self, **changes) -> Customer:
        """This customer with ``changes`` applied; an address given is a new address."""
        if changes.get("address") is not None:
            changes["address"] = replace(changes["address"], id=None)
        return replace(self, **changes)
