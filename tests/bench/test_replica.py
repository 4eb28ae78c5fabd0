"""The read replica: made by pg_basebackup from the embedded primary, streaming, read-only,
held back on purpose when asked, and caught up after a stop."""

from __future__ import annotations

import time

import psycopg
import pytest

from bench import replica, services

TABLE = "crm_replica_probe"


@pytest.fixture(scope="module")
def primary(servers) -> str:
    if not servers.embedded_postgres or replica.given():
        pytest.skip("the harness makes a replica of its embedded PostgreSQL only")
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, said text)")
    yield servers.database_url
    # No slot left behind: it would keep WAL on the primary for a replica nobody runs.
    replica.forget(servers.database_url)
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def said(url: str, row: int) -> str | None:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(f"SELECT said FROM {TABLE} WHERE id = %s", [row]).fetchone()
    return found[0] if found else None


def write(url: str, row: int, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {TABLE} VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET said = %s",
            [row, text, text],
        )


def test_the_primary_writes_wal_a_replica_can_follow(servers):
    if not servers.embedded_postgres:
        pytest.skip("DATABASE_URL points at an external server")
    found = services.server_settings(servers.database_url)
    assert found["wal_level"] == "replica"
    assert int(found["max_wal_senders"]) >= 3


def test_a_replica_streams_what_the_primary_commits_and_refuses_writes(primary):
    url = replica.ensure(primary)
    assert replica.streaming(url)
    write(primary, 1, "first")
    replica.caught_up(primary, url)
    assert said(url, 1) == "first"
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(f"INSERT INTO {TABLE} VALUES (2, 'refused')")
    assert replica.status().startswith("embedded, running on ")


def test_a_delayed_replica_shows_the_old_row_until_it_has_applied_the_write(primary):
    url = replica.ensure(primary, delay_ms=3000)
    try:
        write(primary, 3, "before")
        replica.caught_up(primary, url)
        write(primary, 3, "after")
        # Committed on the primary, held back on the replica.
        assert said(primary, 3) == "after"
        assert said(url, 3) == "before"
        assert replica.behind(url, replica.written(primary)) > 0
        replica.caught_up(primary, url)
        assert said(url, 3) == "after"
    finally:
        replica.ensure(primary)


def test_a_stopped_replica_catches_up_from_its_slot_when_started(primary):
    replica.ensure(primary)
    assert replica.stop()
    assert replica.status() == "embedded, stopped"
    write(primary, 4, "while it was down")
    url = replica.ensure(primary)
    replica.caught_up(primary, url)
    assert said(url, 4) == "while it was down"


def test_the_lag_sampler_sees_a_held_back_replica_fall_behind(primary):
    url = replica.ensure(primary, delay_ms=1000)
    try:
        with replica.Lag(primary) as lag:
            for row in range(20):
                write(primary, 100 + row, "lagging")
                time.sleep(0.05)
            replica.caught_up(primary, url)
        figures = lag.figures()
        # Each transaction was applied about the delay after its commit (the primary
        # times from its flush, a moment after the commit the delay counts from).
        assert figures["max"] >= 500
        assert figures["median"] <= figures["p95"] <= figures["max"]
    finally:
        replica.ensure(primary)
