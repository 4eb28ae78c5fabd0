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
LATEST = RESULTS_DIR / "latest.json"
# The run the site renders: the last publication run (`make bench-full`).
PUBLISHED = RESULTS_DIR / "published.json"
SCHEMA_VERSION = 6
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


def load(path: Path = LATEST) -> dict:
    if not path.is_file():
        raise ResultError(f"no result file at {path}; run `make bench` first")
    result = json.loads(path.read_text())
    validate(result)
    return result


def write(
    result: dict, directory: Path = RESULTS_DIR, latest: bool = True, publish: bool = False
) -> Path:
    """Write ``<run id>.json`` and, unless told not to, refresh ``latest.json``; with
    ``publish``, ``published.json`` too."""
    validate(result)
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=1, ensure_ascii=False) + "\n"
    # One probed query per line, not three: [statement index, milliseconds].
    text = PAIR.sub(r"[\1, \2]", text)
    path = directory / f"{result['run']['id']}.json"
    path.write_text(text)
    if latest:
        (directory / LATEST.name).write_text(text)
    if publish:
        (directory / PUBLISHED.name).write_text(text)
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


def git_revision() -> tuple[str, bool]:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=paths.ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    revision = git("rev-parse", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return revision, dirty
