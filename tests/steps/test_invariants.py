"""What every step folder promises (DESIGN §2), checked for every step present."""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
import subprocess

import pytest

from bench import steps, venvs

ALL = steps.discover()
PAIRS = list(itertools.pairwise(ALL))
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[a-z0-9,_-]+\])?==[0-9][0-9A-Za-z.+!-]*$")
TABLES = {"address", "app_user", "customer_relationship"}


def ids(items):
    return [getattr(i, "slug", None) or f"{i[0].slug}->{i[1].slug}" for i in items]


def requirement_lines(path):
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            yield line


@pytest.mark.parametrize("step", ALL, ids=ids(ALL))
def test_step_is_a_whole_django_project(step: steps.Step):
    for name in ("manage.py", "config/settings.py", "config/urls.py", "config/wsgi.py",
                 "config/asgi.py", "crm/models.py", "crm/migrations/0001_initial.py",
                 "requirements.txt", "requirements-test.txt", "pytest.ini"):  # fmt: skip
        assert (step.path / name).is_file(), name
    assert list((step.path / "tests").glob("test_*.py")), "a step has its own tests"


@pytest.mark.parametrize("step", ALL, ids=ids(ALL))
def test_requirements_are_exact_pins(step: steps.Step):
    runtime = list(requirement_lines(step.path / "requirements.txt"))
    assert runtime
    for line in runtime:
        assert PIN.match(line), f"requirements.txt: {line!r} is not an exact pin"
    test_lines = list(requirement_lines(step.path / "requirements-test.txt"))
    assert test_lines[0] == "-r requirements.txt"
    for line in test_lines[1:]:
        assert PIN.match(line), f"requirements-test.txt: {line!r} is not an exact pin"


def test_steps_are_numbered_from_one_without_gaps():
    assert [s.number for s in ALL] == list(range(1, len(ALL) + 1))
    assert ALL[0].slug == "01-naive"


@pytest.mark.parametrize(("previous", "step"), PAIRS, ids=ids(PAIRS))
def test_migrations_chain_is_prefix_identical(previous: steps.Step, step: steps.Step):
    mine = {p.name: p.read_bytes() for p in step.migrations}
    for migration in previous.migrations:
        assert migration.name in mine, f"{step.slug} lacks {migration.name}"
        assert mine[migration.name] == migration.read_bytes(), f"{migration.name} differs"


def names_of_tests(step: steps.Step) -> set[str]:
    """``file::name`` of every test function in the step's own suite."""
    names = set()
    for path in (step.path / "tests").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                names.add(f"{path.name}::{node.name}")
    return names


@pytest.mark.parametrize(("previous", "step"), PAIRS, ids=ids(PAIRS))
def test_a_step_keeps_every_test_of_the_step_before(previous: steps.Step, step: steps.Step):
    # A behaviour proved once stays proved: a restructuring that drops a test says so
    # in step.toml's [retired], with the reason, or fails here.
    dropped = names_of_tests(previous) - names_of_tests(step)
    assert sorted(dropped - set(step.retired)) == [], (
        f"{step.slug} drops tests of {previous.slug}: keep them, or list them under"
        " [retired] in its step.toml with the reason"
    )
    assert sorted(set(step.retired) - dropped) == [], "[retired] names a test that was kept"


PROBE = """
import json, os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
django.setup()
from django.apps import apps
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "debug": settings.DEBUG,
    "secret_key": settings.SECRET_KEY,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "database": [db["NAME"], db["HOST"], str(db["PORT"])],
    "tables": sorted(m._meta.db_table for m in apps.get_app_config("crm").get_models()),
    "apps": [a.label for a in apps.get_app_configs()],
}))
"""

SETTING_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS")


def probe(step: steps.Step, **env: str) -> dict:
    """The settings a step reads from ``env``, on a developer's machine (LOCAL_MODE)."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTING_VARIABLES}
    result = subprocess.run(
        [venvs.ensure(step), "-c", PROBE],
        cwd=step.path,
        env={**clean, **steps.LOCAL_MODE, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("step", ALL, ids=ids(ALL))
def test_settings_have_safe_defaults(step: steps.Step):
    found = probe(step)
    assert found["debug"] is False
    assert set(found["allowed_hosts"]) <= {"127.0.0.1", "localhost", "[::1]"}
    assert found["database"] == [step.database_name(), "127.0.0.1", "55432"]


@pytest.mark.parametrize("step", ALL, ids=ids(ALL))
def test_settings_come_from_the_environment(step: steps.Step):
    found = probe(
        step,
        DATABASE_URL="postgresql://u:p@db.example:6543/elsewhere",
        SECRET_KEY="from-the-environment",  # pragma: allowlist secret
        DEBUG="true",
        ALLOWED_HOSTS="api.example,other.example",
    )
    assert found["debug"] is True
    assert found["secret_key"] == "from-the-environment"  # pragma: allowlist secret
    assert found["allowed_hosts"] == ["api.example", "other.example"]
    assert found["database"] == ["elsewhere", "db.example", "6543"]


@pytest.mark.parametrize("step", ALL, ids=ids(ALL))
def test_package_and_table_names_are_the_same_everywhere(step: steps.Step):
    found = probe(step)
    assert set(found["tables"]) == TABLES
    assert "crm" in found["apps"]


def benchmark_names(step: steps.Step) -> set[str]:
    tree = ast.parse((step.path / "tests" / "test_benchmarks.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and node.name.startswith("test_")
        and "benchmark" in [arg.arg for arg in node.args.args]
    }


@pytest.mark.parametrize(("before", "after"), PAIRS, ids=ids(PAIRS))
def test_every_step_micro_benchmarks_the_same_operations(before, after):
    """The docs set each micro-benchmark beside the previous step's: same names, same work."""
    assert benchmark_names(after) == benchmark_names(before)
    assert {"test_serialise_one_page", "test_one_list_request", "test_one_detail_request"} <= (
        benchmark_names(after)
    )
