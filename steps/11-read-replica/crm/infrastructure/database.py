"""The database's health, for /api/health/."""

from django.db import connection

HEALTH_TIMEOUT = 1.0


def ping() -> None:
    # Straight from the pool with a short wait: a health check must answer quickly when
    # the database is down, not after a request's full POOL_TIMEOUT.
    pool = connection.pool
    pool.open()
    with pool.connection(timeout=HEALTH_TIMEOUT) as conn:
        conn.execute("SELECT 1")
