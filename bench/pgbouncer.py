"""PgBouncer between the app instances and PostgreSQL, in transaction pooling mode.

Every app instance keeps its own pool, so PostgreSQL holds instances x pool connections,
each one a backend process. PgBouncer lends one of a fixed number of server connections
to a client for one transaction at a time: any number of instances share them.

PyPI ships no PgBouncer: it comes from the operating system (``INSTALL``). The harness
runs it as it runs the embedded servers (``bench/services.py``): its configuration under
``.cache/pgbouncer/``, its own port, kept running between commands, shown by
``make services-status`` and stopped by ``make services-stop``.

A step that reads from a replica (step 11) gets a second PgBouncer in front of it
(``REPLICA``): the replica's pool, with the same derivation of its size, and a short
wait for a server connection, so that a stopped replica turns into a quick error the
app answers from the primary instead of a hang.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bench import net, paths, services, steps, variables

INSTALL = "apt-get install pgbouncer (Debian, Ubuntu) or brew install pgbouncer (macOS)"
# Where Debian puts it: /usr/sbin is not on every user's PATH.
SYSTEM_PATHS = ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer")


def binary() -> str | None:
    found = shutil.which("pgbouncer")
    return found or next((path for path in SYSTEM_PATHS if os.access(path, os.X_OK)), None)


def missing() -> str | None:
    """What to install, in one line, when there is no PgBouncer; ``None`` when there is."""
    return None if binary() else f"PgBouncer is not installed: {INSTALL}"


def server_connections(max_connections: int) -> int:
    """The PostgreSQL connections PgBouncer keeps for the app, however many instances
    there are: what one app worker's pool may hold beside another server's
    (``steps.pool_size``). More would not help: a connection only works while a core
    is free for its backend, and 2 cores run 2 queries at a time."""
    return steps.pool_size(1, max_connections)


@dataclass(frozen=True)
class Bouncer:
    """One PgBouncer the harness runs: its name (its folder under ``.cache/`` and its
    entry in the services' state), the variable naming its preferred port, and how long
    a client may wait for a server connection before it gets an error."""

    name: str
    title: str
    port_variable: str
    # A client that waits this long for a server connection gets an error, as the
    # step's own pool gives a 503 after DB_POOL_TIMEOUT.
    query_wait_s: int

    @property
    def dir(self):
        return paths.CACHE_DIR / self.name

    @property
    def port(self) -> int:
        return int(variables.number(self.port_variable, kind=int))

    def configuration(self, database_url: str, port: int, pool: int) -> tuple[str, str]:
        """pgbouncer.ini and its users file, for PostgreSQL at ``database_url``."""
        upstream = urlsplit(database_url)
        user = unquote(upstream.username or "postgres")
        password = unquote(upstream.password or "")
        target = f"host={upstream.hostname} port={upstream.port or 5432} user={user}"
        if password:
            target += f" password={password}"
        ini = "\n".join(
            [
                "; Written by bench/pgbouncer.py on every start; edit it there instead.",
                "[databases]",
                # Any database name the client asks for, on the same server: every step's
                # database and the test databases alike.
                f"* = {target}",
                "",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                # A server connection is a client's for one transaction only. Django keeps
                # no state on a connection between transactions once the step's settings
                # say so (DISABLE_SERVER_SIDE_CURSORS, prepared statements left off).
                "pool_mode = transaction",
                # The whole app's server connections, however many instances and pools ask.
                f"default_pool_size = {pool}",
                f"max_db_connections = {pool}",
                "min_pool_size = 2",
                # Clients are cheap here: one file descriptor each, no backend process.
                "max_client_conn = 2000",
                f"query_wait_timeout = {self.query_wait_s}",
                # After a failed login (PostgreSQL down or restarting), PgBouncer fails every
                # client at once until it tries again. Its default wait, 15 s, would keep
                # the app failing long after PostgreSQL is back; the app's pool retries at
                # once.
                "server_login_retry = 1",
                # Nothing to reset between clients in transaction mode.
                "server_reset_query =",
                # The embedded PostgreSQL trusts local connections; PgBouncer does the same
                # and logs in upstream as the user above.
                "auth_type = trust",
                f"auth_file = {self.dir / 'users.txt'}",
                f"admin_users = {user}",
                f"stats_users = {user}",
                f"logfile = {self.dir / 'pgbouncer.log'}",
                f"pidfile = {self.dir / 'pgbouncer.pid'}",
                "",
            ]
        )
        return ini, f'"{user}" ""\n'

    def pid(self) -> int | None:
        try:
            found = int((self.dir / "pgbouncer.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return found if services.pid_alive(found) else None

    def ensure(self, database_url: str) -> str:
        """PgBouncer in front of the PostgreSQL of ``database_url``, started if it is not
        running with this configuration; its URL for the same database and user."""
        if problem := missing():
            raise services.ServiceError(problem)
        max_connections = int(services.server_settings(database_url)["max_connections"])
        with services.state() as state:
            known = state.get(self.name, {})
            port = known.get("port")
            if not (port and (self.pid() or net.port_free(port))):
                port = net.free_port(self.port)
            ini, users = self.configuration(database_url, port, server_connections(max_connections))
            self.dir.mkdir(parents=True, exist_ok=True)
            written = self.dir / "pgbouncer.ini"
            if self.pid() and written.exists() and written.read_text() == ini:
                return url_for(database_url, port)
            self._stop()
            written.write_text(ini)
            (self.dir / "users.txt").write_text(users)
            owner = services.run_as()
            if owner:
                # PgBouncer refuses to run as root; it switches to the embedded servers' user.
                shutil.chown(self.dir, owner)
                for path in self.dir.iterdir():
                    shutil.chown(path, owner)
            print(f"[services] starting {self.title} on 127.0.0.1:{port}", flush=True)
            command = [binary(), "-d", *(["-u", owner] if owner else []), str(written)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise services.ServiceError(
                    f"{self.title} did not start:\n{done.stderr}{self._log_tail()}"
                )
            url = url_for(database_url, port)
            net.wait_until(
                lambda: _answers(url),
                15,
                f"{self.title} did not answer on port {port}:\n{self._log_tail()}",
                error=services.ServiceError,
            )
            state[self.name] = {"port": port, "url": services.redacted(url)}
        return url

    def _log_tail(self) -> str:
        log = self.dir / "pgbouncer.log"
        return log.read_text()[-2000:] if log.exists() else ""

    def _stop(self) -> bool:
        # Its immediate shutdown: SIGTERM until 1.23, which made SIGTERM wait for every
        # client to leave (an app's pool never does) and gave the old meaning to SIGQUIT.
        running = self.pid()
        if running is None:
            return False
        how = signal.SIGQUIT if version() >= (1, 23) else signal.SIGTERM
        return services.terminate(running, self.title, how)

    def stop(self) -> bool:
        """Stop this PgBouncer; whether it was running."""
        with services.state():
            return self._stop()

    def status(self) -> str:
        return services.optional_status(self.name, bool(binary()), INSTALL, bool(self.pid()))

    def missing(self) -> str | None:
        return missing()


# In front of the primary: as long a wait as a request's own pool allows.
PRIMARY = Bouncer("pgbouncer", "PgBouncer", "CRM_PGBOUNCER_PORT", query_wait_s=10)
# In front of the replica. PgBouncer holds a client while it retries a server that
# refuses: with a stopped replica the first reads would wait this long. The app
# answers a read the replica fails from the primary, so the error comes quickly.
REPLICA = Bouncer(
    "pgbouncer-replica", "the replica's PgBouncer", "CRM_PGBOUNCER_REPLICA_PORT", query_wait_s=1
)
configuration = PRIMARY.configuration
ensure = PRIMARY.ensure
pid = PRIMARY.pid
stop = PRIMARY.stop
status = PRIMARY.status


def url_for(database_url: str, port: int) -> str:
    """``database_url`` with PgBouncer's address in place of PostgreSQL's."""
    parts = urlsplit(database_url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{net.HOST}:{port}" if credentials else f"{net.HOST}:{port}"
    return parts._replace(netloc=netloc).geturl()


def _answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def queries(bouncer_url: str) -> int:
    """The queries PgBouncer at ``bouncer_url`` has passed on for its database since it
    started, from its admin console (SHOW STATS)."""
    import psycopg

    name = psycopg.conninfo.conninfo_to_dict(bouncer_url)["dbname"]
    admin = psycopg.conninfo.make_conninfo(bouncer_url, dbname="pgbouncer")
    with psycopg.connect(admin, autocommit=True) as conn:
        cursor = conn.execute("SHOW STATS")
        columns = [c.name for c in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return sum(int(row["total_query_count"]) for row in rows if row["database"] == name)


def server_pids(bouncer_url: str) -> set[int]:
    """PostgreSQL's backend processes PgBouncer at ``bouncer_url`` holds, from its admin
    console (SHOW SERVERS)."""
    import psycopg

    admin = psycopg.conninfo.make_conninfo(bouncer_url, dbname="pgbouncer")
    with psycopg.connect(admin, autocommit=True) as conn:
        # The admin console speaks the simple query protocol only: no parameters.
        cursor = conn.execute("SHOW SERVERS")
        column = [c.name for c in cursor.description].index("remote_pid")
        return {row[column] for row in cursor.fetchall()}


def version() -> tuple[int, ...]:
    done = subprocess.run([binary(), "--version"], capture_output=True, text=True)
    found = re.search(r"PgBouncer (\d+)\.(\d+)", done.stdout)
    return tuple(int(part) for part in found.groups()) if found else (0, 0)
