"""app_user.address_city and address_country, the copies ?city= and ?country= read,
follow every write path.

Every check goes through the filter the API runs (``filter_customers``), so a copy that
drifted from its address shows up as a customer listed under the wrong place, or missing
from the right one.
"""

from django.db import connection

from crm.domain.listing import Filters
from crm.infrastructure.filters import filter_customers
from crm.infrastructure.models import Address, Customer
from tests.conftest import ADDRESS, JSON


def listed(**filters) -> set[int]:
    rows = filter_customers(Customer.objects.all(), Filters(**filters))
    return set(rows.values_list("pk", flat=True))


def sql(query: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(query, params)


def test_a_customer_created_through_the_api_is_listed_under_its_place(api, db):
    body = {"customer_id": "PLACE-1", "first_name": "Ada", "last_name": "Lovelace"}
    body["address"] = {**ADDRESS, "city": "Marylebone", "country": "England"}
    created = api.post("/api/customers/", body, content_type=JSON).json()
    assert listed(city="marylebone") == listed(country="ENGLAND") == {created["id"]}


def test_a_patched_address_moves_the_customer(api, make_customer):
    customer = make_customer()
    patch = {"address": {**ADDRESS, "city": "Arlington", "country": "USA"}}
    response = api.patch(f"/api/customers/{customer.pk}/", patch, content_type=JSON)
    assert response.status_code == 200
    assert listed(city="Arlington") == listed(country="USA") == {customer.pk}
    assert customer.pk not in listed(city=ADDRESS["city"]) | listed(country=ADDRESS["country"])


def test_a_customer_who_loses_the_address_loses_its_place(api, make_customer):
    customer = make_customer()
    api.patch(f"/api/customers/{customer.pk}/", {"address": None}, content_type=JSON)
    assert Customer.objects.values_list("address_city", "address_country").get(pk=customer.pk) == (
        None,
        None,
    )
    assert listed(has_address=False) == {customer.pk}


def test_editing_a_shared_address_reaches_every_customer_on_it(make_customer):
    shared = Address.objects.create(**ADDRESS)
    first, second = make_customer(address=shared), make_customer(address=shared)
    Address.objects.filter(pk=shared.pk).update(city="Potsdam")
    assert listed(city="Potsdam") == {first.pk, second.pk}
    assert listed(city=ADDRESS["city"]) == set()


def test_a_move_that_keeps_the_address_text_still_moves_the_place(make_customer):
    # The city "Saint Martin" in "Sint" and the city "Saint" in "Martin Sint" give the
    # same search text, "… Saint Martin Sint": the text alone cannot tell the move.
    customer = make_customer(address={**ADDRESS, "city": "Saint Martin", "country": "Sint"})
    sql(
        "UPDATE address SET city = 'Saint', country = 'Martin Sint' WHERE id = %s",
        [customer.address_id],
    )
    assert listed(city="Saint", country="Martin Sint") == {customer.pk}
    assert listed(city="Saint Martin") == set()


def test_moving_a_customer_to_another_address_by_sql(make_customer):
    customer = make_customer()
    other = Address.objects.create(**{**ADDRESS, "city": "Hamburg"})
    sql("UPDATE app_user SET address_id = %s WHERE id = %s", [other.pk, customer.pk])
    assert listed(city="Hamburg") == {customer.pk}


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
    late = set(Customer.objects.filter(customer_id="LATE-1").values_list("pk", flat=True))
    assert listed(city="Dahlem", country="Germany") == late


def test_the_copies_cannot_be_written_by_hand(make_customer):
    customer = make_customer()
    sql(
        "UPDATE app_user SET address_city = 'Atlantis', address_country = 'Nowhere' WHERE id = %s",
        [customer.pk],
    )
    assert listed(city="Atlantis") | listed(country="Nowhere") == set()
    assert listed(city=ADDRESS["city"], country=ADDRESS["country"]) == {customer.pk}


def test_copy_loads_fill_the_copies(db):
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
    curie = set(Customer.objects.filter(customer_id="COPY-1").values_list("pk", flat=True))
    assert listed(city="paris", country="france") == curie
