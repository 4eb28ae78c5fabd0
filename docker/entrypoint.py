"""The app container's entrypoint; also runnable as a plain script outside Docker.

It reads the step from ``step.toml`` through ``bench/steps.py``, the very module the
native runner uses, so a step's server command is written in one place only.

    entrypoint.py export STEP DEST      copy the step STEP (3, 03 or a slug) into DEST/<slug>
    entrypoint.py plan STEP             print the database and server command, as JSON
    entrypoint.py serve                 create and migrate the step's database, then serve
    entrypoint.py migrate               create and migrate the step's database, then exit
    entrypoint.py run                   serve a database migrated already (fleet instances)
    entrypoint.py healthcheck           exit 0 when /api/health/ answers 200

Standard library only until ``serve`` connects to PostgreSQL with the step's psycopg.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import steps  # noqa: E402

APP_STEPS = Path(os.environ.get("APP_STEPS_DIR", "/app/steps"))
# Inside the container; compose publishes the port on 127.0.0.1 only.
HOST = "0.0.0.0"
PORT = int(os.environ.get("PORT", "8000"))
IGNORED = shutil.ignore_patterns(*steps.CACHE_DIRS, "tests")


def installed_step() -> steps.Step:
    """The one step an app image holds (``export`` put it there)."""
    found = [p for p in APP_STEPS.iterdir() if p.is_dir()] if APP_STEPS.is_dir() else []
    if len(found) != 1:
        raise steps.StepError(f"expected one step in {APP_STEPS}, found {len(found)}")
    return steps.load(found[0])


def database_url(step: steps.Step) -> str:
    """``DATABASE_URL`` if given, else the step's own database on ``DATABASE_SERVER_URL``."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    server = os.environ.get("DATABASE_SERVER_URL", "postgresql://postgres@db:5432/postgres")
    return on_server(server, step)


def replica_url(step: steps.Step) -> str | None:
    """``REPLICA_DATABASE_URL`` if given, else the step's own database on
    ``REPLICA_DATABASE_SERVER_URL`` (step 11 on); None without a replica."""
    if os.environ.get("REPLICA_DATABASE_URL"):
        return os.environ["REPLICA_DATABASE_URL"]
    server = os.environ.get("REPLICA_DATABASE_SERVER_URL")
    return on_server(server, step) if server else None


def on_server(server: str, step: steps.Step) -> str:
    parts = urllib.parse.urlsplit(server)
    return parts._replace(path="/" + step.database_name()).geturl()


def plan(step: steps.Step, python: str = "python") -> dict:
    url = urllib.parse.urlsplit(database_url(step))
    # A fleet step's instance is one worker, as make serve runs it (bench/serve.py): the
    # instances, not the workers, are what the load balancer spreads the load over.
    cores = 1 if step.fleet else None
    return {
        "step": step.slug,
        "database": url.path.lstrip("/"),
        "command": steps.server_command(step, python, HOST, PORT, cores=cores),
    }


def export(selector: str, destination: Path) -> Path:
    step = steps.select(selector)
    target = destination / step.slug
    shutil.copytree(step.path, target, ignore=IGNORED)
    print(f"[entrypoint] {step.slug}: {step.title}")
    return target


def create_database(url: str) -> int:
    """Create the step's database on first start, never touching one that exists; return
    the server's max_connections."""
    import psycopg
    from psycopg import sql

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"[entrypoint] created database {name}", flush=True)
        return int(conn.execute("SHOW max_connections").fetchone()[0])


def migrate() -> steps.Step:
    """Create and migrate the installed step's database; return the step."""
    step = installed_step()
    url = database_url(step)
    os.environ["DATABASE_URL"] = url
    allowed = create_database(url)
    if not step.fleet:
        # Every worker's pool full at once stays within the server's connections. A
        # fleet's pools go to PgBouncer, which holds the server's connections itself.
        workers = steps.workers(step.server)
        os.environ.setdefault("DB_POOL_MAX_SIZE", str(steps.pool_size(workers, allowed)))
    os.chdir(step.path)
    command = [sys.executable, "manage.py", "migrate", "--noinput"]
    if os.spawnv(os.P_WAIT, sys.executable, command) != 0:
        raise SystemExit(f"[entrypoint] migrating {step.slug} failed")
    return step


def run(step: steps.Step) -> None:
    os.environ["DATABASE_URL"] = database_url(step)
    if replica := replica_url(step):
        os.environ["REPLICA_DATABASE_URL"] = replica
    os.chdir(step.path)
    command = plan(step, sys.executable)["command"]
    print(f"[entrypoint] {step.slug} ({step.server}) on port {PORT}", flush=True)
    os.execv(command[0], command)


def healthcheck() -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/health/", timeout=3) as r:
            return 0 if r.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


def main(argv: list[str]) -> int:
    match argv:
        case ["export", selector, destination]:
            export(selector, Path(destination))
        case ["plan", selector]:
            print(json.dumps(plan(steps.select(selector))))
        case ["serve"] | []:
            run(migrate())
        case ["migrate"]:
            migrate()
        case ["run"]:
            # Several instances start at once: one migrate service has made the
            # database, so that none of them races another through its migrations.
            run(installed_step())
        case ["healthcheck"]:
            return healthcheck()
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except steps.StepError as exc:
        raise SystemExit(f"[entrypoint] {exc}") from None
