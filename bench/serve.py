"""Start a step's server exactly as its ``step.toml`` says, and stop it cleanly.

``make serve``, the contract suite and the benchmark all go through ``running()``,
so what is tested and measured is what a reader runs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import psycopg

from bench import balancer, net, pgbouncer, replica, services, variables, venvs
from bench.net import HOST
from bench.steps import LOCAL_MODE, Step, pool_size, server_command, workers

DEFAULT_PORT = 8000
# The servers only some steps need: PgBouncer and HAProxy from the operating system's
# packages, the replica from the embedded PostgreSQL's own binaries.
OPTIONAL = {
    "pgbouncer": pgbouncer.PRIMARY,
    "haproxy": balancer,
    "replica": replica,
    "pgbouncer-replica": pgbouncer.REPLICA,
}


class ServerError(RuntimeError):
    """The server did not come up; the message carries the tail of its output."""


def installed(selected: list[Step], missing=None) -> list[Step]:
    """The steps whose servers are all installed; one line for each step left out, with
    what to install. ``missing(name)`` says what a server lacks (its module's own)."""
    missing = missing or (lambda name: OPTIONAL[name].missing())
    kept = []
    for step in selected:
        lacking = [
            problem for name in step.services if name in OPTIONAL and (problem := missing(name))
        ]
        if lacking:
            print(f"[bench] skipping {step.slug}: {'; '.join(lacking)}", flush=True)
        else:
            kept.append(step)
    return kept


def environment(step: Step, database_url: str, redis_url: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        **LOCAL_MODE,
        "DATABASE_URL": database_url,
        "DEBUG": variables.text("DEBUG"),
        "ALLOWED_HOSTS": variables.text("ALLOWED_HOSTS"),
        "PYTHONUNBUFFERED": "1",
    }
    if redis_url and "redis" in step.services:
        env["REDIS_URL"] = redis_url
    return env


def run_script(
    step: Step,
    script: Path,
    database_url: str,
    *args: str,
    stdin: str | None = None,
    redis_url: str | None = None,
    check: bool = False,
    settings: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run the file ``script`` with the step's own interpreter, in its folder and
    environment: it imports the step's Django, never the harness's.

    A script of the step's own (``manage.py``) has its folder on ``sys.path``; a
    harness script does not (-P: ``bench/`` holds a ``profile.py``) and puts the step's
    folder there itself. ``settings`` are environment variables the step reads on top of
    the harness's, as ``running`` takes them.
    """
    isolated = [] if script.is_relative_to(step.path) else ["-P"]
    return subprocess.run(
        [venvs.ensure(step), *isolated, str(script), *args],
        cwd=step.path,
        env={**environment(step, database_url, redis_url), **(settings or {})},
        input=stdin,
        capture_output=True,
        text=True,
        check=check,
    )


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM the server's process group (master and workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def running(
    step: Step,
    database_url: str,
    redis_url: str | None = None,
    port: int | None = None,
    output: IO | None = None,
    timeout: float = 90,
    healthy: bool = True,
    started: Callable[[subprocess.Popen], None] | None = None,
    settings: dict[str, str] | None = None,
    handed: Callable[[list[Instance]], None] | None = None,
    replica_delay_ms: int = 0,
) -> Iterator[str]:
    """Run the step's server; yield its base URL once ``/api/health/`` answers 200.

    ``settings`` are environment variables the step reads on top of the harness's.
    With ``healthy=False`` any answer will do (a server whose database is down);
    ``started`` is handed the server's process (a profiler attaches to it), and for a
    step served as a fleet, ``handed`` its instances (a fault kills or restarts them).
    """
    if step.fleet:
        with fleet(
            step, database_url, redis_url, port, output, timeout, healthy, started, settings,
            handed=handed, replica_delay_ms=replica_delay_ms,
        ) as base_url:  # fmt: skip
            yield base_url
        return
    port = port or net.free_port()
    command = server_command(step, venvs.ensure(step), HOST, port)
    env = {**environment(step, database_url, redis_url), **(settings or {})}
    if not variables.given("DB_POOL_MAX_SIZE"):
        try:
            allowed = int(services.server_settings(database_url)["max_connections"])
        except psycopg.Error:
            # A server started on a database that is down (the health test, the faults)
            # keeps its default pool; it cannot take a connection anyway.
            allowed = None
        if allowed:
            env["DB_POOL_MAX_SIZE"] = str(pool_size(workers(step.server), allowed))
    with serving(
        step.slug, command, step.path, env, port, output, timeout, healthy, started
    ) as base_url:
        yield base_url


class Instance:
    """One app instance of a fleet, its server on its own port: a fault may kill it, a
    deploy stop it (its server finishes the requests it holds) and start it again."""

    def __init__(
        self,
        name: str,
        server: Callable[[Callable[[subprocess.Popen], None]], contextlib.AbstractContextManager],
        started: Callable[[subprocess.Popen], None] | None = None,
    ):
        self.name = name
        self._server = server
        self._started = started
        self._running = contextlib.ExitStack()
        self.process: subprocess.Popen | None = None

    def _began(self, process: subprocess.Popen) -> None:
        self.process = process
        if self._started:
            self._started(process)

    def start(self) -> None:
        """Start its server, on the same port each time; return once it is healthy."""
        # A server still running would keep the port and answer the health check.
        self.stop()
        self._running = contextlib.ExitStack()
        self._running.enter_context(self._server(self._began))

    def stop(self) -> None:
        """SIGTERM: the server takes no new connection and answers those it holds."""
        self._running.close()
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill ends it: what it held is lost."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.stop()


def instance_count(step: Step) -> int:
    """How many app instances serve a step behind its load balancer: INSTANCES, or
    its step.toml's."""
    return (
        int(variables.number("INSTANCES", kind=int))
        if variables.given("INSTANCES")
        else step.instances
    )


@contextlib.contextmanager
def fleet(
    step: Step,
    database_url: str,
    redis_url: str | None = None,
    port: int | None = None,
    output: IO | None = None,
    timeout: float = 90,
    healthy: bool = True,
    started: Callable[[subprocess.Popen], None] | None = None,
    settings: dict[str, str] | None = None,
    instances: int | None = None,
    via_pgbouncer: bool | None = None,
    handed: Callable[[list[Instance]], None] | None = None,
    replica_delay_ms: int = 0,
) -> Iterator[str]:
    """The step as several app instances, each a server of one worker on its own port,
    behind HAProxy on ``port``: the topology of a deployment on several machines, on
    one. The instances reach PostgreSQL through PgBouncer when ``via_pgbouncer`` says
    so, by default when the step's services name it; any step may be served so, to
    compare. Yields the load balancer's base URL once every instance is in its
    rotation (with ``healthy=False``, once each answers at all); every client talks to
    that address only. ``handed`` is given the instances, in HAProxy's order (app1, …).
    A step whose services name ``replica`` reads from one (``read_replica``), which
    replays each transaction ``replica_delay_ms`` after the primary committed it.
    """
    pooled = "pgbouncer" in step.services if via_pgbouncer is None else via_pgbouncer
    # Not for a fleet started on a database that is down (the contract's health test):
    # the replica is copied from it, and PgBouncer is configured from its max_connections.
    replica_url = None
    if "replica" in step.services and healthy:
        replica_url = read_replica(database_url, replica_delay_ms, pooled)
    if pooled and healthy:
        database_url = pgbouncer.ensure(database_url)
    env = {**environment(step, database_url, redis_url), **(settings or {})}
    if replica_url:
        env["REPLICA_DATABASE_URL"] = replica_url
    python = venvs.ensure(step)
    with contextlib.ExitStack() as stack:
        ports, fleet_of = [], []
        for n in range(1, (instances or instance_count(step)) + 1):
            # Chosen as each instance starts: a port handed out earlier is taken by then.
            instance_port = net.free_port()
            command = server_command(step, python, HOST, instance_port, cores=1)
            server = functools.partial(
                serving, f"{step.slug} instance {n}",
                command, step.path, env, instance_port, output, timeout, healthy,
            )  # fmt: skip
            instance = Instance(f"app{n}", server, started)
            instance.start()
            stack.callback(instance.stop)
            ports.append(instance_port)
            fleet_of.append(instance)
        if handed:
            handed(fleet_of)
        base_url = balancer.ensure(ports, port)
        front = balancer.front_of(base_url)
        # Unwound first: the front goes before the instances behind it stop.
        stack.callback(balancer.release, front)
        if healthy:
            net.wait_until(
                lambda: all(balancer.servers_up(front).values()),
                timeout,
                f"{step.slug}: HAProxy on {base_url} does not send to every instance",
                error=ServerError,
            )
        yield base_url


def read_replica(database_url: str, delay_ms: int = 0, pooled: bool = True) -> str:
    """The URL a step reads ``database_url``'s database from: the replica
    (``bench/replica.py``), through a PgBouncer of its own when ``pooled``. Returns once
    the replica has replayed everything the primary had written, the step's database
    included: a database made a moment ago reaches the replica by replay."""
    streaming = replica.ensure(database_url, delay_ms)
    replica.caught_up(database_url, streaming, timeout=60 + delay_ms / 1000)
    url = replica.same_database(streaming, database_url)
    return pgbouncer.REPLICA.ensure(url) if pooled else url


@contextlib.contextmanager
def serving(
    name: str,
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    port: int,
    output: IO | None = None,
    timeout: float = 90,
    healthy: bool = True,
    started: Callable[[subprocess.Popen], None] | None = None,
) -> Iterator[str]:
    """Run ``command`` in its own process group until ``/api/health/`` on ``port``
    answers; stop the whole group on the way out."""
    base_url = f"http://{HOST}:{port}"
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )
    if started:
        started(process)

    def up() -> bool:
        status = net.health_status(base_url)
        if status is None and process.poll() is not None:
            raise ServerError(f"{name}: `{' '.join(command)}` exited with {process.returncode}")
        return status == 200 or (status is not None and not healthy)

    try:
        net.wait_until(
            up,
            timeout,
            f"{name}: no healthy answer on {base_url} in {timeout:.0f}s",
            interval=0.2,
            error=ServerError,
        )
        yield base_url
    finally:
        stop(process)
