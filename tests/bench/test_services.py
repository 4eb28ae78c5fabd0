"""Embedded services by default; the user's own servers when the URLs are given."""

from __future__ import annotations

import socket

import psycopg
import pytest

from bench import net, paths, services


def test_embedded_postgres_runs_with_the_measuring_settings(servers):
    if not servers.embedded_postgres:
        pytest.skip("DATABASE_URL points at an external server")
    found = services.server_settings(servers.database_url)
    assert int(found["server_version"].split(".")[0]) >= 18
    assert found["jit"] == "off"
    assert found["max_connections"] == services.PG_SETTINGS["max_connections"]
    assert "pg_stat_statements" in found["shared_preload_libraries"]
    with psycopg.connect(servers.database_url) as conn:
        extensions = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
    assert {"pg_trgm", "pg_stat_statements"} <= extensions


def test_embedded_redis_answers(servers):
    if not servers.embedded_redis:
        pytest.skip("REDIS_URL points at an external server")
    port = int(servers.redis_url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(16).startswith(b"+PONG")


def test_ensure_is_idempotent(servers):
    again = services.ensure()
    assert again.database_url == servers.database_url
    assert again.redis_url == servers.redis_url


def embedded_only(servers: services.Services) -> None:
    if not (servers.embedded_postgres and servers.embedded_redis):
        pytest.skip("DATABASE_URL or REDIS_URL points at an external server")


def test_stopped_and_started_again_the_servers_keep_their_addresses(servers, monkeypatch):
    embedded_only(servers)
    # Ports other than the ones they run on are now the preferred ones: started again,
    # a server that forgot its address would move there.
    for name in ("PG_PORT", "REDIS_PORT"):
        monkeypatch.setattr(services, name, net.free_port())
    assert set(services.stop()) == {"postgres", "redis"}
    again = services.ensure()
    assert (again.database_url, again.redis_url) == (servers.database_url, servers.redis_url)


def test_an_outage_brings_postgres_back_at_its_address_with_its_data(servers):
    embedded_only(servers)
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS outage_witness (n int)")
        conn.execute("INSERT INTO outage_witness VALUES (1)")
    try:
        with services.postgres_down(), pytest.raises(psycopg.OperationalError):
            psycopg.connect(servers.database_url, connect_timeout=2)
        with psycopg.connect(servers.database_url) as conn:
            assert conn.execute("SELECT count(*) FROM outage_witness").fetchone()[0] >= 1
    finally:
        with psycopg.connect(servers.database_url, autocommit=True) as conn:
            conn.execute("DROP TABLE outage_witness")


def test_given_urls_are_used_as_they_are(servers, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", servers.database_url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    found = services.ensure()
    assert found.database_url == servers.database_url
    assert found.redis_url == "redis://127.0.0.1:1/0"
    assert not found.embedded_postgres
    assert not found.embedded_redis
    assert services.status()["postgres"] == "external (DATABASE_URL)"


def test_an_unreachable_database_url_is_a_clear_error(monkeypatch):
    # pragma: allowlist nextline secret
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:secret@127.0.0.1:9/none")
    with pytest.raises(services.ServiceError) as error:
        services.ensure(redis=False)
    assert "cannot reach PostgreSQL at postgresql://nobody:***@127.0.0.1:9/none" in str(error.value)
    assert "secret" not in str(error.value)


def test_with_database_replaces_only_the_name():
    url = "postgresql://u:p@db:5433/postgres?sslmode=require"
    assert services.with_database(url, "crm_base") == (
        "postgresql://u:p@db:5433/crm_base?sslmode=require"
    )


def test_the_redis_version_is_read_from_the_server_or_none_when_silent(servers):
    version = services.redis_version(servers.redis_url)
    assert version
    assert version.split(".")[0].isdigit()
    assert services.redis_version("redis://127.0.0.1:1/0") is None


def test_the_suites_server_skips_the_disk_and_a_measuring_one_does_not(servers, monkeypatch):
    """make test's PostgreSQL does not wait for fsync; make bench's does, and its result
    file says which it had (services.server_settings)."""
    if not servers.embedded_postgres:
        pytest.skip("DATABASE_URL points at an external server")
    assert services.server_settings(servers.database_url)["fsync"] == "off"
    monkeypatch.setenv("CRM_PG_DURABLE", "1")
    assert "fsync" not in services._settings_file(5432)
    monkeypatch.setenv("CRM_PG_DURABLE", "0")
    assert "fsync = off" in services._settings_file(5432)


def test_switching_between_the_suites_and_a_measuring_run_reloads_not_restarts(
    servers, monkeypatch
):
    """make test after make bench (or back) ends no connection: fsync is reloaded."""
    if not servers.embedded_postgres:
        pytest.skip("DATABASE_URL points at an external server")
    data = paths.PG_DIR / "data"
    running = services.postgres_pid(data)
    with psycopg.connect(servers.database_url, autocommit=True) as held:
        try:
            monkeypatch.setenv("CRM_PG_DURABLE", "1")
            services.ensure(redis=False)
            assert held.execute("SHOW fsync").fetchone() == ("on",)
        finally:
            monkeypatch.setenv("CRM_PG_DURABLE", "0")
            services.ensure(redis=False)
        assert held.execute("SHOW fsync").fetchone() == ("off",)
    assert services.postgres_pid(data) == running
    changed = services._settings_file(5432).replace("shared_buffers = 2GB", "shared_buffers = 1GB")
    assert not services._reloadable(services._settings_file(5432), changed)
