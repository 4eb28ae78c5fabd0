"""``make test``: each step's own suite in its own venv, then the repository's suites.

Each suite writes JUnit XML; the last lines add them up: how long each suite took, what
the repository's suites spent on each step (the CI budget per step, README.md), and one
line of totals however many suites ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from bench import paths, services, steps, variables, workshop

REPORTS = paths.REPORTS_DIR


def _counts(report: Path) -> dict[str, int]:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if not report.exists():
        return totals
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, 0))
    return totals


def per_step(report: Path, slugs: list[str]) -> dict[str, float]:
    """Seconds of the report's tests by the step their id names; "shared" for the rest
    (the harness's tests, the site's, anything not run once per step)."""
    spent = dict.fromkeys([*slugs, "shared"], 0.0)
    if not report.exists():
        return spent
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        # A test that sets a step against an earlier one ([05-keyset-06-fts]) is the
        # later step's cost.
        named = [slug for slug in slugs if slug in name]
        step = max(named, key=name.rfind) if named else "shared"
        spent[step] += float(case.get("time", 0))
    return spent


def _run(name: str, command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, dict]:
    report = REPORTS / f"{name}.xml"
    report.unlink(missing_ok=True)
    print(f"\n===== {name} =====", flush=True)
    started = time.monotonic()
    code = subprocess.run([*command, f"--junitxml={report}"], cwd=cwd, env=env).returncode
    return code, {**_counts(report), "seconds": time.monotonic() - started}


def clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def main(pytest_args: list[str]) -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    # Every suite below, and the servers it starts, waits for no disk (NOT_DURABLE).
    variables.prefer("CRM_PG_DURABLE", "0")
    found = services.ensure()
    ladder = steps.discover()
    results = {}
    for step in ladder:
        # The workshop's checker runs this same stage on an attendee's copy.
        stage = workshop.own_tests(step, found)
        results[f"step-{step.slug}"] = _run(
            f"step-{step.slug}", stage.command, stage.cwd, stage.env
        )
    # The repository's suites start (or reuse) the services themselves.
    results["repository"] = _run(
        "repository", [sys.executable, "-m", "pytest", *pytest_args], paths.ROOT, os.environ.copy()
    )
    print(
        "\ntime per suite: "
        + ", ".join(f"{n} {clock(c['seconds'])}" for n, (_, c) in results.items())
    )
    spent = per_step(REPORTS / "repository.xml", [step.slug for step in ladder])
    print("repository suites per step: " + ", ".join(f"{n} {clock(s)}" for n, s in spent.items()))
    counts = [c for _, c in results.values()]
    failed = sum(c["failures"] + c["errors"] for c in counts)
    skipped = sum(c["skipped"] for c in counts)
    passed = sum(c["tests"] for c in counts) - failed - skipped
    exit_code = next((code for code, _ in results.values() if code != 0), 0)
    print(f"\ntests: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return exit_code
