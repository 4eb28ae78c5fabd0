"""Reads to the replica, writes and transactions to the primary, and no read older than
what it must see.

The replica replays the primary's WAL a little behind it. A read is sent there only
when the replica has replayed at least as far as the read needs (``Reading.needed``, a
WAL position):

- a client's own last write, which a signed cookie carries between its requests
  (crm/api/pinning.py): it never reads older data than it wrote;
- the write behind the cache version a miss is about to fill (crm/infrastructure/
  cache.py): an entry stored under a new version always holds that version's write.

A position, not a time window: it holds under any lag, a replica restarted an hour
behind included. Each process keeps the replica's last known replay position and asks
the replica again only when a read needs more; while the replica lags, such reads go
to the primary.

Everything inside a transaction goes to the primary: the use cases' reads before a
write, ``select_for_update``, a read right after a write on the same connection.

The request's ``Reading`` lives in a ContextVar, never a thread-local: under ASGI the
middleware runs on the event loop and the ORM on a worker thread, which sees the
request's context but none of the loop thread's locals (tests/test_routing.py).

A replica that fails a read is left alone for ``DOWN_S`` and the read is answered from
the primary, so a stopped replica costs no request an error.
"""

from __future__ import annotations

import functools
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, connections

log = logging.getLogger(__name__)

PRIMARY, REPLICA = "default", "replica"
# How long a replica that failed is left alone: long enough that a stopped replica
# costs one failed read per process a second, short enough to use it again soon after
# it is back.
DOWN_S = 1.0
# A WAL position as a number of bytes, so that positions compare as integers in Python,
# in Redis and in a cookie. On a server that is not in recovery (no replica configured
# in a test, a promoted replica), everything it holds is "replayed".
REPLAYED = """
    SELECT pg_wal_lsn_diff(
        CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END,
        '0/0'
    )::bigint
"""
# Where the primary's WAL has been written to. Taken after a commit returned, so past
# the commit record (synchronous_commit waits for it).
WRITTEN = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"


@dataclass
class Reading:
    """One request's reads and writes."""

    # The WAL position its reads must see: a replica that has not replayed this far
    # would show it older data.
    needed: int = 0
    # Where the primary's WAL stood once its writes had committed.
    written: int = 0
    # Whether the router sent one of its reads to the replica.
    replica_used: bool = False


reading: ContextVar[Reading | None] = ContextVar("reading", default=None)


@dataclass
class ReplicaState:
    """What this process knows of the replica."""

    replayed: int = 0
    down_until: float = 0.0


replica = ReplicaState()


def current() -> Reading:
    """The request's Reading; a new one in this context if it has none (a script)."""
    found = reading.get()
    if found is None:
        found = Reading()
        reading.set(found)
    return found


def require(position: int) -> None:
    """The request's reads from here on must see the primary as of ``position``."""
    state = current()
    state.needed = max(state.needed, position)


def position() -> int:
    """Where the primary's WAL ends now; 0 when no replica is configured."""
    if REPLICA not in settings.DATABASES:
        return 0
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute(WRITTEN)
        (found,) = cursor.fetchone()
    return found


def committed() -> int:
    """Where the primary's WAL ends, after a commit: a read that sees this far sees it.
    Recorded as the request's ``written``, which the pin sends back to the client."""
    found = position()
    state = current()
    state.written = max(state.written, found)
    return found


def failed() -> None:
    replica.down_until = time.monotonic() + DOWN_S
    # A replica that restarts may come back further behind than it last said (a crash
    # loses what it had not flushed; another standby may answer at its address).
    replica.replayed = 0


def _replayed_past(needed: int) -> bool:
    """Whether the replica has replayed ``needed``, asking it."""
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(REPLAYED)
            (position,) = cursor.fetchone()
    except SynchronousOnlyOperation:
        # Asked on the event loop, where no query may run: the primary is always right.
        return False
    except DatabaseError as exc:
        log.warning("replica unavailable, reading from the primary: %s", exc)
        failed()
        return False
    replica.replayed = max(replica.replayed, position or 0)
    return replica.replayed >= needed


# --8<-- [start:read_from]
def read_from() -> str:
    """The database the next read goes to."""
    if REPLICA not in settings.DATABASES or connections[PRIMARY].in_atomic_block:
        return PRIMARY
    if time.monotonic() < replica.down_until:
        return PRIMARY
    state = reading.get()
    # settings.READ_YOUR_WRITES off ignores what a read needs: only to show what
    # goes wrong without it (tests/steps/test_read_replica.py in the repository).
    needed = state.needed if state is not None and settings.READ_YOUR_WRITES else 0
    if needed > replica.replayed and not _replayed_past(needed):
        return PRIMARY
    if state is not None:
        state.replica_used = True
    return REPLICA


# --8<-- [end:read_from]


class ReplicaRouter:
    """settings.DATABASE_ROUTERS: reads as ``read_from`` says, everything else to the
    primary."""

    def db_for_read(self, model, **hints):
        return read_from()

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        # Both aliases hold the same rows.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The replica replays the primary's migrations and accepts no write.
        return db == PRIMARY


def falls_back_to_primary(read):
    """An async read that a failing replica does not fail: the replica is left alone
    for ``DOWN_S`` and the read runs again, on the primary. An error from the primary
    is the caller's, as before."""

    @functools.wraps(read)
    async def wrapper(*args, **kwargs):
        state = current()
        state.replica_used = False
        try:
            return await read(*args, **kwargs)
        except DatabaseError as exc:
            if not state.replica_used:
                raise
            log.warning("replica failed a read, answering from the primary: %s", exc)
            failed()
            return await read(*args, **kwargs)

    return wrapper
