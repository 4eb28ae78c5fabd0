"""``make test``: each step's own suite in its own venv, then the repository's suites.

Each suite writes JUnit XML; the last line adds them up, so one line tells the whole
story however many suites ran.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from bench import paths, services, steps, workshop

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


def _run(name: str, command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, dict]:
    report = REPORTS / f"{name}.xml"
    report.unlink(missing_ok=True)
    print(f"\n===== {name} =====", flush=True)
    code = subprocess.run([*command, f"--junitxml={report}"], cwd=cwd, env=env).returncode
    return code, _counts(report)


def main(pytest_args: list[str]) -> int:
    REPORTS.mkdir(parents=True, exist_ok=True)
    found = services.ensure()
    results = []
    for step in steps.discover():
        # The workshop's checker runs this same stage on an attendee's copy.
        stage = workshop.own_tests(step, found)
        results.append(_run(f"step-{step.slug}", stage.command, stage.cwd, stage.env))
    # The repository's suites start (or reuse) the services themselves.
    results.append(
        _run(
            "repository",
            [sys.executable, "-m", "pytest", *pytest_args],
            paths.ROOT,
            os.environ.copy(),
        )
    )
    failed = sum(c["failures"] + c["errors"] for _, c in results)
    skipped = sum(c["skipped"] for _, c in results)
    passed = sum(c["tests"] for _, c in results) - failed - skipped
    exit_code = next((code for code, _ in results if code != 0), 0)
    print(f"\ntests: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    return exit_code
