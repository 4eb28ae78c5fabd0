"""What a run has finished so far, so that a long run can stop and go on later.

Every measured cell (a step, a scenario, a repeat) and every step's untimed pass is
written here the moment it ends. Run the same command again and the finished cells are
kept and skipped; only what is missing runs. The journal belongs to one run: the same
steps, data, settings and harness code (a change to bench/, k6/ or steps/ starts a new
one), and it is deleted once the result file is written. ``FRESH=1`` discards it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import time
from pathlib import Path

from bench import paths, results

DIRECTORY = paths.CACHE_DIR / "bench"
# What the numbers depend on besides the settings: the harness, the workload, the steps.
CODE = ("bench", "k6", "steps")


def code_fingerprint() -> str:
    """The committed trees of ``CODE`` plus any uncommitted change to them."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else ""

    digest = hashlib.sha256(git("rev-parse", *(f"HEAD:{name}" for name in CODE)).encode())
    digest.update(git("diff", "HEAD", "--", *CODE).encode())
    return digest.hexdigest()[:16]


class Journal:
    def __init__(self, path: Path, state: dict):
        self.path = path
        self.state = state
        # Wall time of earlier sittings, and when this one began: every save brings
        # elapsed_s up to date, so a sitting that is killed still counts.
        self._before_s = state["elapsed_s"]
        self._since = time.perf_counter()

    @classmethod
    def open(cls, identity: dict, fresh: bool = False) -> Journal:
        """The journal of the run ``identity`` describes: resumed when one exists."""
        identity = {**identity, "code": code_fingerprint()}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        path = DIRECTORY / f"run-{key}.json"
        if path.exists() and not fresh:
            return cls(path, json.loads(path.read_text()))
        revision, dirty = results.git_revision()
        state = {
            "identity": identity,
            "started": dt.datetime.now(dt.UTC).isoformat(),
            # The code measured is the code at the start: later edits (docs written while
            # a long run goes on) must not be credited with its numbers.
            "git_revision": revision,
            "git_dirty": dirty,
            "sittings": 0,
            "elapsed_s": 0.0,
            "cells": {},
            "steps": {},
        }
        return cls(path, state)

    def begin_sitting(self) -> int:
        """Count this sitting; return how many cells earlier ones finished."""
        self.state["sittings"] += 1
        self.save()
        return len(self.state["cells"])

    @staticmethod
    def cell_key(owner: str, scenario: str, repeat: int) -> str:
        return f"{owner}|{scenario}|{repeat}"

    def cell(self, owner: str, scenario: str, repeat: int) -> dict | None:
        return self.state["cells"].get(self.cell_key(owner, scenario, repeat))

    def keep_cell(self, owner: str, scenario: str, repeat: int, measured: dict) -> None:
        self.state["cells"][self.cell_key(owner, scenario, repeat)] = measured
        self.save()

    def step(self, slug: str) -> dict | None:
        return self.state["steps"].get(slug)

    def keep_step(self, slug: str, entry: dict) -> None:
        self.state["steps"][slug] = entry
        self.save()

    def remember(self, name: str, value):
        """A value the first sitting read (the data's shape before any write)."""
        return self.state.setdefault(name, value)

    def elapsed_s(self) -> float:
        """Wall time of every sitting so far, this one included."""
        self.save()
        return self.state["elapsed_s"]

    def save(self) -> None:
        self.state["elapsed_s"] = self._before_s + time.perf_counter() - self._since
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.state))
        # Renamed into place: a run killed mid-write leaves the last whole journal.
        partial.replace(self.path)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
