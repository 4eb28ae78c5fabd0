"""Keyset pagination in SQL: every page starts where the one before ended, by an index.

Page-number pagination pays a COUNT(*) and an OFFSET per page: PostgreSQL reads and
throws away every row before the page, so page 50 costs fifty pages. Here a page is
``WHERE (key, id) > (last key, last id) ORDER BY key, id LIMIT n + 1``: one range scan
of the (key, id) index that stops after n + 1 rows, on page 1 and on page 5,000 alike.
The extra row says whether there is a next page, so nothing is counted.
"""

from django.db.models import F, Field, Func, Value
from django.db.models.lookups import GreaterThan, LessThan

from crm.domain.listing import Position
from crm.infrastructure.models import NULL_KEYS, SORT_KEYS

# Each ordering's column; points sorts by the customer's own copy (migration 0003).
COLUMNS = {
    "created": "created",
    "first_name": "first_name",
    "last_name": "last_name",
    "birthday": "birthday",
    "points": "points",
    "customer_id": "customer_id",
}


class Row(Func):
    """A row constructor, ``(a, b)``.

    PostgreSQL compares rows column by column, and a btree index on (a, b) serves
    ``(a, b) > (x, y)`` as one range: the scan starts right after the last row shown.
    """

    function = ""
    output_field = Field()


def sort_key(name: str):
    """The expression a listing sorts by: the column, or its NULL-free key (models.py)."""
    return SORT_KEYS[name] if name in SORT_KEYS else F(COLUMNS[name])


def after(queryset, name: str, position: Position, descending: bool):
    """Rows strictly after ``position`` in (key, id) order, as one index range."""
    key = NULL_KEYS[name] if position.key is None else Value(position.key)
    compare = LessThan if descending else GreaterThan
    return queryset.filter(compare(Row(sort_key(name), F("id")), Row(key, Value(position.id))))


def ordered(queryset, name: str, descending: bool):
    if descending:
        return queryset.order_by(sort_key(name).desc(), F("id").desc())
    return queryset.order_by(sort_key(name).asc(), F("id").asc())
