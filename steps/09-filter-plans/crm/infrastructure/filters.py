import datetime as dt

from django.contrib.postgres.search import SearchQuery

from crm.domain.listing import Filters
from crm.infrastructure.models import SEARCH_CONFIG


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


def filter_customers(queryset, filters: Filters):
    """Apply every filter of a listing, each as a condition on app_user alone.

    A condition on a joined table cannot share an index with the order, which lives on
    app_user: PostgreSQL either walks the order and tests each row's join, or fetches
    every match and sorts. On this table one index can serve both, and the planner
    counts the matches from this table's statistics (migration 0005).
    """
    lookups = {
        "first_name__istartswith": filters.first_name,
        "last_name__istartswith": filters.last_name,
        # The address's copies on app_user, not address__city: see models.Customer.
        "address_city__iexact": filters.city,
        "address_country__iexact": filters.country,
        "customer_id": filters.customer_id,
        "gender": filters.gender,
        "birthday__gte": filters.birthday_after,
        "birthday__lte": filters.birthday_before,
        # app_user.points, the relationship's points copied by migration 0003's trigger.
        "points__gte": filters.points_min,
        "points__lte": filters.points_max,
    }
    queryset = queryset.filter(**{k: v for k, v in lookups.items() if v not in (None, "")})
    if filters.created_after:
        queryset = queryset.filter(created__gte=start_of_day(filters.created_after))
    # Inclusive of the whole day, as a range on the raw column rather than created::date,
    # so that an index on created can serve it.
    if filters.created_before and filters.created_before != dt.date.max:
        next_day = filters.created_before + dt.timedelta(days=1)
        queryset = queryset.filter(created__lt=start_of_day(next_day))
    if filters.has_address is not None:
        queryset = queryset.filter(address__isnull=not filters.has_address)
    if filters.search:
        queryset = search(queryset, filters.search)
    # The keyset pagination orders the rows: its order and its WHERE must agree.
    return queryset
