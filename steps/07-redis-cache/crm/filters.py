import datetime as dt

from django.contrib.postgres.search import SearchQuery

from crm.models import SEARCH_CONFIG

# Public ordering names and the column each one sorts by. Ties are broken by id in the
# same direction, so the order is total and pages never overlap.
ORDERINGS = {
    "created": "created",
    "first_name": "first_name",
    "last_name": "last_name",
    "birthday": "birthday",
    # The customer's own copy of its relationship's points (migration 0003).
    "points": "points",
    "customer_id": "customer_id",
}
DEFAULT_ORDERING = "-created"
ORDERING_CHOICES = [f"{sign}{name}" for name in ORDERINGS for sign in ("", "-")]


def start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class TypedSearch(SearchQuery):
    """A search box's text as a tsquery: websearch_to_tsquery, last word a prefix.

    websearch_to_tsquery never fails, whatever the text: operators it does not know are
    words' separators, and a text without a word is a query that matches nothing.
    last_word_prefix (migration 0004) lets the word still being typed find the words it
    begins.
    """

    def __init__(self, text: str):
        super().__init__(text, search_type="websearch", config=SEARCH_CONFIG)

    def as_sql(self, compiler, connection, **extra):
        sql, params = super().as_sql(compiler, connection, **extra)
        return f"last_word_prefix({sql})", params


def search(queryset, text: str):
    # search_vector @@ query, which the GIN index on search_vector answers.
    return queryset.filter(search_vector=TypedSearch(text))


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
    # The keyset pagination orders the rows: its order and its WHERE must agree.
    return queryset
