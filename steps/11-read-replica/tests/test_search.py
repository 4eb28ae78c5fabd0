"""Full-text search: the vector follows every write path, and the query reads as typed.

Every check reads the vector through the same query the API runs (``TypedSearch``), so
a vector that drifted from its rows shows up as a customer found where it should not
be, or missed where it should be found.
"""

import datetime as dt

import pytest
from django.db import connection

from crm.api.schemas import ORDERING_CHOICES
from crm.infrastructure.filters import TypedSearch
from crm.infrastructure.models import Address, Customer
from tests.conftest import ADDRESS, JSON
from tests.test_pagination import expected, walk


def found(text: str) -> set[int]:
    return set(
        Customer.objects.filter(search_vector=TypedSearch(text)).values_list("pk", flat=True)
    )


def address_text(customer) -> str | None:
    return Customer.objects.values_list("address_text", flat=True).get(pk=customer.pk)


def sql(query: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(query, params)


# --- every write path keeps the vector right ------------------------------------------


def test_a_customer_created_through_the_api_is_found_by_every_field(api, db):
    body = {
        "customer_id": "C0000000042",
        "first_name": "Hedy",
        "last_name": "Lamarr",
        "phone_number": "+43 1 5550100",
        "address": ADDRESS,
    }
    created = api.post("/api/customers/", body, content_type=JSON).json()["id"]
    for text in ["C0000000042", "Hedy", "Lamarr", "+43 1 5550100", "Invalidenstraße", "10115"]:
        assert found(text) == {created}, text
    assert found("Berlin Germany") == {created}


def test_a_patch_of_names_and_address_moves_the_vector(api, make_customer):
    customer = make_customer()
    patch = {"last_name": "Hopper", "address": {**ADDRESS, "city": "Arlington"}}
    response = api.patch(f"/api/customers/{customer.pk}/", patch, content_type=JSON)
    assert response.status_code == 200
    assert customer.pk in found("Hopper Arlington")
    assert customer.pk not in found("Lovelace") | found("Berlin")


def test_a_customer_who_loses_the_address_loses_its_words(api, make_customer):
    customer = make_customer()
    api.patch(f"/api/customers/{customer.pk}/", {"address": None}, content_type=JSON)
    assert address_text(customer) is None
    assert customer.pk not in found("Berlin")


def test_a_deleted_customer_is_not_found(api, make_customer):
    customer = make_customer(last_name="Noether")
    assert api.delete(f"/api/customers/{customer.pk}/").status_code == 204
    assert found("Noether") == set()


def test_editing_a_shared_address_reaches_every_customer_on_it(make_customer):
    shared = Address.objects.create(**ADDRESS)
    first, second = make_customer(address=shared), make_customer(address=shared)
    Address.objects.filter(pk=shared.pk).update(city="Potsdam")
    assert found("Potsdam") == {first.pk, second.pk}
    assert found("Berlin") == set()


def test_raw_sql_updates_of_an_address_reach_its_customers(make_customer):
    customer = make_customer()
    sql("UPDATE address SET street = 'Unter den Linden' WHERE id = %s", [customer.address_id])
    assert found("Linden") == {customer.pk}
    # A bulk UPDATE … FROM, as a data fix would write it.
    sql(
        "UPDATE address SET country = 'Deutschland' FROM app_user u"
        " WHERE u.address_id = address.id AND u.id = %s",
        [customer.pk],
    )
    assert found("Deutschland") == {customer.pk}
    assert customer.pk not in found("Germany")


def test_moving_a_customer_to_another_address_by_sql(make_customer):
    customer = make_customer()
    other = Address.objects.create(**{**ADDRESS, "city": "Hamburg"})
    sql("UPDATE app_user SET address_id = %s WHERE id = %s", [other.pk, customer.pk])
    assert found("Hamburg") == {customer.pk}
    assert customer.pk not in found("Berlin")


def test_an_address_inserted_after_its_customers(db):
    # Django's foreign keys are deferred: a bulk load may write customers first.
    sql(
        "INSERT INTO app_user (customer_id, first_name, last_name, gender, created,"
        " last_updated, address_id) VALUES ('LATE-1', 'Lise', 'Meitner', 'female', now(),"
        " now(), 900001)"
    )
    sql(
        "INSERT INTO address (id, street, street_number, city_code, city, country)"
        " VALUES (900001, 'Kaiser-Wilhelm-Platz', '1', '14195', 'Dahlem', 'Germany')"
    )
    assert found("Dahlem") == set(
        Customer.objects.filter(customer_id="LATE-1").values_list("pk", flat=True)
    )


def test_copy_loads_keep_the_vector(db):
    addresses = "900002\tRue Cuvier\t12\t75005\tParis\tFrance\n"
    customers = "COPY-1\tMarie\tCurie\tfemale\t2026-01-01 00:00+00\t2026-01-01 00:00+00\t900002\n"
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY address (id, street, street_number, city_code, city, country) FROM STDIN"
        ) as copy:
            copy.write(addresses)
        with cursor.copy(
            "COPY app_user (customer_id, first_name, last_name, gender, created, last_updated,"
            " address_id) FROM STDIN"
        ) as copy:
            copy.write(customers)
    (curie,) = Customer.objects.filter(customer_id="COPY-1").values_list("pk", flat=True)
    assert found("Curie Cuvier 75005") == {curie}


def test_the_address_copy_cannot_be_written_by_hand(make_customer):
    customer = make_customer()
    sql("UPDATE app_user SET address_text = 'Atlantis' WHERE id = %s", [customer.pk])
    assert found("Atlantis") == set()
    assert customer.pk in found("Berlin")


# --- what a typed search finds ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Lovel", "Lovelace"),  # the last word typed is a prefix
        ("ada lovelace", "Lovelace"),
        ("hervas", "Hervás"),  # accents are ignored, both ways
        ("Hervás", "Hervas"),
        ("Lodz", "Łódź"),
        ("Strasse", "Straße"),
        ("Hans-Ru", "Hans-Rudolf"),  # every part of a hyphenated word is a prefix
        ("van Am", "van Amstel"),
        ('"van Amstel"', "van Amstel"),
        ("O'Neill", "O'Neill"),
    ],
)
def test_a_typed_text_finds_the_name(make_customer, text: str, name: str):
    customer = make_customer(first_name="Ada", last_name=name)
    assert customer.pk in found(text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("velace", "Lovelace"),  # no substrings: a word is matched from its start
        ("Lov lace", "Lovelace"),  # only the last word is a prefix
        ("Lovelace -Ada", "Lovelace"),  # -word excludes
        ('"Lovelace Ada"', "Lovelace"),  # a quoted phrase keeps its order
    ],
)
def test_a_typed_text_does_not_find_the_name(make_customer, text: str, name: str):
    customer = make_customer(first_name="Ada", last_name=name)
    assert customer.pk not in found(text)


def test_either_word_with_or(make_customer):
    ada, grace = make_customer(last_name="Lovelace"), make_customer(last_name="Hopper")
    assert {ada.pk, grace.pk} <= found("Lovelace or Hopper")


@pytest.mark.parametrize(
    "text",
    # The seeder's formats: "C" and ten digits; "+<country code> <nine digits>".
    ["C2654435761", "c2654435761", "C26544", "+39 971766665", "971766665"],
)
def test_ids_and_phone_numbers_are_found_as_typed(make_customer, text: str):
    customer = make_customer(customer_id="C2654435761", phone_number="+39 971766665")
    assert customer.pk in found(text)


def test_a_search_returns_through_the_api_with_filters_and_ordering(api, make_customer):
    ada = make_customer(last_name="Lovelace", gender="female")
    make_customer(last_name="Lovelace", gender="male")
    response = api.get("/api/customers/?search=lovelace&gender=female&ordering=-points")
    assert [c["id"] for c in response.json()["results"]] == [ada.pk]


@pytest.mark.parametrize("ordering", ORDERING_CHOICES)
def test_a_search_pages_through_every_ordering_on_the_keyset(api, make_customer, ordering):
    """The search narrows the rows; the keyset still orders and pages them, ties and
    NULLs included."""
    made = [
        make_customer(
            last_name=["Hopper", "Noether"][n % 2],
            birthday=None if n % 3 == 0 else dt.date(1900 + n % 2, 1, 1),
            points=n % 2,
            created=dt.datetime(2024, 1, 1 + n % 3, tzinfo=dt.UTC),
        )
        for n in range(11)
    ]
    hoppers = [c for c in made if c.last_name == "Hopper"]
    seen, pages = walk(api, f"/api/customers/?search=hopper&ordering={ordering}&page_size=2")
    assert seen == expected(hoppers, ordering)
    assert pages == 3


FILTERS = [
    "first_name=ad",
    "last_name=hop",
    "city=berlin",
    "country=germany",
    "customer_id=T00003",
    "gender=female",
    "birthday_after=1900-01-01",
    "birthday_before=1900-12-31",
    "created_after=2024-01-02",
    "created_before=2024-01-02",
    "points_min=1",
    "points_max=0",
    "has_address=false",
]


@pytest.mark.parametrize("query", FILTERS)
def test_a_search_combines_with_every_filter(api, make_customer, query):
    for n in range(8):
        make_customer(
            last_name=["Hopper", "Noether"][n % 2],
            gender=["female", "male"][n // 4],
            birthday=None if n % 3 == 0 else dt.date(1900 + n % 2, 6, 1),
            points=n % 2 + n // 4,
            created=dt.datetime(2024, 1, 1 + n % 3, tzinfo=dt.UTC),
            address=None if n == 6 else ADDRESS,
        )
    filtered, _ = walk(api, f"/api/customers/?{query}&page_size=3")
    hoppers = set(Customer.objects.filter(last_name="Hopper").values_list("pk", flat=True))
    searched, _ = walk(api, f"/api/customers/?search=hopper&{query}&page_size=3")
    assert set(searched) == set(filtered) & hoppers
    assert searched
    assert len(searched) == len(set(searched))


def test_the_vector_is_weighted(make_customer):
    customer = make_customer(customer_id="W1", last_name="Lovelace", phone_number="+44 1")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT weight, array_to_string(tsvector_to_array(ts_filter(search_vector,"
            " ARRAY[weight]::\"char\"[])), ' ')"
            " FROM app_user, unnest(ARRAY['A', 'B', 'C', 'D']) AS weight WHERE id = %s",
            [customer.pk],
        )
        words = {weight: set(text.split()) for weight, text in cursor.fetchall()}
    assert words == {
        "A": {"w1", "ada", "lovelace"},
        "B": {"+44", "1"},
        "C": {"invalidenstrasse", "10115", "berlin", "germany"},
        "D": set(),
    }
