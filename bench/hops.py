"""Thread hops: how many times an async step's request leaves the event loop for a thread.

Under ASGI, Django runs anything sync (the ORM, a sync middleware hook, a sync signal
receiver) through ``sync_to_async``: a hand-off to a thread and back, and the first one
of a request starts that request's own thread. This pass counts them. The harness side
(``run``) starts this file as a script in the step's virtualenv and working directory,
as ``bench.probe`` does; the script side (``_main``) sends each request through the
step's own ASGI application on one event loop, with its real cache, and counts every
``sync_to_async`` call (by the function it runs), every submission to a thread pool and
every thread started while the request runs.

Each read whose answer says it was a cache miss is sent again at once, so that the
step answers the second from its cache: the first count is a miss's, the second a hit's.
A read no cache stands in front of is sent once; a second send would count the same
hops again. The cache keys of this pass live under a prefix of their own, so the first
send always misses. A write (the probe's
``{"write": body}``) is a create, a patch and a delete of a customer of its own, each
sent once.
"""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from pathlib import Path

LIST = "/api/customers/"


class HopsError(RuntimeError):
    """The script failed inside the step; the message carries its stderr."""


def run(step, database_url: str, redis_url: str | None, requests: list) -> list[dict]:
    """Count the hops of each of the probe's ``requests`` (a GET path, a walk, whose second
    page is counted, or a write): ``[{"request", "sends": [{"method", "status", "cache",
    "hops", "submits", "threads", "named"}, …]}]``, ``named`` the function each hop ran."""
    from bench import serve

    done = serve.run_script(
        step, Path(__file__), database_url, stdin=json.dumps(requests), redis_url=redis_url
    )
    if done.returncode != 0:
        raise HopsError(f"{step.slug}: counting thread hops failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def summary(counted: list[dict]) -> dict:
    """The hops of one scenario's requests: the median of the answers its cache served
    (``hit``) and of the others (``miss``: every answer of a step without a cache, and
    every write), ``None`` where there was none; the threads started for either
    (``miss_threads``, ``hit_threads``, medians too); and what the hops of the costliest
    of either ran, each function with its count (``miss_named``, ``hit_named``)."""
    found: dict = {}
    for kind in ("miss", "hit"):
        sends = [s for r in counted for s in r["sends"] if (s["cache"] == "hit") == (kind == "hit")]
        found[kind] = statistics.median(s["hops"] for s in sends) if sends else None
        found[f"{kind}_threads"] = statistics.median(s["threads"] for s in sends) if sends else None
        costliest = max(sends, key=lambda s: s["hops"])["named"] if sends else None
        found[f"{kind}_named"] = dict(Counter(costliest)) if costliest is not None else None
    return found


# --- inside the step ------------------------------------------------------------------


async def _send(
    application, path: str, method: str = "GET", body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    import asyncio

    route, _, query = path.partition("?")
    headers = [(b"host", b"localhost")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    sent: list[dict] = []
    asked = False

    async def receive() -> dict:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": body, "more_body": False}
        # The client stays connected: Django's disconnect listener waits here until the
        # response is out and it is cancelled.
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    await application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, answer


def _main() -> None:  # runs inside the step's virtualenv, cwd = the step folder
    import asyncio
    import concurrent.futures
    import sys
    import threading
    import uuid
    from urllib.parse import urlsplit

    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from asgiref.sync import SyncToAsync
    from django.conf import settings

    for cache in settings.CACHES.values():
        # Entries of this pass only: its first send of each request is a miss.
        cache["KEY_PREFIX"] = f"hops-{uuid.uuid4().hex[:8]}"
    from config.asgi import application

    counts = {"hops": 0, "submits": 0, "threads": 0}
    named: list[str] = []

    def name_of(func) -> str:
        inner = getattr(func, "func", func)  # a functools.partial
        owner = getattr(inner, "__module__", None) or type(inner).__module__
        return f"{owner}.{getattr(inner, '__qualname__', type(inner).__qualname__)}"

    original_call = SyncToAsync.__call__

    async def counted_call(self, *args, **kwargs):
        counts["hops"] += 1
        named.append(name_of(self.func))
        return await original_call(self, *args, **kwargs)

    original_submit = concurrent.futures.ThreadPoolExecutor.submit

    def counted_submit(self, *args, **kwargs):
        counts["submits"] += 1
        return original_submit(self, *args, **kwargs)

    original_start = threading.Thread.start

    def counted_start(self, *args, **kwargs):
        counts["threads"] += 1
        return original_start(self, *args, **kwargs)

    SyncToAsync.__call__ = counted_call
    concurrent.futures.ThreadPoolExecutor.submit = counted_submit
    threading.Thread.start = counted_start

    async def counted_send(method: str, path: str, body=None) -> tuple[dict, bytes]:
        counts.update(hops=0, submits=0, threads=0)
        named.clear()
        raw = json.dumps(body).encode() if body is not None else b""
        status, headers, answer = await _send(application, path, method, raw)
        send = {"method": method, "status": status, "cache": headers.get("x-cache")}
        return {**send, **counts, "named": list(named)}, answer

    async def main(requests: list) -> list[dict]:
        found = []
        for index, request in enumerate(requests):
            if isinstance(request, dict) and "write" in request:
                body = {**request["write"], "customer_id": f"HOPS-{uuid.uuid4().hex[:16]}"}
                created, answer = await counted_send("POST", LIST, body)
                url = f"{LIST}{json.loads(answer)['id']}/"
                patched, _ = await counted_send("PATCH", url, {"last_name": "Patched"})
                deleted, _ = await counted_send("DELETE", url)
                sends = [created, patched, deleted]
            else:
                path = request
                if isinstance(request, dict):
                    # A walk is counted on its second page: its first is the listing's.
                    _, answer = await counted_send("GET", request["walk"])
                    path = urlsplit(json.loads(answer)["next"])._replace(scheme="", netloc="")
                    path = path.geturl()
                sends = [(await counted_send("GET", path))[0]]
                if sends[0]["cache"] == "miss":
                    sends.append((await counted_send("GET", path))[0])
            found.append({"request": index, "sends": sends})
        return found

    json.dump(asyncio.run(main(json.load(sys.stdin))), sys.stdout)


if __name__ == "__main__":
    _main()
