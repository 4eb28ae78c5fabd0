"""The router's rules, the pin and the cache's positions, without a replica: the tests'
database has none, so these pin the decisions and what carries them. The repository's
tests/steps/test_read_replica.py proves them on a real replica held behind on purpose.
"""

import threading

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory

from crm.api import pinning
from crm.infrastructure import cache, routing
from crm.infrastructure.routing import PRIMARY, REPLICA

# The router reads settings.DATABASES for a replica alias; Django warns that changing
# DATABASES in a test does not reconnect, which these tests do not need.
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


@pytest.fixture
def replica_configured(settings):
    """A replica alias in the settings the router reads, which has replayed up to 100."""
    settings.DATABASES = {**settings.DATABASES, REPLICA: settings.DATABASES[PRIMARY]}
    known = routing.replica.replayed, routing.replica.down_until
    routing.replica.replayed, routing.replica.down_until = 100, 0.0
    yield
    routing.replica.replayed, routing.replica.down_until = known


def reading_needs(position: int):
    return routing.reading.set(routing.Reading(needed=position))


def test_without_a_replica_every_read_goes_to_the_primary():
    token = reading_needs(0)
    try:
        assert routing.read_from() == PRIMARY
    finally:
        routing.reading.reset(token)


def test_a_read_goes_to_a_replica_that_has_replayed_what_it_needs(replica_configured):
    token = reading_needs(100)
    try:
        assert routing.read_from() == REPLICA
        assert routing.reading.get().replica_used
    finally:
        routing.reading.reset(token)


def test_a_replica_left_alone_after_a_failure_gets_no_read(replica_configured):
    routing.failed()
    assert routing.read_from() == PRIMARY


def test_reads_inside_a_transaction_go_to_the_primary(replica_configured, transactional_db):
    with transaction.atomic():
        assert routing.read_from() == PRIMARY
    assert routing.read_from() == REPLICA


def test_writes_and_migrations_go_to_the_primary():
    router = routing.ReplicaRouter()
    assert router.db_for_write(None) == PRIMARY
    assert router.allow_migrate(PRIMARY, "crm") is True
    assert router.allow_migrate(REPLICA, "crm") is False


def test_read_your_writes_off_ignores_what_a_read_needs(replica_configured, settings):
    settings.READ_YOUR_WRITES = False
    token = reading_needs(10**12)
    try:
        assert routing.read_from() == REPLICA
    finally:
        routing.reading.reset(token)


# --- the pin reaches the ORM's thread ------------------------------------------------


async def test_a_pin_held_in_a_thread_local_is_lost_on_the_thread_the_orm_runs_on():
    """The pitfall: under ASGI the middleware runs on the event loop and the ORM on a
    worker thread (sync_to_async). A router reading a thread-local sees nothing there,
    and would send a client that has just written to the lagging replica; the
    ContextVar goes with the request to every thread it runs on."""
    local = threading.local()
    local.needed = 42
    token = reading_needs(42)
    try:
        seen_by_thread_local = await sync_to_async(lambda: getattr(local, "needed", 0))()
        seen_by_context = await sync_to_async(lambda: routing.reading.get().needed)()
    finally:
        routing.reading.reset(token)
    assert seen_by_thread_local == 0
    assert seen_by_context == 42


async def test_a_write_position_recorded_on_the_orms_thread_reaches_the_middleware():
    state = routing.Reading()
    token = routing.reading.set(state)
    try:

        def commit_at(position):
            routing.current().written = position

        await sync_to_async(commit_at)(1234)
    finally:
        routing.reading.reset(token)
    assert state.written == 1234


def signed(value: str) -> str:
    """The cookie's value as this app's responses sign it."""
    response = HttpResponse()
    response.set_signed_cookie(pinning.COOKIE, value, salt=pinning.SALT)
    return response.cookies[pinning.COOKIE].value


@pytest.mark.parametrize(
    ("cookie", "pinned"),
    [
        (None, 0),
        ("signed:5000", 5000),
        ("signed:not-a-number", 0),
        ("signed:-7", 0),
        ("5000", 0),
        ("5000:forged", 0),
    ],
)
def test_only_a_pin_this_app_signed_counts(cookie, pinned):
    request = RequestFactory().get("/api/customers/")
    if cookie is not None:
        value = cookie.removeprefix("signed:")
        request.COOKIES[pinning.COOKIE] = signed(value) if cookie.startswith("signed:") else value
    assert pinning.pinned(request) == pinned


async def test_the_middleware_pins_a_client_to_its_write_and_only_then():
    async def writes(request):
        routing.current().written = 777
        return HttpResponse()

    async def reads(request):
        assert routing.reading.get().needed == 0
        return HttpResponse()

    request = RequestFactory().post("/api/customers/")
    response = await pinning.PinToWrites(writes)(request)
    assert response.cookies[pinning.COOKIE]["httponly"]
    later = RequestFactory().get("/api/customers/")
    later.COOKIES[pinning.COOKIE] = response.cookies[pinning.COOKIE].value
    assert pinning.pinned(later) == 777
    assert pinning.COOKIE not in (await pinning.PinToWrites(reads)(request)).cookies


# --- the cache's positions -----------------------------------------------------------


async def test_a_bump_raises_its_versions_position_and_never_lowers_it():
    key = cache.detail_key(9_001)
    await cache._bump([key.version], 500)
    await cache._bump([key.version], 300)
    version, position, _ = await cache._lookup(key)
    assert (version, position) == (2, 500)


async def test_a_miss_reads_at_least_as_far_as_its_version_stands_for():
    key = cache.detail_key(9_002)
    await cache._bump([key.version], 4_321)
    needed = []

    async def render() -> bytes:
        needed.append(routing.current().needed)
        return b"{}"

    token = reading_needs(0)
    try:
        await cache.cached(key, render)
    finally:
        routing.reading.reset(token)
    assert needed == [4_321]


async def test_a_bump_whose_position_was_unknown_lands_with_one_read_before_it(
    replica_configured, transactional_db
):
    """The primary could not say where a write's commit reached (it went away right
    after): the bump takes a position read later, which is past the commit (and bumps
    at once without one, should the primary still not answer)."""
    key = cache.detail_key(9_003)
    await cache._bump([key.version], None)
    before = await sync_to_async(routing.position)()
    version, position, _ = await cache._lookup(key)
    assert version == 1
    assert position >= before > 0
