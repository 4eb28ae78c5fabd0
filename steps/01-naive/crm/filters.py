import datetime as dt

import django_filters
from django import forms
from django.db.models import F

from crm.models import Customer, Gender

ISO_DATE = ["%Y-%m-%d"]
INT32_MAX = 2**31 - 1

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
ORDERING_CHOICES = [(f"{sign}{name}", f"{sign}{name}") for name in ORDERINGS for sign in ("", "-")]


def order_by(queryset, ordering: str):
    descending = ordering.startswith("-")
    column = ORDERINGS[ordering.lstrip("-")]
    if descending:
        return queryset.order_by(F(column).desc(), F("id").desc())
    return queryset.order_by(F(column).asc(), F("id").asc())


def start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class CustomerFilter(django_filters.FilterSet):
    first_name = django_filters.CharFilter(lookup_expr="istartswith", max_length=100)
    last_name = django_filters.CharFilter(lookup_expr="istartswith", max_length=100)
    city = django_filters.CharFilter(
        field_name="address__city", lookup_expr="iexact", max_length=128
    )
    country = django_filters.CharFilter(
        field_name="address__country", lookup_expr="iexact", max_length=64
    )
    customer_id = django_filters.CharFilter(lookup_expr="exact", max_length=64)
    gender = django_filters.ChoiceFilter(choices=Gender.choices)
    birthday_after = django_filters.DateFilter(
        field_name="birthday", lookup_expr="gte", input_formats=ISO_DATE
    )
    birthday_before = django_filters.DateFilter(
        field_name="birthday", lookup_expr="lte", input_formats=ISO_DATE
    )
    created_after = django_filters.DateFilter(method="filter_created_after", input_formats=ISO_DATE)
    created_before = django_filters.DateFilter(
        method="filter_created_before", input_formats=ISO_DATE
    )
    points_min = IntegerFilter(
        field_name="relationship__points", lookup_expr="gte", min_value=0, max_value=INT32_MAX
    )
    points_max = IntegerFilter(
        field_name="relationship__points", lookup_expr="lte", min_value=0, max_value=INT32_MAX
    )
    has_address = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_has_address"
    )
    ordering = django_filters.ChoiceFilter(choices=ORDERING_CHOICES, method="filter_ordering")

    class Meta:
        model = Customer
        fields = []

    def filter_created_after(self, queryset, name, value):
        return queryset.filter(created__gte=start_of_day(value))

    def filter_created_before(self, queryset, name, value):
        # Inclusive of the whole day, as a range on the raw column rather than
        # created::date, so that an index on created can serve it.
        if value == dt.date.max:
            return queryset
        return queryset.filter(created__lt=start_of_day(value + dt.timedelta(days=1)))

    def filter_has_address(self, queryset, name, value):
        return queryset.filter(address__isnull=value == "false")

    def filter_ordering(self, queryset, name, value):
        return order_by(queryset, value)
