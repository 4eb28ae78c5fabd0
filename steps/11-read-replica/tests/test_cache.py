"""The response cache on the real Redis: keys, hits, invalidation, the race, and faults.

Writes must commit for their bumps to run (``transaction.on_commit``), so the tests that
write use ``transactional_db``. Each test has keys of its own (conftest.py).
"""

import time

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from crm.infrastructure import cache
from crm.infrastructure.models import Address, Customer, CustomerRelationship
from tests.conftest import ADDRESS, JSON

LIST = "/api/customers/"
PAUSE_MS = 5_000


def outcome(response) -> str:
    assert response.status_code == 200, response.content
    return response["X-Cache"]


def ids(response) -> set[int]:
    return {c["id"] for c in response.json()["results"]}


# --- hits, and what shares a key -----------------------------------------------------


@pytest.mark.parametrize("path", [LIST, f"{LIST}?search=lovelace&ordering=last_name", "detail"])
def test_a_repeated_read_is_a_hit_with_the_same_body(api, make_customer, path):
    customer = make_customer()
    path = f"{LIST}{customer.pk}/" if path == "detail" else path
    first, second = api.get(path), api.get(path)
    assert (outcome(first), outcome(second)) == ("miss", "hit")
    assert first.content == second.content


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("", "page_size=20"),
        ("", "ordering=-created"),
        ("city=Berlin&gender=female", "gender=female&city=BERLIN"),
        ("search=Lovelace", "search=lovelace"),
        ("last_name=lov&page_size=5", "page_size=5&last_name=LOV&first_name="),
    ],
)
def test_equivalent_requests_share_an_entry(api, make_customer, one, other):
    make_customer()
    assert outcome(api.get(f"{LIST}?{one}")) == "miss"
    assert outcome(api.get(f"{LIST}?{other}")) == "hit"


def test_a_cursor_under_another_spelling_shares_its_entry(api, make_customer):
    for _ in range(3):
        make_customer()
    first = api.get(f"{LIST}?page_size=2&city=Berlin").json()
    assert outcome(api.get(first["next"])) == "miss"
    # The cursor binding accepts the same listing however it is spelled, so the key does.
    assert outcome(api.get(first["next"].replace("city=Berlin", "city=BERLIN"))) == "hit"


def test_different_answers_never_share_an_entry(api, make_customer):
    for _ in range(5):
        make_customer()
    first = api.get(f"{LIST}?page_size=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"])
    assert outcome(third) == "miss"
    assert outcome(api.get(second["next"])) == "hit"
    assert outcome(api.get(f"{LIST}?page_size=2&ordering=created")) == "miss"
    assert outcome(api.get(f"{LIST}?page_size=2", HTTP_HOST="localhost")) == "miss"


def test_the_header_is_documented(api, db):
    paths = api.get("/api/openapi.json").json()["paths"]
    for path in ("/api/customers/", "/api/customers/{id}/"):
        headers = paths[path]["get"]["responses"]["200"]["headers"]
        assert headers["X-Cache"]["schema"]["enum"] == ["hit", "miss"]
        assert "content" in paths[path]["get"]["responses"]["200"]


def test_a_missing_customer_is_never_cached(api, db):
    for _ in range(2):
        response = api.get(f"{LIST}999999/")
        assert response.status_code == 404
        assert "X-Cache" not in response


# --- no stale read after a write -------------------------------------------------------


def read_all(api, customer_id):
    """Prime the entries a write must invalidate: a filtered list, a search, the detail."""
    return (
        api.get(f"{LIST}?city=Berlin"),
        api.get(f"{LIST}?search=Lovelace"),
        api.get(f"{LIST}{customer_id}/") if customer_id else None,
    )


def test_a_created_customer_is_listed_at_once(api, transactional_db, make_customer):
    make_customer()
    read_all(api, None)
    body = {
        "customer_id": "NEW-1",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "address": ADDRESS,
    }
    created = api.post(LIST, body, content_type=JSON).json()["id"]
    berlin, lovelace, _ = read_all(api, None)
    assert created in ids(berlin)
    assert created in ids(lovelace)


@pytest.mark.parametrize(
    ("patch", "gone_from"),
    [
        ({"last_name": "Hopper"}, "search"),
        ({"address": {**ADDRESS, "city": "Hamburg"}}, "city"),
    ],
)
def test_a_patch_shows_at_once(api, transactional_db, make_customer, patch, gone_from):
    customer = make_customer()
    read_all(api, customer.pk)
    assert api.patch(f"{LIST}{customer.pk}/", patch, content_type=JSON).status_code == 200
    berlin, lovelace, detail = read_all(api, customer.pk)
    listing = lovelace if gone_from == "search" else berlin
    assert customer.pk not in ids(listing)
    shown = detail.json()
    assert (shown["last_name"], shown["address"]["city"]) == (
        patch.get("last_name", "Lovelace"),
        patch.get("address", ADDRESS)["city"],
    )


def test_a_deleted_customer_is_gone_at_once(api, transactional_db, make_customer):
    customer = make_customer()
    read_all(api, customer.pk)
    assert api.delete(f"{LIST}{customer.pk}/").status_code == 204
    berlin, lovelace, detail = read_all(api, customer.pk)
    assert customer.pk not in ids(berlin) | ids(lovelace)
    assert detail.status_code == 404


def test_an_edited_shared_address_reaches_every_detail(api, transactional_db, make_customer):
    shared = Address.objects.create(**ADDRESS)
    first, second = make_customer(address=shared), make_customer(address=shared)
    for customer in (first, second):
        api.get(f"{LIST}{customer.pk}/")
    shared.city = "Potsdam"
    shared.save()
    for customer in (first, second):
        response = api.get(f"{LIST}{customer.pk}/")
        assert (outcome(response), response.json()["address"]["city"]) == ("miss", "Potsdam")


def test_an_orm_write_outside_the_api_is_seen_at_once(api, transactional_db, make_customer):
    # What `manage.py shell`, a management command or the admin do: a plain save().
    customer = make_customer()
    read_all(api, customer.pk)
    saved = Customer.objects.get(pk=customer.pk)
    saved.last_name = "Hopper"
    saved.save()
    berlin, lovelace, detail = read_all(api, customer.pk)
    assert (outcome(detail), detail.json()["last_name"]) == ("miss", "Hopper")
    assert customer.pk not in ids(lovelace)
    assert outcome(berlin) == "miss"
    found = api.get(f"{LIST}?search=Hopper")
    assert customer.pk in ids(found)


def test_an_orm_write_to_a_relationship_or_a_delete_is_seen_at_once(
    api, transactional_db, make_customer
):
    customer, other = make_customer(), make_customer()
    read_all(api, customer.pk)
    CustomerRelationship.objects.filter(appuser=customer).get().delete()
    detail = api.get(f"{LIST}{customer.pk}/")
    assert (outcome(detail), detail.json()["relationship"]) == ("miss", None)
    read_all(api, other.pk)
    Customer.objects.get(pk=other.pk).delete()
    berlin, lovelace, detail = read_all(api, other.pk)
    assert other.pk not in ids(berlin) | ids(lovelace)
    assert detail.status_code == 404


def test_a_rolled_back_write_bumps_nothing(api, transactional_db, make_customer):
    customer = make_customer()
    api.get(LIST)
    with transaction.atomic():
        Customer.objects.get(pk=customer.pk).save()
        transaction.set_rollback(True)
    assert outcome(api.get(LIST)) == "hit"


def test_writes_without_signals_call_invalidate(api, transactional_db, make_customer):
    customer = make_customer()
    api.get(f"{LIST}{customer.pk}/")
    # QuerySet.update sends no signal: the entry is stale until invalidate() runs.
    Customer.objects.filter(pk=customer.pk).update(first_name="Augusta")
    assert api.get(f"{LIST}{customer.pk}/").json()["first_name"] == "Ada"
    cache.invalidate(customer.pk)
    assert api.get(f"{LIST}{customer.pk}/").json()["first_name"] == "Augusta"


@pytest.fixture
def short_timeout(settings):
    default = {**settings.CACHES["default"], "TIMEOUT": 1}
    settings.CACHES = {**settings.CACHES, "default": default}
    return default


def test_a_write_no_signal_sees_is_stale_at_most_until_the_timeout(
    api, transactional_db, make_customer, short_timeout
):
    customer = make_customer()
    path = f"{LIST}{customer.pk}/"
    api.get(path)
    Customer.objects.filter(pk=customer.pk).update(first_name="Augusta")
    stale = api.get(path)
    assert (outcome(stale), stale.json()["first_name"]) == ("hit", "Ada")
    # The bound is the entry's own expiry in Redis, whatever the clock says.
    entry = f"{short_timeout['KEY_PREFIX']}:1:{cache.detail_key(customer.pk).name}"
    left_ms = redis.Redis.from_url(settings.REDIS_URL).pttl(entry)
    assert 0 < left_ms <= short_timeout["TIMEOUT"] * 1000
    time.sleep(left_ms / 1000 + 0.05)
    fresh = api.get(path)
    assert (outcome(fresh), fresh.json()["first_name"]) == ("miss", "Augusta")


# --- the race: a write that commits between a read's query and its store ---------------


def test_a_write_between_query_and_store_cannot_hide(
    api, transactional_db, make_customer, monkeypatch
):
    customer = make_customer()
    real_store = cache.store

    async def store_after_a_write(key, version, body):
        # The read has queried: the old name is in `body`. A write commits and bumps now,
        # before the read stores what it read under the version it took first.
        def write():
            Customer.objects.filter(pk=customer.pk).update(first_name="Augusta")
            cache.invalidate(customer.pk)

        await sync_to_async(write)()
        await real_store(key, version, body)

    monkeypatch.setattr(cache, "store", store_after_a_write)
    assert api.get(f"{LIST}{customer.pk}/").json()["first_name"] == "Ada"
    monkeypatch.setattr(cache, "store", real_store)
    after = api.get(f"{LIST}{customer.pk}/")
    assert (outcome(after), after.json()["first_name"]) == ("miss", "Augusta")


# --- Redis faults ------------------------------------------------------------------------


@pytest.fixture
def unreachable(settings):
    # Port 9 on loopback: nothing listens, every connection is refused at once.
    default = {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}
    settings.CACHES = {**settings.CACHES, "default": default}


def test_without_redis_postgresql_answers(api, make_customer, unreachable):
    customer = make_customer()
    for path in (LIST, f"{LIST}?search=lovelace", f"{LIST}{customer.pk}/"):
        assert outcome(api.get(path)) == "miss"
        assert outcome(api.get(path)) == "miss"
    health = api.get("/api/health/")
    assert (health.status_code, health.json()["cache"]) == (200, "degraded")


@pytest.fixture
def server():
    """The real Redis, to pause every client of it (CLIENT PAUSE) and resume them.

    Pauses are brief, and always undone on the connection that made them: a paused
    server cannot even greet a new connection, so a pause left behind would stall
    whatever runs next.
    """
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.client_unpause()
    client.close()


def test_a_paused_redis_is_a_miss_not_an_error(api, make_customer, server):
    customer = make_customer()
    paths = (LIST, f"{LIST}{customer.pk}/")
    for path in paths:
        api.get(path)
    server.client_pause(PAUSE_MS)
    for path in paths:
        assert outcome(api.get(path)) == "miss"


def test_a_write_while_redis_is_away_leaves_nothing_stale(
    api, transactional_db, make_customer, server
):
    customer = make_customer()
    assert outcome(api.get(f"{LIST}{customer.pk}/")) == "miss"
    server.client_pause(PAUSE_MS)
    patched = api.patch(f"{LIST}{customer.pk}/", {"first_name": "Augusta"}, content_type=JSON)
    assert patched.status_code == 200
    server.client_unpause()
    # The bump failed while Redis was paused; this process retries it before it reads.
    after = api.get(f"{LIST}{customer.pk}/")
    assert (outcome(after), after.json()["first_name"]) == ("miss", "Augusta")
