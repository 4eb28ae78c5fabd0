"""The ASGI handler (config/asgi.py): Django's own, leaving the event loop only for the
ORM, on a thread lent to the request and taken back at its end.

Requests go through the very application uvicorn serves, on the session's event loop.
"""

import asyncio
import inspect
import re
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest
from asgiref.sync import SyncToAsync, sync_to_async
from django.core import signals
from django.core.cache import close_caches
from django.core.handlers.asgi import ASGIHandler as DjangoASGIHandler
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, connection, connections, reset_queries
from django.http import JsonResponse
from django.urls import path

from config.asgi import ASGIHandler, application
from crm.models import Customer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("connections_closed_afterwards"),
]

LIST = "/api/customers/"
MARK = "# here:"


def scope_of(path: str) -> dict:
    route, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


async def get(path: str) -> int:
    """GET ``path`` through the ASGI application; its status."""
    messages = [{"type": "http.request", "body": b"", "more_body": False}]
    sent = []

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # connected until Django stops listening

    async def send(message):
        sent.append(message)

    await application(scope_of(path), receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


@pytest.fixture
def counted(monkeypatch) -> dict[str, int]:
    """Trips to a thread (``sync_to_async`` calls) and threads started, from now on."""
    counts = {"hops": 0, "threads": 0}
    hop, start = SyncToAsync.__call__, threading.Thread.start

    async def counted_hop(self, *args, **kwargs):
        counts["hops"] += 1
        return await hop(self, *args, **kwargs)

    def counted_start(self):
        counts["threads"] += 1
        start(self)

    monkeypatch.setattr(SyncToAsync, "__call__", counted_hop)
    monkeypatch.setattr(threading.Thread, "start", counted_start)
    return counts


def holding_a_connection() -> int:
    """How many of the threads kept between requests still hold a connection: each must
    have handed its request's back to the pool."""

    def holds() -> bool:
        return connections["default"].connection is not None

    # The executor's own submit: the handler's counts as the thread being used.
    kept = application.threads.idle
    return sum(ThreadPoolExecutor.submit(thread, holds).result() for thread in kept)


def code(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line)


def test_handle_is_djangos_own_but_for_the_lines_marked():
    ours = inspect.getsource(ASGIHandler.handle).splitlines()
    djangos = inspect.getsource(DjangoASGIHandler.handle).splitlines()
    assert len(ours) == len(djangos), "Django's handle changed: port the handler again"
    changed = [i for i, (a, b) in enumerate(zip(ours, djangos, strict=True)) if code(a) != code(b)]
    assert changed == [i for i, line in enumerate(ours) if MARK in line]
    assert len(changed) == 3


def test_the_request_signals_reach_only_receivers_safe_on_the_loop():
    # The handler calls these on the event loop, where a request holds no connection: a
    # receiver added to either signal must be one that neither blocks nor needs one.
    def receivers(signal) -> set:
        return {r() if isinstance(r, weakref.ref) else r for _, r, *_ in signal.receivers}

    assert receivers(signals.request_started) == {reset_queries, close_old_connections}
    finishing = {close_old_connections, close_caches, reset_urlconf}
    assert receivers(signals.request_finished) == finishing


async def answer_on_the_loop(request):
    return JsonResponse({"status": "ok"})


# A request that queries, then waits on its thread until the test lets it go.
QUERIED: dict[str, asyncio.Event] = {}
RELEASE = threading.Event()


def query_then_wait(loop, queried: asyncio.Event) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    loop.call_soon_threadsafe(queried.set)
    RELEASE.wait(10)


async def answer_slowly(request):
    await sync_to_async(query_then_wait)(asyncio.get_running_loop(), QUERIED["event"])
    return JsonResponse({"status": "ok"})


# Served by the tests below: views behind the step's own middleware and signals.
urlpatterns = [path("loop/", answer_on_the_loop), path("slow/", answer_slowly)]


async def every_connection_back() -> bool:
    """Whether the pool holds every connection it opened, once those in flight land."""
    await sync_to_async(connections.close_all)()  # the test's own, on asgiref's thread
    pool = connections["default"].pool
    for _ in range(100):
        stats = pool.get_stats()
        if stats["pool_available"] == stats["pool_size"]:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_view_that_needs_no_thread_never_leaves_the_loop(counted, settings):
    settings.ROOT_URLCONF = __name__
    # A 200: Django logs an error response, and turns an exception into one, on a
    # thread of its shared pool (get_response_async, convert_exception_to_response).
    assert await get("/loop/") == 200
    assert counted == {"hops": 0, "threads": 0}


async def test_a_query_hands_its_connection_back_to_the_pool():
    customer = await Customer.objects.acreate(customer_id="H0001", first_name="Ada")
    assert await get(f"{LIST}{customer.pk}/") == 200
    assert await get(f"{LIST}?page_size=5") == 200
    assert application.threads.idle
    assert holding_a_connection() == 0


async def test_requests_one_after_another_start_no_thread(counted):
    await Customer.objects.acreate(customer_id="H0002", first_name="Ada")
    assert await get(f"{LIST}?page_size=9") == 200
    counted.update(hops=0, threads=0)
    # Listings no earlier request asked for: a step with a cache misses each.
    for size in range(1, 4):
        assert await get(f"{LIST}?page_size={size}") == 200
    assert counted["threads"] == 0
    assert counted["hops"] >= 3


async def test_requests_at_once_each_get_a_thread_and_give_back_their_connection(monkeypatch):
    # Fewer kept than requests at once: the threads beyond are let go, connections first.
    monkeypatch.setattr(application.threads, "kept", 2)
    customer = await Customer.objects.acreate(customer_id="H0003", first_name="Ada")
    # Listings no earlier request asked for: a step with a cache misses each.
    paths = [f"{LIST}?customer_id={customer.customer_id}&page_size={size}" for size in range(1, 8)]
    statuses = await asyncio.gather(*(get(path) for path in [*paths, f"{LIST}{customer.pk}/"]))
    assert statuses == [200] * 8
    assert 0 < len(application.threads.idle) <= 2
    assert holding_a_connection() == 0
    assert await every_connection_back()


@pytest.fixture
def slow(settings):
    settings.ROOT_URLCONF = __name__
    QUERIED["event"] = asyncio.Event()
    RELEASE.clear()
    yield
    RELEASE.set()


async def test_a_client_gone_mid_query_still_gives_its_connection_back(slow):
    asked = False

    async def receive():
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await QUERIED["event"].wait()
        RELEASE.set()
        return {"type": "http.disconnect"}

    async def send(message):
        pass

    await application(scope_of("/slow/"), receive, send)
    assert holding_a_connection() == 0
    assert await every_connection_back()


async def test_a_request_cancelled_mid_query_still_gives_its_connection_back(slow):
    async def receive():
        await asyncio.Event().wait()  # connected until cancelled

    async def send(message):
        pass

    messages = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def first_then_wait():
        return next(messages, None) or await receive()

    task = asyncio.create_task(application(scope_of("/slow/"), first_then_wait, send))
    await QUERIED["event"].wait()
    task.cancel()
    RELEASE.set()
    await asyncio.gather(task, return_exceptions=True)
    assert await every_connection_back()
    assert holding_a_connection() == 0
