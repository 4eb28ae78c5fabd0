"""One Redis client and pool per event loop, where django-async-redis keeps one per process.

An asyncio connection belongs to the loop that opened it. django-async-redis keeps a
single pool per process, and each cache backend caches its client, so the second loop
that uses them fails with "attached to a different loop", then "Event loop is closed"
(the library's open issue #7). A server runs one loop per worker and never notices;
Django's test client, ``async_to_sync`` in a script and a management command each start
loops of their own. Keying both on the running loop (and the server's URL) gives each
loop its own, and they go with their loop.
"""

import asyncio
import weakref

from django_async_redis.client import DefaultClient
from django_async_redis.pool import ConnectionFactory


class LoopConnectionFactory(ConnectionFactory):
    _loop_pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def get_or_create_connection_pool(self, params):
        pools = self._loop_pools.setdefault(asyncio.get_running_loop(), {})
        if params["url"] not in pools:
            pools[params["url"]] = self.get_connection_pool(params)
        return pools[params["url"]]


class LoopClient(DefaultClient):
    # Class-wide, like the pools: Django makes a cache backend, and so a client, for each
    # request's context; a client per instance would be a new Redis object per request.
    _loop_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def get_client(self, write=True, tried=None, show_index=False):
        index = self.get_next_client_index(write=write, tried=tried)
        clients = self._loop_clients.setdefault(asyncio.get_running_loop(), {})
        if self._server[index] not in clients:
            clients[self._server[index]] = await self.connect(index)
        client = clients[self._server[index]]
        return (client, index) if show_index else client
