import datetime as dt

from django.contrib.postgres.search import SearchQuery
from django.db.models import Value
from django.db.models.functions import Left, Upper
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThan, LessThanOrEqual

from crm.domain.listing import Filters, Listing
from crm.infrastructure.models import NULL_KEYS, SEARCH_CONFIG, SORT_KEYS


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


# A name prefix's first three letters, folded as the filter folds them: the leading
# column of the indexes that serve ?first_name= and ?last_name= with an order (models.py).
PREFIX = 3


def first_letters(expression):
    return Left(Upper(expression), PREFIX)


def name_prefix(queryset, name: str, prefix: str):
    """``UPPER(name) LIKE UPPER('prefix%')``, the istartswith lookup, served with the order.

    UPPER(name) LIKE 'PET%' is a range of UPPER(name), and no range of one column keeps
    another column's order: the listing walked its order's index and tested each row,
    and ?first_name=Pet sorted by first_name passed every name from A to O first (1.1 s
    at 1M customers). Its first three letters equal 'PET' instead: one value of an
    index on (those letters, the order's key, id), read in order. A longer prefix is
    tested on that range; a shorter one keeps the lookup alone (see the step's page).
    """
    lookup = {f"{name}__istartswith": prefix}
    if len(prefix) < PREFIX:
        return queryset.filter(**lookup)
    same = Exact(first_letters(name), first_letters(Value(prefix)))
    # Three ASCII letters are the whole lookup. Otherwise the lookup stays: a longer
    # prefix needs it, and some collations upper-case a letter into two ('ß', 'SS').
    if len(prefix) == PREFIX and prefix.isascii():
        return queryset.filter(same)
    return queryset.filter(same, **lookup)


def key_range(queryset, name: str, low, high, ordered_by: str):
    """``low <= name <= high``, either bound optional.

    Under the order of the same column the range is written on its sort key, which
    holds the column's value, or one beyond every value for NULL: one range of the key
    index the order walks. Written on the column, ?points_min=40000 sorted by points
    was tested row by row along that index and passed 990,000 customers before its
    first match. The upper bound stops short of the NULL key, which holds no value of
    a range. Under any other order the column's own index and statistics serve it.
    """
    if ordered_by != name:
        bounds = {f"{name}__gte": low, f"{name}__lte": high}
        return queryset.filter(**{k: v for k, v in bounds.items() if v is not None})
    key = SORT_KEYS[name]
    if low is not None:
        queryset = queryset.filter(
            GreaterThanOrEqual(key, Value(low)), LessThan(key, NULL_KEYS[name])
        )
    if high is not None:
        queryset = queryset.filter(LessThanOrEqual(key, Value(high)))
    return queryset


def filter_customers(queryset, filters: Filters, ordered_by: str = Listing().key):
    """Apply every filter of a listing sorted by ``ordered_by``, each as a condition on
    app_user alone.

    A condition on a joined table cannot share an index with the order, which lives on
    app_user: PostgreSQL either walks the order and tests each row's join, or fetches
    every match and sorts. On this table one index can serve both, and the planner
    counts the matches from this table's statistics (migration 0005).
    """
    lookups = {
        # The address's copies on app_user, not address__city: see models.Customer.
        "address_city__iexact": filters.city,
        "address_country__iexact": filters.country,
        "customer_id": filters.customer_id,
        "gender": filters.gender,
    }
    queryset = queryset.filter(**{k: v for k, v in lookups.items() if v not in (None, "")})
    for name in ("first_name", "last_name"):
        if prefix := getattr(filters, name):
            queryset = name_prefix(queryset, name, prefix)
    after, before = filters.birthday_after, filters.birthday_before
    queryset = key_range(queryset, "birthday", after, before, ordered_by)
    # app_user.points is the relationship's points, copied by migration 0003's trigger.
    queryset = key_range(queryset, "points", filters.points_min, filters.points_max, ordered_by)
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
