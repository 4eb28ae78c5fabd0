"""The harness creates, reuses and drops only databases it made itself."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import sql

from bench import database, net, seed, steps
from tests.datasets import SMALL

PREFIX = "crm_test_db"


@pytest.fixture
def admin(servers):
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        yield conn


def test_an_unmarked_database_is_never_dropped(servers, admin):
    name = f"{PREFIX}_base"
    database.drop_all(servers.database_url, PREFIX)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with pytest.raises(database.DatabaseError, match="not created by this harness"):
            database.prepare_base(servers.database_url, 100, 1, prefix=PREFIX)
        assert database.drop_all(servers.database_url, PREFIX) == []
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        assert exists
    finally:
        admin.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))


def test_a_current_database_is_reused_and_a_stale_one_rebuilt(servers):
    step = steps.discover()[0]
    messages: list[str] = []
    database.drop_all(servers.database_url, PREFIX)
    try:
        url = database.prepare_step(
            servers.database_url, step, 100, 1, prefix=PREFIX, log=messages.append
        )
        assert any("cloned" in m for m in messages)
        assert database.current_dataset(servers.database_url, PREFIX) == (100, 1)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM app_user").fetchone()[0] == 100

        messages.clear()
        database.prepare_step(
            servers.database_url, step, 100, 1, prefix=PREFIX, log=messages.append
        )
        assert any("reusing" in m for m in messages)
        assert not any("generating" in m for m in messages)

        messages.clear()
        database.prepare_step(
            servers.database_url, step, 120, 1, prefix=PREFIX, log=messages.append
        )
        assert any("generating 120 customers" in m for m in messages)
        assert any("cloned" in m for m in messages)
    finally:
        dropped = database.drop_all(servers.database_url, PREFIX)
    assert set(dropped) == {
        f"{PREFIX}_base",
        database.template_name(step, PREFIX),
        step.database_name(PREFIX),
    }


def test_steps_with_the_same_migrations_are_migrated_once(servers):
    """01 to 03 share their migrations, as 06 to 08 do: one migrated template each."""
    first, second = steps.discover()[:2]
    assert database.migrations_digest(first) == database.migrations_digest(second)
    messages: list[str] = []
    database.drop_all(servers.database_url, PREFIX)
    try:
        urls = [
            database.prepare_step(
                servers.database_url, step, 100, 1, prefix=PREFIX, log=messages.append
            )
            for step in (first, second)
        ]
        template = database.template_name(first, PREFIX)
        assert [m for m in messages if "migrating with" in m and template in m] == [
            f"[db] {template}: migrating with {first.slug}"
        ]
        assert sum("cloned from " + template in m for m in messages) == 2
        for url in urls:
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT count(*) FROM app_user").fetchone()[0] == 100
    finally:
        database.drop_all(servers.database_url, PREFIX)


def test_a_step_whose_migrations_extend_another_runs_only_its_own(servers, monkeypatch):
    """09 adds one migration to 06's: its template is a copy of 06's, migrated once more,
    and ends with every migration of its own applied."""
    monkeypatch.setattr(database, "REPORT_AFTER_S", 0)
    step, earlier = next(
        (step, database.extends(step))
        for step in reversed(steps.discover())
        if database.extends(step)
    )
    messages: list[str] = []
    database.drop_all(servers.database_url, PREFIX)
    try:
        database.prepare_step(servers.database_url, earlier, 100, 1, prefix=PREFIX)
        url = database.prepare_step(
            servers.database_url, step, 100, 1, prefix=PREFIX, log=messages.append
        )
        ran = {m.split()[1].rstrip(":") for m in messages if m.startswith("[db]   ")}
        assert ran == {f"crm.{path.stem}" for path in step.migrations[len(earlier.migrations) :]}
        assert any(database.template_name(earlier, PREFIX) in m for m in messages)
        with psycopg.connect(url) as conn:
            applied = conn.execute(
                "SELECT name FROM django_migrations WHERE app = 'crm' ORDER BY name"
            ).fetchall()
            assert [name for (name,) in applied] == [path.stem for path in step.migrations]
            assert conn.execute("SELECT count(*) FROM app_user").fetchone()[0] == 100
    finally:
        database.drop_all(servers.database_url, PREFIX)


def test_fingerprints_change_with_what_changes_the_data():
    base = database.base_fingerprint(1000, 1)
    assert base == database.base_fingerprint(1000, 1)
    assert base != database.base_fingerprint(1001, 1)
    assert base != database.base_fingerprint(1000, 2)
    step = steps.discover()[0]
    assert database.step_fingerprint(base, step) != database.step_fingerprint("other", step)


def test_databases_use_a_byte_order_collation(servers):
    step = steps.discover()[0]
    url = database.prepare_step(servers.database_url, step, 50, 1, prefix=PREFIX)
    try:
        with psycopg.connect(url) as conn:
            ordered = [
                row[0]
                for row in conn.execute(
                    "SELECT x FROM unnest(ARRAY['b', 'B', 'a', 'Ä', 'A', 'ä']) x ORDER BY x"
                )
            ]
        assert ordered == sorted(ordered)
    finally:
        database.drop_all(servers.database_url, PREFIX)


def test_a_migration_says_which_one_runs_and_what_postgres_is_doing(servers, monkeypatch):
    # Every migration named, and a quiet spell reported at once (Django's start-up is
    # one): on a large data set these are the lines between "migrating" and "migrated".
    monkeypatch.setattr(database, "REPORT_AFTER_S", 0)
    monkeypatch.setattr(database, "PROGRESS_EVERY_S", 0.001)
    step = steps.discover()[-1]
    messages: list[str] = []
    database.drop_all(servers.database_url, PREFIX)
    try:
        database.prepare_step(
            servers.database_url, step, 100, 1, prefix=PREFIX, log=messages.append
        )
    finally:
        database.drop_all(servers.database_url, PREFIX)
    named = {m.split()[1].rstrip(":") for m in messages if m.startswith("[db]   ")}
    assert {f"crm.{path.stem}" for path in step.migrations} <= named
    assert any("s so far; " in m for m in messages)


def test_activity_names_the_statement_a_database_is_running(servers):
    def sleeping() -> str | None:
        said = database.activity(servers.database_url)
        return said if "pg_sleep" in said else None

    with psycopg.connect(servers.database_url, autocommit=True) as busy:
        started = threading.Thread(target=busy.execute, args=["SELECT pg_sleep(3)"])
        started.start()
        try:
            found = net.wait_until(sleeping, 10, "the sleeping statement never showed")
        finally:
            started.join()
    assert found == "SELECT pg_sleep(3)"


def test_storage_measures_each_customer_table_and_every_index_on_them(servers):
    url = SMALL.step_url(servers.database_url, steps.discover()[-1])
    found = database.storage(url)
    with psycopg.connect(url) as conn:
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s)", [list(seed.TABLES)]
            )
        }
    assert set(found["tables"]) == set(seed.TABLES)
    assert set(found["indexes"]) == indexes
    assert {entry["table"] for entry in found["indexes"].values()} == set(seed.TABLES)
    assert all(entry["bytes"] > 0 for entry in found["indexes"].values())


@pytest.mark.parametrize("step", steps.discover(), ids=lambda step: step.slug)
def test_a_step_starts_compact_whatever_its_migrations_rewrote(servers, step):
    """Steps 05 and 09 fill a new column in every customer row: their template is
    compacted after migrating, so compacting a copy again frees nothing."""
    url = SMALL.step_url(servers.database_url, step, copy="compact")
    query = "SELECT pg_total_relation_size('app_user')"
    with psycopg.connect(url, autocommit=True) as conn:
        (before,) = conn.execute(query).fetchone()
        conn.execute("VACUUM (FULL) app_user")
        (after,) = conn.execute(query).fetchone()
    assert after >= before * 0.95, (before, after)
