"""What a step runs on: its packages' versions and its database connection settings.

Recorded with every measurement, so a result says which Django and which pool made it.
The harness side (``run``) starts this file as a script in the step's virtualenv and
working directory, as ``bench.probe`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

PACKAGES = [
    "django", "djangorestframework", "django-ninja", "django-ninja-extra", "gunicorn",
    "uvicorn", "psycopg", "psycopg-pool", "pydantic", "redis", "django-async-redis", "kink",
]  # fmt: skip


class FactsError(RuntimeError):
    """The script failed inside the step; the message carries its stderr."""


def run(step, database_url: str, settings: dict[str, str] | None = None) -> dict:
    """``{"packages": {name: version}, "database": {"conn_max_age", "pool"}}``, with the
    environment's ``settings`` read as the server reads them."""
    from bench import serve

    done = serve.run_script(step, Path(__file__), database_url, settings=settings)
    if done.returncode != 0:
        raise FactsError(f"{step.slug}: reading its settings failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def _main() -> None:  # runs inside the step's virtualenv, cwd = the step folder
    import contextlib
    import importlib.metadata
    import os
    import sys

    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    packages = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            packages[name] = importlib.metadata.version(name)
    db = settings.DATABASES["default"]
    pool = db.get("OPTIONS", {}).get("pool")
    if pool:
        # A callable (the pool's connection check) is recorded by its name.
        pool = {
            k: f"{v.__module__}.{v.__qualname__}" if callable(v) else v for k, v in pool.items()
        }
    database = {"conn_max_age": db.get("CONN_MAX_AGE"), "pool": pool or None}
    print(json.dumps({"packages": packages, "database": database}))


if __name__ == "__main__":
    _main()
