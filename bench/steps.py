"""The steps of the ladder, as their ``step.toml`` files describe them.

Standard library only: the Docker entrypoint imports this module too, so a step's
server command is built in exactly one place. Every ``step.toml`` is checked against
``bench/step.schema.json`` wherever jsonschema is installed: by the harness, not inside
a step's image.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bench import variables

STEPS_DIR = Path(__file__).resolve().parent.parent / "steps"
# What a step.toml may hold, field by field; its enumerations are the choices below.
SCHEMA_PATH = Path(__file__).with_name("step.schema.json")
_FIELDS = json.loads(SCHEMA_PATH.read_text())["properties"]
SERVERS = tuple(_FIELDS["server"]["enum"])
# What running a step leaves in its folder; never part of the step itself.
CACHE_DIRS = ("__pycache__", ".pytest_cache", ".benchmarks", ".ruff_cache")
SERVICES = tuple(_FIELDS["services"]["items"]["enum"])
# How a step pages its listings (DESIGN §4): page numbers with a COUNT, or a cursor.
PAGINATIONS = tuple(_FIELDS["pagination"]["enum"])
# How a step answers ?search=: substring matches over the joins, or a full-text vector.
SEARCHES = tuple(_FIELDS["search"]["enum"])
SLUG = re.compile(_FIELDS["slug"]["pattern"])
# Every step refuses its development SECRET_KEY with DEBUG off unless told it runs on a
# developer's machine (config/settings.py); the harness is such a machine.
LOCAL_MODE = {"CRM_LOCAL": "1"}
# The workshop's checker (make check) points the repository's step suites at one
# folder, an attendee's copy, instead of at the ladder.
UNDER_TEST = "CRM_STEP_DIR"


class StepError(ValueError):
    """A step folder or selector that does not make sense; the message says why."""


@dataclass(frozen=True)
class Step:
    number: int
    slug: str
    title: str
    summary: str
    server: str
    services: tuple[str, ...]
    pagination: str
    search: str
    path: Path
    # Where the filters read the address's place and the relationship's points.
    filters: str = "joined"
    # "speed", or "structure" for a step that rearranges the code and is not meant to be
    # faster: the home page's headline says what such a step trades.
    aim: str = "speed"
    # Test files whose run times the step's page sets side by side (``make bench``).
    timed_tests: tuple[str, ...] = ()
    # What a reader meets before this step's change, and the scenarios that show what
    # the change buys: the page's summary box, "Which fix first?" and the exercise.
    symptom: str = ""
    shows: tuple[str, ...] = ()
    # Tests of the step before that this step's change makes untrue ("file::name" →
    # why); every other test of that step must still be in this one.
    retired: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # App instances behind the load balancer, when the step has one (step 10 on).
    instances: int = 1
    # Controls declared on this step, as step.toml holds them (bench/controls.py).
    controls: tuple[dict, ...] = field(default=(), hash=False, compare=False)

    @property
    def fleet(self) -> bool:
        """Served as app instances behind a load balancer (serve.fleet), not one server."""
        return "haproxy" in self.services

    @property
    def label(self) -> str:
        return f"{self.number:02d}"

    def database_name(self, prefix: str = "crm") -> str:
        return f"{prefix}_step_{self.number:02d}"

    @property
    def migrations(self) -> list[Path]:
        return sorted((self.path / "crm" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.py"))


def schema_errors(data: dict) -> list[str]:
    """``field: what is wrong`` for every way ``data`` breaks bench/step.schema.json."""
    try:
        import jsonschema
    except ImportError:
        # The Docker image reads the one step the harness has validated, beside only
        # that step's own packages.
        return []
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    found = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        field = ".".join(str(part) for part in error.absolute_path)
        if error.validator == "required":
            field = error.message.split("'")[1]
        found.append(f"{field or '(top)'}: {error.message}")
    return found


def load(path: Path) -> Step:
    toml = path / "step.toml"
    if not toml.is_file():
        raise StepError(f"{path.name}: no step.toml")
    try:
        data = tomllib.loads(toml.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise StepError(f"{toml}: {exc}") from exc
    if errors := schema_errors(data):
        raise StepError(f"{toml}: " + "; ".join(errors))
    if data["slug"] != path.name or int(data["slug"][:2]) != data["number"]:
        raise StepError(f"{toml}: slug: {data['slug']!r} must equal the folder name and number")
    return Step(
        number=data["number"],
        slug=data["slug"],
        title=data["title"],
        summary=data["summary"],
        server=data["server"],
        services=tuple(data.get("services", ["postgres"])),
        pagination=data["pagination"],
        search=data["search"],
        path=path,
        filters=data.get("filters", "joined"),
        aim=data.get("aim", "speed"),
        timed_tests=tuple(data.get("timed_tests", [])),
        symptom=data.get("symptom", ""),
        shows=tuple(data.get("shows", [])),
        retired=data.get("retired", {}),
        controls=tuple(data.get("controls", [])),
        instances=data.get("instances", 1),
    )


def discover(steps_dir: Path = STEPS_DIR) -> list[Step]:
    steps = [load(p) for p in sorted(steps_dir.iterdir()) if p.is_dir() and SLUG.match(p.name)]
    numbers = [s.number for s in steps]
    if numbers != list(range(1, len(steps) + 1)):
        raise StepError(f"steps must be numbered 1..n without gaps, found {numbers}")
    return steps


def under_test(steps_dir: Path = STEPS_DIR) -> list[Step]:
    """The steps the repository's step suites judge: the ladder, or the one folder that
    ``CRM_STEP_DIR`` names."""
    folder = variables.given(UNDER_TEST)
    return [load(Path(folder).resolve())] if folder else discover(steps_dir)


def select(selector: str | int, steps_dir: Path = STEPS_DIR) -> Step:
    """``3``, ``03`` and ``03-select-related`` all name step 3."""
    text = str(selector).strip()
    steps = discover(steps_dir)
    for step in steps:
        if text in (step.slug, step.label) or (text.isdigit() and int(text) == step.number):
            return step
    known = ", ".join(s.slug for s in steps)
    raise StepError(f"no step {text!r}; the steps are: {known}")


def select_many(selectors: str | None, steps_dir: Path = STEPS_DIR) -> list[Step]:
    """``"1,3"`` → steps 1 and 3; empty or ``None`` → every step."""
    if not selectors or selectors.strip().lower() == "all":
        return discover(steps_dir)
    return [select(part, steps_dir) for part in selectors.split(",") if part.strip()]


def workers(server: str, cores: int | None = None) -> int:
    """Worker processes, as each server's own documentation recommends."""
    cores = cores or os.cpu_count() or 1
    if server == "gunicorn":
        # gunicorn's docs: (2 x $num_cores) + 1 sync workers.
        return 2 * cores + 1
    # uvicorn's docs: one worker process per core; concurrency comes from the event loop.
    return cores


# A step's pool per worker process (config/settings.py's default), and the connections
# kept free beside the steps' pools: the harness's own, psql, the probe pass.
POOL_MAX_SIZE = 20
RESERVED_CONNECTIONS = 20


def pool_size(worker_count: int, max_connections: int) -> int:
    """Each worker's pool, so that PostgreSQL never says "too many clients": two servers
    (make serve beside a test run) with every pool full stay within max_connections."""
    room = (max_connections - RESERVED_CONNECTIONS) // (2 * worker_count)
    if room < 1:
        raise StepError(
            f"PostgreSQL allows {max_connections} connections: too few for {worker_count}"
            " workers; raise max_connections or set DB_POOL_MAX_SIZE yourself"
        )
    return min(POOL_MAX_SIZE, room)


def server_command(
    step: Step, python: str, host: str, port: int, cores: int | None = None
) -> list[str]:
    count = str(workers(step.server, cores))
    if step.server == "gunicorn":
        return [
            python, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"{host}:{port}",
            "--workers", count,
            "--worker-class", "sync",
            # gunicorn 27's control socket has one path per user: two servers at once
            # (make serve and the contract suite) would fight over it.
            "--no-control-socket",
        ]  # fmt: skip
    return [
        python, "-m", "uvicorn", "config.asgi:application",
        "--host", host,
        "--port", str(port),
        "--workers", count,
        "--no-access-log",
    ]  # fmt: skip
