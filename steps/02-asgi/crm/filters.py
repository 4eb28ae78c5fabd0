import datetime as dt
from functools import reduce
from operator import and_, or_

from django.db.models import F, Q
from django.utils.text import smart_split, unescape_string_literal

# Public ordering names and the column each one sorts by. Ties are broken by id in the
# same direction, so the order is total and pages never overlap.
ORDERINGS = {
    "created": "created",
    "first_name": "first_name",
    "last_name": "last_name",
    "birthday": "birthday",
    "points": "relationship__points",
    "customer_id": "customer_id",
}
DEFAULT_ORDERING = "-created"
ORDERING_CHOICES = [f"{sign}{name}" for name in ORDERINGS for sign in ("", "-")]

# What `search` looks at: every term `icontains` over every field, joins included, as
# DRF's SearchFilter does in step 01.
SEARCH_FIELDS = [
    "first_name",
    "last_name",
    "customer_id",
    "phone_number",
    "address__street",
    "address__city",
    "address__city_code",
    "address__country",
]


def order_by(queryset, ordering: str):
    descending = ordering.startswith("-")
    column = ORDERINGS[ordering.lstrip("-")]
    if descending:
        return queryset.order_by(F(column).desc(), F("id").desc())
    return queryset.order_by(F(column).asc(), F("id").asc())


def start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def search_terms(text: str) -> list[str]:
    """Words and "quoted phrases", split as DRF's SearchFilter splits them in step 01."""
    terms = []
    for term in smart_split(text):
        term = term.strip(",")
        if term[:1] in ("'", '"') and term[0] == term[-1]:
            terms.append(unescape_string_literal(term))
        else:
            terms += [part.strip() for part in term.split(",") if part]
    return terms


def search(queryset, text: str):
    terms = search_terms(text)
    matches = [
        reduce(or_, (Q(**{f"{field}__icontains": term}) for field in SEARCH_FIELDS))
        for term in terms
    ]
    return queryset.filter(reduce(and_, matches)) if matches else queryset


def filter_customers(queryset, params):
    """Apply every list parameter; ``params`` is a validated ``CustomerQuery``."""
    lookups = {
        "first_name__istartswith": params.first_name,
        "last_name__istartswith": params.last_name,
        "address__city__iexact": params.city,
        "address__country__iexact": params.country,
        "customer_id": params.customer_id,
        "gender": params.gender,
        "birthday__gte": params.birthday_after,
        "birthday__lte": params.birthday_before,
        "relationship__points__gte": params.points_min,
        "relationship__points__lte": params.points_max,
    }
    queryset = queryset.filter(**{k: v for k, v in lookups.items() if v not in (None, "")})
    if params.created_after:
        queryset = queryset.filter(created__gte=start_of_day(params.created_after))
    # Inclusive of the whole day, as a range on the raw column rather than created::date,
    # so that an index on created can serve it.
    if params.created_before and params.created_before != dt.date.max:
        next_day = params.created_before + dt.timedelta(days=1)
        queryset = queryset.filter(created__lt=start_of_day(next_day))
    if params.has_address:
        queryset = queryset.filter(address__isnull=params.has_address == "false")
    if params.search:
        queryset = search(queryset, params.search)
    return order_by(queryset, params.ordering)
