"""Request and response shapes. pydantic validates; the contract's rules live here."""

import datetime as dt
import re
from typing import Annotated, Literal

from ninja import Schema
from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from crm.filters import ORDERING_CHOICES
from crm.models import Gender

INT32_MAX = 2**31 - 1
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

GenderName = Literal[tuple(Gender.values)]
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


class CustomerIn(CustomerPatch):
    customer_id: text(64)
    first_name: text(100)
    last_name: text(100)
    gender: GenderName = Gender.UNDEFINED.value


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
    customer_id: str
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
    count: int
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
    ordering: Ordering = "-created"
    page: Annotated[int, Field(ge=1)] = 1
    page_size: Annotated[int, Field(ge=1, le=100)] = 20

    @model_validator(mode="before")
    @classmethod
    def blank_is_absent(cls, data):
        # `?points_min=` means "no such filter" too, rather than "not a number".
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data
