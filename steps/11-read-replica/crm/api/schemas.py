"""Request and response shapes. pydantic validates; the contract's rules live here.

Each request schema hands the use cases domain objects (``listing()``, ``customer()``,
``changes()``); responses are read from domain objects (``from_attributes``).
"""

import datetime as dt
import re
from typing import Annotated, Literal

from ninja import Schema
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from crm.api.cursors import MAX_CURSOR_LENGTH
from crm.domain.customers import Address, Customer, CustomerId, Gender
from crm.domain.listing import DEFAULT_ORDERING, ORDERINGS, Filters, Listing

INT32_MAX = 2**31 - 1
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

GenderName = Literal[tuple(gender.value for gender in Gender)]
ORDERING_CHOICES = [f"{sign}{name}" for name in ORDERINGS for sign in ("", "-")]
Ordering = Literal[tuple(ORDERING_CHOICES)]


def no_nul(value):
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("Null characters are not allowed.")
    return value


def iso_date(value):
    """``YYYY-MM-DD`` only: pydantic alone would also take Unix timestamps."""
    if value is None or isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise ValueError("Enter a date as YYYY-MM-DD.")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError("Enter a valid date.") from None


# What no_nul and a trimmed min_length refuse, as JSON Schema patterns in the OpenAPI
# document, so that a client built from it never sends it.
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


def text(max_length: int, min_length: int = 1):
    # The constraints before the validator: after it, pydantic 2.14 trims but no longer
    # checks min_length, and "   " would be stored as a blank name.
    return Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        BeforeValidator(no_nul),
        Field(json_schema_extra={"pattern": NOT_BLANK if min_length else NO_NUL}),
    ]


IsoDate = Annotated[dt.date | None, BeforeValidator(iso_date)]
Points = Annotated[int, Field(ge=0, le=INT32_MAX)]


class Strict(Schema):
    # A typo or a read-only key is a 400 that names it, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class AddressIn(Strict):
    street: text(255)
    street_number: text(16)
    city_code: text(16)
    city: text(128)
    country: text(64)

    def address(self) -> Address:
        return Address(**self.model_dump())


class CustomerPatch(Strict):
    # Omitting a field leaves it unchanged; the defaults are never validated, so an
    # explicit null is still refused for the fields that cannot be null.
    customer_id: text(64) = None
    first_name: text(100) = None
    last_name: text(100) = None
    gender: GenderName = None
    phone_number: text(32, min_length=0) | None = None
    birthday: IsoDate = None
    address: AddressIn | None = None

    def changes(self) -> dict:
        """The fields the client sent, as the domain holds them."""
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        if "customer_id" in changes:
            changes["customer_id"] = CustomerId(changes["customer_id"])
        if "gender" in changes:
            changes["gender"] = Gender(changes["gender"])
        if changes.get("address") is not None:
            changes["address"] = changes["address"].address()
        return changes


class CustomerIn(CustomerPatch):
    customer_id: text(64)
    first_name: text(100)
    last_name: text(100)
    gender: GenderName = Gender.UNDEFINED.value

    def customer(self) -> Customer:
        return Customer(
            customer_id=CustomerId(self.customer_id),
            first_name=self.first_name,
            last_name=self.last_name,
            gender=Gender(self.gender),
            phone_number=self.phone_number,
            birthday=self.birthday,
            address=self.address.address() if self.address is not None else None,
        )


class AddressOut(Schema):
    street: str
    street_number: str
    city_code: str
    city: str
    country: str


class RelationshipOut(Schema):
    points: int
    last_activity: dt.datetime | None


class CustomerOut(Schema):
    id: int
    customer_id: Annotated[str, BeforeValidator(str)]
    first_name: str
    last_name: str
    gender: str
    phone_number: str | None
    birthday: dt.date | None
    created: dt.datetime
    last_updated: dt.datetime
    address: AddressOut | None
    relationship: RelationshipOut | None


class CustomerPage(Schema):
    # No count: counting the matches would cost as much as reading them all.
    next: str | None
    previous: str | None
    results: list[CustomerOut]


class CustomerQuery(Schema):
    # Blank text filters mean "no filter", as they do for django-filter in step 01.
    search: text(100, min_length=0) | None = None
    first_name: text(100, min_length=0) | None = None
    last_name: text(100, min_length=0) | None = None
    city: text(128, min_length=0) | None = None
    country: text(64, min_length=0) | None = None
    customer_id: text(64, min_length=0) | None = None
    gender: GenderName | None = None
    birthday_after: IsoDate = None
    birthday_before: IsoDate = None
    created_after: IsoDate = None
    created_before: IsoDate = None
    points_min: Points | None = None
    points_max: Points | None = None
    has_address: Literal["true", "false"] | None = None
    ordering: Ordering = DEFAULT_ORDERING
    cursor: str | None = Field(None, json_schema_extra={"maxLength": MAX_CURSOR_LENGTH})
    # Refused, and left out of the OpenAPI document: a client built from it never sends it.
    page: SkipJsonSchema[str | None] = None
    page_size: Annotated[int, Field(ge=1, le=100)] = 20

    def listing(self) -> Listing:
        filters = {name: getattr(self, name) for name in Filters.__dataclass_fields__}
        if self.has_address is not None:
            filters["has_address"] = self.has_address == "true"
        return Listing(Filters(**filters), self.ordering, self.page_size)

    @field_validator("page")
    @classmethod
    def no_page_numbers(cls, value):
        if value is not None:
            raise ValueError("This listing pages with a cursor: follow the `next` link.")
        return value

    @model_validator(mode="before")
    @classmethod
    def blank_is_absent(cls, data):
        # `?points_min=` means "no such filter" too, rather than "not a number". An empty
        # cursor is not "no cursor": it is a broken link, and gets a 400.
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != "" or key == "cursor"}
        return data
