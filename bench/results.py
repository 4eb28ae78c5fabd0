"""Result files: what a run measured and on what, validated against docs/results/schema.json."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from pathlib import Path

import jsonschema

from bench import paths

RESULTS_DIR = paths.ROOT / "docs" / "results"
SCHEMA_PATH = RESULTS_DIR / "schema.json"
# Every run, once, as <run id>.json; never copied into the site (mkdocs.yml).
RUNS = "runs"
# Which run each name means: "latest" (the last `make bench`) and "published" (the last
# `make bench-full`, the run the site renders). Names point at a run, never copy it.
NAMES = "names.json"
NAMED = ("latest", "published")
SCHEMA_VERSION = 7
PAIR = re.compile(r"\[\s+(\d+),\s+(-?[\d.e+-]+)\s+\]")


class ResultError(ValueError):
    """A result file that does not match the schema; the message says where."""


def validate(result: dict) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(result), key=str)
    if errors:
        first = errors[0]
        where = "/".join(str(part) for part in first.absolute_path) or "(top)"
        raise ResultError(f"{where}: {first.message} ({len(errors)} problem(s) in all)")


def names(directory: Path = RESULTS_DIR) -> dict[str, str]:
    try:
        return json.loads((directory / NAMES).read_text())
    except FileNotFoundError:
        return {}


def named(name: str, directory: Path = RESULTS_DIR) -> Path:
    """The file of the run ``name`` ("latest", "published") points at."""
    run_id = names(directory).get(name)
    if run_id is None:
        command = "make bench-full" if name == "published" else "make bench"
        raise ResultError(f"no {name} run in {directory}; run `{command}` first")
    return directory / RUNS / f"{run_id}.json"


def latest(directory: Path = RESULTS_DIR) -> Path:
    return named("latest", directory)


def published(directory: Path = RESULTS_DIR) -> Path:
    return named("published", directory)


def runs(directory: Path = RESULTS_DIR) -> list[Path]:
    return sorted((directory / RUNS).glob("*.json"))


def newest(matching, directory: Path = RESULTS_DIR) -> dict | None:
    """The newest committed run for which ``matching(result)`` holds (run ids sort by
    time)."""
    found = None
    for path in runs(directory):
        candidate = json.loads(path.read_text())
        if matching(candidate):
            found = candidate
    return found


def pair(result: dict, number: int) -> list[dict]:
    """Step ``number`` and the step before it, as ``result`` holds them (either may be
    missing), in the run's order."""
    return [step for step in result["steps"] if step["number"] in (number - 1, number)]


def larger(than: dict, number: int, directory: Path = RESULTS_DIR) -> dict | None:
    """The newest committed run on more customers than ``than`` that measured step
    ``number`` and the step before it: a goal at 3M is checked on a shorter run."""
    return newest(
        lambda candidate: (
            candidate["dataset"]["customers"] > than["dataset"]["customers"]
            and len(pair(candidate, number)) == 2
        ),
        directory,
    )


def cpu_read(than: dict, number: int, directory: Path = RESULTS_DIR) -> dict | None:
    """The newest committed run on as many customers as ``than`` that read where the CPU
    of step ``number`` and of the step before it went (bench/cpu.py)."""

    def read(step: dict) -> bool:
        return any(
            (scenario.get("cpu_ms_per_request") or {}).get("app") is not None
            for scenario in step["scenarios"].values()
        )

    return newest(
        lambda candidate: (
            candidate["dataset"]["customers"] == than["dataset"]["customers"]
            and sum(map(read, pair(candidate, number))) == 2
        ),
        directory,
    )


def errors_told(than: dict, scenario: str, directory: Path = RESULTS_DIR) -> dict | None:
    """The newest committed run on as many customers as ``than`` in which some step's
    ``scenario`` failed requests and the run kept what they were (``error_kinds``)."""

    def told(step: dict) -> bool:
        found = step["scenarios"].get(scenario) or {}
        return found.get("errors", 0) > 0 and sum((found.get("error_kinds") or {}).values()) > 0

    return newest(
        lambda candidate: (
            candidate["dataset"]["customers"] == than["dataset"]["customers"]
            and any(map(told, candidate["steps"]))
        ),
        directory,
    )


def load(path: Path) -> dict:
    if not path.is_file():
        raise ResultError(f"no result file at {path}; run `make bench` first")
    result = json.loads(path.read_text())
    validate(result)
    return result


def write(
    result: dict, directory: Path = RESULTS_DIR, latest: bool = True, publish: bool = False
) -> Path:
    """Write ``runs/<run id>.json`` and, unless told not to, name it "latest"; with
    ``publish``, "published" too."""
    validate(result)
    text = json.dumps(result, indent=1, ensure_ascii=False) + "\n"
    # One probed query per line, not three: [statement index, milliseconds].
    text = PAIR.sub(r"[\1, \2]", text)
    run_id = result["run"]["id"]
    path = directory / RUNS / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    pointed = names(directory)
    if latest:
        pointed["latest"] = run_id
    if publish:
        pointed["published"] = run_id
    (directory / NAMES).write_text(json.dumps(pointed, indent=1, sort_keys=True) + "\n")
    return path


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    ram_gb = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count() or 1, "ram_gb": ram_gb, "os": platform.platform()}


# Where the harness writes what it measured and drew, relative to the repository.
OUTPUTS = ("docs/results", "media")


def git_revision() -> tuple[str, bool]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=paths.ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    revision = git("rev-parse", "HEAD") or "unknown"
    # What made the numbers: a result file or a chart written by an earlier command is an
    # output, and does not make the code that ran differ from the revision.
    outputs = [f":(exclude){path}" for path in OUTPUTS]
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", *outputs))
    return revision, dirty
