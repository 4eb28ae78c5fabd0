"""The raw-SQL ceiling (``app.py``), served the way the last step is served.

It runs in the last step's own environment, so uvicorn, uvloop, httptools, psycopg and
its pool, and redis-py where the step caches, are the very versions that step runs on,
with as many workers, against that step's database and Redis. Only Django,
django-ninja(-extra) and the step's code are missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO

from bench import net, paths, serve, steps, venvs

# The scenarios the ceiling answers: every read. The blends and write need writes.
SCENARIOS = ("list", "walk", "filter", "search", "search-broad", "sort", "unique", "detail")
APP_DIR = paths.ROOT / "bench" / "ceiling"
# Warm-up: a listing and its next pages, the ceiling's widest scenario.
WARMUP = "walk"


def step_of(selected: list[steps.Step]) -> steps.Step | None:
    """The step whose SQL the ceiling sends, if it is being measured: the last one served
    as one server. The ceiling measures what a step's code costs on the same workers;
    the steps behind a load balancer run the code of that step, served otherwise."""
    last = [step for step in steps.discover() if not step.fleet][-1]
    return last if any(step.slug == last.slug for step in selected) else None


def command(step: steps.Step, python: str, port: int) -> list[str]:
    return [
        # --app-dir: app.py alone is imported, not the harness around it.
        python, "-m", "uvicorn", "app:app", "--app-dir", str(APP_DIR.relative_to(paths.ROOT)),
        "--host", net.HOST,
        "--port", str(port),
        "--workers", str(steps.workers(step.server)),
        "--no-access-log",
    ]  # fmt: skip


@contextlib.contextmanager
def running(
    step: steps.Step,
    database_url: str,
    redis_url: str | None = None,
    output: IO | None = None,
    started=None,
) -> Iterator[str]:
    """Serve the ceiling on ``step``'s database, caching in ``redis_url`` where the step
    caches; yield its base URL once healthy."""
    port = net.free_port()
    env = serve.environment(step, database_url, redis_url)
    python = venvs.ensure(step)
    with serve.serving(
        "ceiling", command(step, python, port), paths.ROOT, env, port, output, started=started
    ) as base_url:
        yield base_url
