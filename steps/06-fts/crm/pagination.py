"""Keyset pagination: every page starts where the one before ended, found by an index.

Page-number pagination pays a COUNT(*) and an OFFSET per page: PostgreSQL reads and
throws away every row before the page, so page 50 costs fifty pages. Here a page is
``WHERE (key, id) > (last key, last id) ORDER BY key, id LIMIT n + 1``: one range scan
of the (key, id) index that stops after n + 1 rows, on page 1 and on page 5,000 alike.
The extra row says whether there is a next page, so nothing is counted.

The position travels in an opaque cursor, signed with SECRET_KEY so that a client can
neither forge a position nor replay a cursor under other filters, ordering or page size.
"""

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.core import signing
from django.db.models import F, Field, Func, Value
from django.db.models.lookups import GreaterThan, LessThan
from ninja.errors import ValidationError

from crm.filters import ORDERINGS
from crm.models import NULL_KEYS, SORT_KEYS

CURSOR = "cursor"
SALT = "crm.pagination.cursor"
# Parameters matched case-insensitively (crm.filters): ?city=Paris and ?city=PARIS list
# the same customers.
FOLDED = ("search", "first_name", "last_name", "city", "country")
# A real cursor is under 200 characters; anything much longer is not one of ours, and
# is refused before any decoding work is spent on it.
MAX_CURSOR_LENGTH = 512
PARSE = {
    "created": dt.datetime.fromisoformat,
    "birthday": dt.date.fromisoformat,
    "points": int,
    "first_name": str,
    "last_name": str,
    "customer_id": str,
}


class Row(Func):
    """A row constructor, ``(a, b)``.

    PostgreSQL compares rows column by column, and a btree index on (a, b) serves
    ``(a, b) > (x, y)`` as one range: the scan starts right after the last row shown.
    """

    function = ""
    output_field = Field()


@dataclass(frozen=True)
class Position:
    """A row of the listing: its ordering key (None for a NULL key) and its id."""

    key: object
    id: int


def signer() -> signing.Signer:
    # A plain Signer, not signing.dumps: dumps adds a timestamp, so a page re-rendered a
    # second later would link to its neighbours by new URLs, and every cache keyed on
    # the URL (step 07's, a CDN's, the browser's) would miss from there on. A cursor
    # names a position, not a permission; it has nothing to expire.
    return signing.Signer(salt=SALT)


def invalid(message: str) -> ValidationError:
    return ValidationError([{"loc": ("query", CURSOR), "msg": message, "type": "cursor"}])


def canonical(params) -> dict:
    """The listing a request asks for, however it is spelled: defaults filled in, a
    blank filter as no filter (crm.filters), a case-insensitive filter in lower case."""
    shape = params.model_dump(exclude={CURSOR, "page"}, mode="json")
    for name, value in shape.items():
        if value == "":
            shape[name] = None
        elif name in FOLDED and value is not None:
            shape[name] = value.lower()
    return shape


def binding(params) -> str:
    """A digest of the listing a cursor belongs to: refused under other parameters,
    valid under another spelling of the same ones."""
    return hashlib.sha256(json.dumps(canonical(params), sort_keys=True).encode()).hexdigest()[:16]


def encode(position: Position, backwards: bool, bound_to: str) -> str:
    key = position.key.isoformat() if hasattr(position.key, "isoformat") else position.key
    payload = {"k": key, "i": position.id, "b": int(backwards), "q": bound_to}
    return signer().sign_object(payload)


def decode(token: str, name: str, bound_to: str) -> tuple[Position, bool]:
    """The position a cursor points at and whether it walks backwards; 400 if forged."""
    if len(token) > MAX_CURSOR_LENGTH:
        raise invalid("Invalid cursor: too long.")
    try:
        payload = signer().unsign_object(token)
    except signing.BadSignature:
        raise invalid("Invalid cursor: follow the next or previous link as given.") from None
    if not isinstance(payload, dict) or set(payload) != {"k", "i", "b", "q"}:
        raise invalid("Invalid cursor.")
    if payload["q"] != bound_to:
        raise invalid("This cursor belongs to a listing with other parameters.")
    try:
        key = None if payload["k"] is None else PARSE[name](payload["k"])
        return Position(key, int(payload["i"])), bool(payload["b"])
    except (TypeError, ValueError):
        raise invalid("Invalid cursor.") from None


def sort_key(name: str):
    """The expression a listing sorts by: the column, or its NULL-free key (models.py)."""
    return SORT_KEYS[name] if name in SORT_KEYS else F(ORDERINGS[name])


def after(queryset, name: str, position: Position, descending: bool):
    """Rows strictly after ``position`` in (key, id) order, as one index range."""
    key = NULL_KEYS[name] if position.key is None else Value(position.key)
    compare = LessThan if descending else GreaterThan
    return queryset.filter(compare(Row(sort_key(name), F("id")), Row(key, Value(position.id))))


def ordered(queryset, name: str, descending: bool):
    if descending:
        return queryset.order_by(sort_key(name).desc(), F("id").desc())
    return queryset.order_by(sort_key(name).asc(), F("id").asc())


def key_of(customer, name: str):
    if name == "points":
        # The copy on the row equals this, and only the relationship's column is loaded.
        relationship = getattr(customer, "relationship", None)
        return relationship.points if relationship is not None else None
    return getattr(customer, ORDERINGS[name])


def link(request, token: str) -> str:
    """The current URL with ``cursor`` set to ``token``."""
    parts = urlsplit(request.build_absolute_uri())
    query = parse_qs(parts.query, keep_blank_values=True)
    query[CURSOR] = [token]
    return urlunsplit(parts._replace(query=urlencode(sorted(query.items()), doseq=True)))


async def paginate(request, queryset, params) -> dict:
    """One page of ``queryset`` (filtered, not yet ordered) and the links around it."""
    name = params.ordering.lstrip("-")
    descending = params.ordering.startswith("-")
    bound_to = binding(params)
    position, backwards = None, False
    if params.cursor is not None:
        position, backwards = decode(params.cursor, name, bound_to)
    wanted = params.page_size + 1
    # Walking backwards reads the reverse order from the same index, then flips the
    # rows, so `previous` costs what `next` costs.
    reading = descending != backwards
    rows = ordered(queryset, name, reading)
    if position is not None:
        rows = after(rows, name, position, reading)
    rows = [row async for row in rows[:wanted]]
    more = len(rows) == wanted
    rows = rows[: params.page_size]
    if backwards:
        rows.reverse()
    first = Position(key_of(rows[0], name), rows[0].pk) if rows else None
    last = Position(key_of(rows[-1], name), rows[-1].pk) if rows else None
    has_next = more if not backwards else position is not None
    has_previous = more if backwards else position is not None
    return {
        "next": link(request, encode(last, False, bound_to)) if has_next and last else None,
        "previous": (
            link(request, encode(first, True, bound_to)) if has_previous and first else None
        ),
        "results": rows,
    }
