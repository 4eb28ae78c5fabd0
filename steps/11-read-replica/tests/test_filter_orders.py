"""A filter lists the same customers whatever the order, and only those it names.

Step 09 writes some filters differently under some orders (filters.name_prefix,
filters.key_range): a name prefix by its first three letters, a range of points or
birthdays on the order's key. Each listing here is walked to its end, following `next`,
under every ordering in both directions, and must list exactly what the filter means.
"""

import datetime as dt

import pytest

from crm.api.schemas import ORDERING_CHOICES
from tests.test_pagination import walk

LIST = "/api/customers/"
NAMES = ["Delacroix", "delgado", "DELL", "Del", "De", "Adel", "Dé", "Łukasz", "Lukas", "Straße"]


@pytest.fixture
def people(make_customer):
    """One customer per name (first and last alike), with points and birthdays spread
    over their range, NULLs included."""
    made = {}
    for n, name in enumerate(NAMES):
        made[name] = make_customer(
            first_name=name,
            last_name=name,
            points=n * 10,
            relationship=n % 4 != 3,
            birthday=None if n % 5 == 4 else dt.date(1950 + n, 1, 1),
        )
    return made


def listed(api, query: str) -> dict[str, list[int]]:
    """The ids the listing walks under each ordering."""
    return {
        order: walk(api, f"{LIST}?{query}&ordering={order}&page_size=2")[0]
        for order in ORDERING_CHOICES
    }


def assert_lists(api, query: str, expected: set[int]) -> None:
    for order, ids in listed(api, query).items():
        assert sorted(ids) == sorted(expected), (query, order)


@pytest.mark.parametrize(
    ("prefix", "names"),
    [
        ("del", {"Delacroix", "delgado", "DELL", "Del"}),
        ("DEL", {"Delacroix", "delgado", "DELL", "Del"}),
        ("dela", {"Delacroix"}),
        ("de", {"Delacroix", "delgado", "DELL", "Del", "De"}),
        ("łuk", {"Łukasz"}),
        ("luk", {"Lukas"}),
        ("str", {"Straße"}),
        ("straß", {"Straße"}),
        ("_el", set()),
        ("d%l", set()),
    ],
)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_name_prefix_lists_the_names_it_begins(api, people, field, prefix, names):
    assert_lists(api, f"{field}={prefix}", {people[name].pk for name in names})


def points_of(customer) -> int | None:
    relationship = getattr(customer, "relationship", None)
    return None if relationship is None else relationship.points


@pytest.mark.parametrize(
    ("query", "low", "high"),
    [("points_min=30", 30, None), ("points_max=40", None, 40), ("points_min=0&points_max=0", 0, 0)],
)
def test_a_points_range_never_lists_a_customer_without_points(api, people, query, low, high):
    def within(points):
        return (
            points is not None
            and (low is None or points >= low)
            and (high is None or points <= high)
        )

    assert_lists(api, query, {c.pk for c in people.values() if within(points_of(c))})


@pytest.mark.parametrize(
    ("query", "low", "high"),
    [
        ("birthday_after=1953-01-01", dt.date(1953, 1, 1), None),
        ("birthday_before=1955-06-01", None, dt.date(1955, 6, 1)),
        (
            "birthday_after=1952-01-01&birthday_before=1952-01-01",
            dt.date(1952, 1, 1),
            dt.date(1952, 1, 1),
        ),
    ],
)
def test_a_birthday_range_never_lists_a_customer_without_a_birthday(api, people, query, low, high):
    def within(day):
        return day is not None and (low is None or day >= low) and (high is None or day <= high)

    assert_lists(api, query, {c.pk for c in people.values() if within(c.birthday)})
