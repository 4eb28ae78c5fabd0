"""PgBouncer as the harness runs it: transaction pooling in front of the PostgreSQL the
tests use, a fixed number of server connections however many clients ask."""

from __future__ import annotations

import os
import threading

import psycopg
import pytest

from bench import pgbouncer, services
from tests.conftest import need_installed


@pytest.fixture(scope="module")
def bouncer(servers) -> str:
    need_installed("pgbouncer")
    return pgbouncer.ensure(servers.database_url)


def backends(database_url: str, tag: str) -> int:
    """PostgreSQL's backends that served a client named ``tag``: PgBouncer passes a
    client's application_name on to the server connection it lends it."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        (found,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [tag]
        ).fetchone()
    return found


def test_the_configuration_pools_transactions_for_any_database():
    ini, users = pgbouncer.configuration("postgresql://crm:s3cret@db.local:6543/crm", 7000, 12)
    lines = set(ini.splitlines())
    assert "* = host=db.local port=6543 user=crm password=s3cret" in lines
    assert {"pool_mode = transaction", "default_pool_size = 12", "max_db_connections = 12"} <= lines
    assert "listen_port = 7000" in lines
    assert users == '"crm" ""\n'


def test_without_a_password_none_is_written():
    ini, _ = pgbouncer.configuration("postgresql://postgres@127.0.0.1:55432/crm", 7000, 12)
    assert "* = host=127.0.0.1 port=55432 user=postgres" in ini.splitlines()


def test_its_url_keeps_the_database_and_user_and_changes_the_address():
    given = "postgresql://crm:s3cret@db.local:6543/crm_10?sslmode=off"  # pragma: allowlist secret
    url = pgbouncer.url_for(given, 7000)
    assert url == given.replace("db.local:6543", "127.0.0.1:7000")


def test_a_missing_binary_says_what_to_install(monkeypatch, servers):
    monkeypatch.setattr(pgbouncer, "binary", lambda: None)
    with pytest.raises(services.ServiceError, match="apt-get install pgbouncer"):
        pgbouncer.ensure(servers.database_url)
    assert "apt-get install pgbouncer" in pgbouncer.status()


def test_it_answers_for_the_same_database(bouncer, servers):
    with psycopg.connect(bouncer, autocommit=True) as conn:
        (name,) = conn.execute("SELECT current_database()").fetchone()
    assert name == psycopg.conninfo.conninfo_to_dict(servers.database_url)["dbname"]


def test_ensure_keeps_the_running_pgbouncer(bouncer, servers):
    running = pgbouncer.pid()
    assert pgbouncer.ensure(servers.database_url) == bouncer
    assert pgbouncer.pid() == running
    assert pgbouncer.status().startswith("running on ")


def test_many_clients_share_a_fixed_number_of_server_connections(bouncer, servers):
    allowed = int(services.server_settings(servers.database_url)["max_connections"])
    pool = pgbouncer.server_connections(allowed)
    clients = 3 * pool
    tag = f"pgbouncer-test-{os.getpid()}"
    # Every client holds its connection open until all of them have run a transaction.
    everyone = threading.Barrier(clients + 1, timeout=60)
    failed: list[BaseException] = []

    def client() -> None:
        try:
            with psycopg.connect(bouncer, autocommit=True, application_name=tag) as conn:
                with conn.transaction():
                    conn.execute("SELECT pg_sleep(0.1)")
                everyone.wait()
                everyone.wait()
        except BaseException as exc:
            failed.append(exc)
            everyone.abort()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    everyone.wait()
    used = backends(servers.database_url, tag)
    everyone.wait()
    for thread in threads:
        thread.join()
    assert failed == []
    assert 1 <= used <= pool < clients


def test_stopped_it_is_started_again_on_demand(bouncer, servers):
    assert pgbouncer.stop() is True
    assert pgbouncer.pid() is None
    assert pgbouncer.status() == "stopped"
    assert pgbouncer.ensure(servers.database_url) == bouncer
    with psycopg.connect(bouncer, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
