"""The cursor: a page's position as an opaque token in the `next` and `previous` links.

Signed with SECRET_KEY, so that a client can neither forge a position nor replay a
cursor under other filters, ordering or page size (the keyset itself is in
crm.infrastructure.keyset).
"""

import datetime as dt
import hashlib
import json
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.core import signing
from ninja.errors import ValidationError

from crm.domain.listing import Listing, Page, Position

CURSOR = "cursor"
SALT = "crm.pagination.cursor"
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


def signer() -> signing.Signer:
    # A plain Signer, not signing.dumps: dumps adds a timestamp, so a page re-rendered a
    # second later would link to its neighbours by new URLs, and every cache keyed on
    # the URL (step 07's, a CDN's, the browser's) would miss from there on. A cursor
    # names a position, not a permission; it has nothing to expire.
    return signing.Signer(salt=SALT)


def invalid(message: str) -> ValidationError:
    return ValidationError([{"loc": ("query", CURSOR), "msg": message, "type": "cursor"}])


def binding(listing: Listing) -> str:
    """A digest of the listing a cursor belongs to: refused under other parameters,
    valid under another spelling of the same ones."""
    text = json.dumps(listing.canonical(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(position: Position, backwards: bool, bound_to: str) -> str:
    key = position.key.isoformat() if hasattr(position.key, "isoformat") else position.key
    payload = {"k": key, "i": position.id, "b": int(backwards), "q": bound_to}
    return signer().sign_object(payload)


def decode(token: str, listing: Listing) -> tuple[Position, bool]:
    """The position a cursor points at and whether it walks backwards; 400 if forged."""
    if len(token) > MAX_CURSOR_LENGTH:
        raise invalid("Invalid cursor: too long.")
    try:
        payload = signer().unsign_object(token)
    except signing.BadSignature:
        raise invalid("Invalid cursor: follow the next or previous link as given.") from None
    if not isinstance(payload, dict) or set(payload) != {"k", "i", "b", "q"}:
        raise invalid("Invalid cursor.")
    if payload["q"] != binding(listing):
        raise invalid("This cursor belongs to a listing with other parameters.")
    try:
        key = None if payload["k"] is None else PARSE[listing.key](payload["k"])
        return Position(key, int(payload["i"])), bool(payload["b"])
    except (TypeError, ValueError):
        raise invalid("Invalid cursor.") from None


def link(request, token: str) -> str:
    """The current URL with ``cursor`` set to ``token``."""
    parts = urlsplit(request.build_absolute_uri())
    query = parse_qs(parts.query, keep_blank_values=True)
    query[CURSOR] = [token]
    return urlunsplit(parts._replace(query=urlencode(sorted(query.items()), doseq=True)))


def links(request, listing: Listing, page: Page) -> dict:
    """The page's `next` and `previous` links, or None where there is no such page."""
    bound_to = binding(listing)
    return {
        "next": link(request, encode(page.next, False, bound_to)) if page.next else None,
        "previous": link(request, encode(page.previous, True, bound_to)) if page.previous else None,
    }
