"""The ASGI entry point: Django's handler, leaving the event loop only for the ORM.

Under ASGI, Django gives every request a thread of its own for its sync work (the ORM,
sync middleware, sync signal receivers), starts it on the request's first trip there
and joins it at the end (asgiref starts a second thread for the join). It also makes
trips there on every request whatever the view does: it sends ``request_started``
through ``sync_to_async`` when any receiver is sync, as Django's own are; it runs each
hook of a sync-capable middleware through ``sync_to_async``, since a hook might block;
and it closes every response through ``sync_to_async``. This module changes three
things, and nothing else:

- A request borrows a thread from a few kept between requests, and gives it back at
  its end: one request at a time on each, as Django needs, but no thread started and
  joined per request.
- Django's receivers of both signals act only on the database connections of the
  thread they run on, and the loop never has one. So ``request_started`` is sent on the
  loop. The request's end goes to its thread only if the request used it: there the
  receivers close its connection, which hands it back to the pool, and the thread's
  query log is cleared for the next request. A request that never used its thread (a
  cache hit) never leaves the loop. One that ended without that close (its task
  cancelled, an error past Django's handling) leaves the same clean-up queued on its
  thread, behind whatever still runs there, before the next request borrows it.
- The hooks of Django's security and common middleware only read the request and set
  headers: they run on the loop, as they would run in a WSGI worker's thread. They
  stay in MIDDLEWARE under Django's own names, which ``check --deploy`` looks for.
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from contextvars import ContextVar

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import asgi
from django.core.handlers.asgi import get_script_prefix
from django.db import close_old_connections, reset_queries
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.deprecation import MiddlewareMixin

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


ON_THE_LOOP = (SecurityMiddleware, CommonMiddleware)


async def on_the_loop(self, request):
    """``MiddlewareMixin.__acall__`` without the two trips to a thread, for Django's own
    two classes: a subclass's hooks may block, and keep Django's way."""
    if type(self) not in ON_THE_LOOP:
        return await MiddlewareMixin.__acall__(self, request)
    response = self.process_request(request)
    response = response or await self.get_response(request)
    return self.process_response(request, response)


class RequestThread(ThreadPoolExecutor):
    """One thread, lent to one request at a time; knows whether the request used it."""

    def __init__(self):
        super().__init__(max_workers=1, thread_name_prefix="request")
        self.used = False
        self.finished = False

    def submit(self, *args, **kwargs):
        self.used = True
        return super().submit(*args, **kwargs)


class RequestThreads:
    """The threads kept between requests. Only the event loop lends and takes back."""

    def __init__(self, kept: int):
        self.kept = kept
        self.idle: list[RequestThread] = []

    def lend(self) -> RequestThread:
        return self.idle.pop() if self.idle else RequestThread()

    def take_back(self, thread: RequestThread) -> None:
        if thread.used and not thread.finished:
            # Queued behind what the request left running: the next borrower's work
            # comes after it. The executor's own submit, not a use by a request.
            ThreadPoolExecutor.submit(thread, clean_up)
        thread.used = thread.finished = False
        if len(self.idle) < self.kept:
            self.idle.append(thread)
        else:
            # A thread still busy with a request that was given up on finishes it first.
            thread.shutdown(wait=False)


request_thread: ContextVar[RequestThread] = ContextVar("request_thread")


def clean_up() -> None:
    """On the request's thread: its connection handed back, its query log cleared."""
    close_old_connections()
    reset_queries()


def close_on_thread(response) -> None:
    response.close()
    reset_queries()


async def finish(response) -> None:
    """Close the response, which sends ``request_finished``, on the request's thread if
    it used one (its connection is there, to be handed back to the pool), else here."""
    thread = request_thread.get()
    if thread.used:
        await sync_to_async(close_on_thread)(response)
    else:
        response.close()
    thread.finished = True


class ASGIHandler(asgi.ASGIHandler):
    """Django's ASGI handler with a borrowed thread, and the request's two ends on the
    loop unless it used that thread.

    ``handle`` is Django's own, line for line, but for the three calls marked "here:";
    ``tests/test_handler.py`` compares it with Django's and pins the receivers it runs.
    """

    def __init__(self):
        super().__init__()
        # A request beyond the pool's connections would wait for one on its thread: more
        # threads than connections would only be more threads waiting.
        pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
        pool = pool if isinstance(pool, dict) else {}
        self.threads = RequestThreads(pool.get("max_size") or pool.get("min_size") or 4)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self.threads.lend()
        token = request_thread.set(thread)
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            request_thread.reset(token)
            self.threads.take_back(thread)

    async def handle(self, scope, receive, send):
        """
        Handles the ASGI request. Called via the __call__ method.
        """
        # Receive the HTTP request body as a stream object.
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return

        with closing(body_file):
            # Request is complete and can be served.
            set_script_prefix(get_script_prefix(scope))
            signals.request_started.send(sender=self.__class__, scope=scope)  # here: on the loop
            # Get the request and check for basic issues.
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                body_file.close()
                await self.send_response(error_response, send)
                await finish(error_response)  # here: the thread only if used
                return

            class RequestProcessed(Exception):
                pass

            response = None
            try:
                try:
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self.listen_for_disconnect(receive))
                        response = await self.run_get_response(request)
                        await self.send_response(response, send)
                        raise RequestProcessed
                except* (RequestProcessed, RequestAborted):
                    pass
            except BaseExceptionGroup as exception_group:
                if len(exception_group.exceptions) == 1:
                    raise exception_group.exceptions[0]  # noqa: B904 (Django's own line)
                raise

            if response is None:
                await signals.request_finished.asend(sender=self.__class__)
            else:
                await finish(response)  # here: the thread only if used


for middleware in (SecurityMiddleware, CommonMiddleware):
    middleware.__acall__ = on_the_loop

# django.core.asgi.get_asgi_application(), with the handler above.
django.setup(set_prefix=False)
application = ASGIHandler()
