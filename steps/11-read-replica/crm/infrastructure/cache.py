"""The response cache: rendered response bodies in Redis, never a stale read.

An entry is the JSON body a miss rendered, so a hit skips PostgreSQL and pydantic
alike. Every entry records the *version* it was read under, a counter in Redis that
writes bump, and answers only while that version is current:

- list and search pages: one generation for all of them, since a write can change any
  listing (a new customer is first in the default ordering);
- a customer's detail: a version of its own, so that writing one customer keeps every
  other customer's entry.

A hit costs one round trip: MGET of the version and the entry. A miss reads the
version in that same MGET, then queries, then stores the body with the version it took.
A write that commits in between bumps the version, so what the read stores is already
out of date, and no later read accepts it: it can never hide the write.

With a replica, a miss could read the old row after the bump: the replica replays the
write a moment after the primary committed it, and the old row, stored under the new
version, would be served long after the replica caught up. So each version key has a
*position* beside it: where the primary's WAL stood once the writes behind the version
had committed, the highest of them. A miss reads it in the same MGET, and its query
goes to the replica only once the replica has replayed that far
(crm/infrastructure/routing.py); until then, to the primary.

Writes bump on commit (``transaction.on_commit``): a rolled-back write bumps nothing,
and no reader can see the bump before the rows. Signals cover the ORM's saves and
deletes (crm.infrastructure.signals); writes that send none (``QuerySet.update``,
``bulk_create``, raw SQL) call ``invalidate()`` themselves. Nothing ever clears the
cache or scans keys.

Redis is an accelerator, never a dependency: every call is bounded by the short
timeouts in settings.CACHES, and any failure reads as a miss that PostgreSQL answers.
A bump that fails is kept and retried, before this process uses the cache again and by
a task that keeps trying until Redis answers. Other processes could read an entry
stored before the write in between: that retry, and at worst the entries' TTL, bound
how long.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass

from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache
from django.db import DatabaseError, connections, transaction
from django_async_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from crm.infrastructure import routing

log = logging.getLogger(__name__)

LIST_GENERATION = "list:generation"
# What a Redis call can fail with: the library wraps the common errors, redis-py raises
# the others (a full pool, a refused connection), asyncio a timeout.
FAILURES = (ConnectionInterrupted, RedisError, OSError, asyncio.TimeoutError)
# Bumps that failed while Redis was away, each version key with its position: retried
# before this process uses the cache again, and every RETRY_S seconds by a task of their
# own.
_pending: dict[str, int] = {}
# Versions bumped after a write whose position the primary could not say: bumped again
# once it can.
_unknown: set[str] = set()
_retrying: asyncio.Task | None = None
RETRY_S = 0.2


@dataclass(frozen=True)
class Key:
    version: str
    name: str

    @property
    def position(self) -> str:
        return position_key(self.version)


def list_key(shape: dict) -> Key:
    """The key of a listing: the same for every spelling of one listing, a different one
    for any other (``shape``: its canonical parameters, cursor and origin)."""
    text = json.dumps(shape, sort_keys=True, default=str)
    return Key(LIST_GENERATION, "list:" + hashlib.sha256(text.encode()).hexdigest())


def detail_key(pk: int) -> Key:
    return Key(version_key(pk), f"customer:{pk}")


def version_key(pk: int) -> str:
    return f"customer:{pk}:version"


def position_key(version: str) -> str:
    return f"{version}:position"


# Each version counted up and its position raised, never lowered, in one step: two
# writers' bumps may arrive in either order, and the position must end at the later
# write's. Created without a TTL, since a counter must outlive the entries.
BUMP = """
local n = #KEYS / 2
for i = 1, n do
    redis.call('INCR', KEYS[i])
    if tonumber(redis.call('GET', KEYS[n + i]) or '0') < tonumber(ARGV[i]) then
        redis.call('SET', KEYS[n + i], ARGV[i])
    end
end
"""


async def _flush_pending() -> None:
    if _unknown:
        try:
            now = await sync_to_async(routing.position)()
        except DatabaseError as exc:
            log.warning("the primary's WAL position is still unknown: %s", exc)
        else:
            for key in _unknown:
                _pending[key] = max(_pending.get(key, 0), now)
            _unknown.clear()
    if not _pending:
        return
    bumped = dict(_pending)
    if hasattr(cache, "client"):
        client = await cache.client.get_client(write=True)
        versions = [cache.client.make_key(key) for key in bumped]
        positions = [cache.client.make_key(position_key(key)) for key in bumped]
        await client.eval(BUMP, 2 * len(bumped), *versions, *positions, *bumped.values())
    else:
        # Another backend than django-async-redis: the harness's probe pass reads each
        # request through Django's local-memory cache, in one process, where no other
        # bump can come in between.
        for key, position in bumped.items():
            held = await cache.aget_many([key, position_key(key)])
            await cache.aset_many(
                {
                    key: held.get(key, 0) + 1,
                    position_key(key): max(held.get(position_key(key), 0), position),
                },
                timeout=None,
            )
    for key, position in bumped.items():
        if _pending.get(key) == position:
            del _pending[key]


async def _lookup(key: Key) -> tuple[int | None, int, bytes | None]:
    """The current version, its position and the body stored under it; None, 0, None
    when Redis cannot answer."""
    try:
        await _flush_pending()
        found = await cache.aget_many([key.version, key.position, key.name])
    except FAILURES as exc:
        log.warning("cache unavailable, reading from PostgreSQL: %s", exc)
        return None, 0, None
    # A version never bumped is 0; an entry read under another version is a miss.
    version = found.get(key.version, 0)
    stored_under, body = found.get(key.name, (None, None))
    return version, found.get(key.position, 0), body if stored_under == version else None


# --8<-- [start:miss]
async def cached(key: Key, render) -> tuple[bytes, bool]:
    """The cached body of ``key``, or ``render()``'s, stored for the next reader, and
    whether it was a hit. ``render`` returns the body from PostgreSQL; it runs only on a
    miss."""
    version, position, body = await _lookup(key)
    if body is not None:
        return body, True
    # What the version stands for, or the body stored under it could be older.
    routing.require(position)
    body = await render()
    if version is not None:
        await store(key, version, body)
    return body, False


# --8<-- [end:miss]


async def store(key: Key, version: int, body: bytes) -> None:
    # With the version read before the query: if a write committed since, that version
    # is already out of date, and no later read accepts this entry.
    try:
        await cache.aset(key.name, (version, body))
    except FAILURES as exc:
        log.warning("cache write failed: %s", exc)


def invalidate(*customer_ids: int) -> None:
    """Make every listing, and these customers' details, miss once the writes commit.

    For writes Django sends no signal for: ``QuerySet.update``, ``bulk_create``, raw SQL.
    Safe in a transaction and in autocommit alike.
    """
    keys = [LIST_GENERATION, *(version_key(pk) for pk in customer_ids)]
    transaction.on_commit(lambda: bump(keys, committed_position()))


def committed_position() -> int | None:
    """Where the write that just committed reached in the primary's WAL; None when the
    primary cannot say (it went away right after the commit). The write stands either
    way: a write that is done is not failed for it."""
    for _ in range(2):
        try:
            return routing.committed()
        except DatabaseError as exc:
            log.warning("the primary's WAL position could not be read: %s", exc)
            # Its connection was ended under it (a failover, an idle-connection killer):
            # the pool hands out another, which can answer at once.
            connections[routing.PRIMARY].close()
    return None


def bump(keys: list[str], position: int | None = 0) -> None:
    # Writes run in a worker thread (sync_to_async); this hands the bump to the event
    # loop that owns the Redis pool, the only loop django-async-redis works on.
    async_to_sync(_bump)(keys, position)


async def _bump(keys: list[str], position: int | None) -> None:
    for key in keys:
        _pending[key] = max(_pending.get(key, 0), position or 0)
    if position is None:
        # Bumped now all the same, so that no process serves the old entries; bumped
        # again with a position read later, which is past the commit. Until then a miss
        # in another process may read a replica that lags behind this write.
        _unknown.update(keys)
    try:
        await _flush_pending()
    except FAILURES as exc:
        log.warning("cache bump failed, retried until Redis answers: %s", exc)
        global _retrying
        if _retrying is None or _retrying.done():
            _retrying = asyncio.get_running_loop().create_task(_retry())


async def _retry() -> None:
    # Another worker never saw this write: until the bump lands it could serve an entry
    # stored before it, so the bump is retried at once when Redis is back, not only on
    # this worker's next request.
    while _pending:
        await asyncio.sleep(RETRY_S)
        try:
            await _flush_pending()
        except FAILURES:
            continue


async def status() -> str:
    """``ok`` or ``degraded``, for the health check."""
    try:
        await _flush_pending()
        await cache.aget(LIST_GENERATION)
    except FAILURES:
        return "degraded"
    return "ok"


class RedisResponseCache:
    """The ResponseCache port (crm.application.ports) on this module."""

    async def listing(self, shape: dict, render) -> tuple[bytes, bool]:
        return await cached(list_key(shape), render)

    async def customer(self, id: int, render) -> tuple[bytes, bool]:
        return await cached(detail_key(id), render)

    def invalidate(self, *customer_ids: int) -> None:
        invalidate(*customer_ids)

    async def status(self) -> str:
        return await status()
