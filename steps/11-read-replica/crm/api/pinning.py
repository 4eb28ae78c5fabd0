"""Read-your-writes: a client never reads older data than its own last write.

A write's response sets a signed cookie holding where the primary's WAL stood once the
write had committed (crm/infrastructure/routing.py, ``committed``). The client's next
requests send it back, and their reads go to the replica only once the replica has
replayed that far; until then, to the primary. Browsers, k6 and HTTP clients with a
cookie jar send it back without being told.

The pin is the request's ``routing.Reading``, held in a ContextVar: the ORM runs the
request's reads on a worker thread, which sees the request's context but not the event
loop thread's locals. Async only, so a cache hit never leaves the event loop for it.
"""

from asgiref.sync import markcoroutinefunction

from crm.infrastructure import routing

COOKIE = "crm_written"
SALT = "crm.api.pinning"
# A pin outlives any lag worth reading from a replica: one the replica has long
# replayed costs nothing, since each process remembers how far it has replayed.
MAX_AGE_S = 3600


def pinned(request) -> int:
    """The WAL position of the client's last write; 0 for none, or a cookie that is not
    ours (tampered, expired, not a number), which only sends reads to the replica."""
    value = request.get_signed_cookie(COOKIE, default=None, salt=SALT, max_age=MAX_AGE_S)
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


# --8<-- [start:middleware]
class PinToWrites:
    sync_capable = False
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request):
        state = routing.Reading(needed=pinned(request))
        token = routing.reading.set(state)
        try:
            response = await self.get_response(request)
        finally:
            routing.reading.reset(token)
        if state.written > state.needed:
            response.set_signed_cookie(
                COOKIE,
                str(state.written),
                salt=SALT,
                max_age=MAX_AGE_S,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response


# --8<-- [end:middleware]
