"""Requests generated from each step's own OpenAPI document, by schemathesis.

schemathesis reads the document the step serves and, for every operation, sends the
examples it gives, the boundary values of every bound it states (its coverage phase),
and requests Hypothesis builds, valid and invalid. Every check schemathesis has judges
each answer: no 5xx; a status, content type, headers and body the document lists; a
request the document allows is accepted, one it forbids is refused. So a client
generated from the document never sends what the API then rejects.

The run is schemathesis's own command, as a reader would type it, with a fixed seed and
budget: repeatable, within CI's time, and a failure prints each request as a curl
command to replay. The answers no document can promise are listed once, with their
reason, in tests/contract/undocumentable.py. It runs on a copy of the step's database
of its own (`scratch`): it renames and deletes seeded customers, whom the other
contract tests read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bench import paths
from tests.contract.conftest import Target
from tests.contract.undocumentable import excused

SCHEMATHESIS = Path(sys.executable).with_name("st")
EXAMPLES = 30
SEED = 1
PHASES = "examples,coverage,fuzzing"
HOOKS = "tests.contract.undocumentable"


def schemathesis_run(target: Target, workdir: Path) -> subprocess.CompletedProcess:
    command = [
        str(SCHEMATHESIS), "run", f"{target.base_url}/api/openapi.json",
        "--checks", "all",
        # Replaced by the hooks' copy, which excuses only what the document cannot say.
        "--exclude-checks", "positive_data_acceptance",
        "--phases", PHASES,
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--no-color",
    ]  # fmt: skip
    return subprocess.run(
        command,
        # Its run cache (.schemathesis/) goes there, not into the repository.
        cwd=workdir,
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": HOOKS,
            "PYTHONPATH": str(paths.ROOT),
            "CRM_PAGINATION": target.step.pagination,
        },
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_generated_requests_keep_the_documented_contract(scratch: Target, tmp_path):
    run = schemathesis_run(scratch, tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout, run.stdout[-2000:]
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated, run.stdout[-2000:]
    assert int(generated.group(1)) > 0


def refusal(*errors: tuple[str, str]) -> dict:
    return {"detail": "…", "errors": [{"field": f, "message": m} for f, m in errors]}


def test_the_listed_answers_are_excused_only_where_they_apply():
    page = refusal(("page", "Invalid page."))
    cursor = refusal(("cursor", "Invalid cursor."))
    assert excused("page", 400, page) == ["a page past the end"]
    assert excused("cursor", 400, cursor) == ["a cursor the server did not issue"]
    assert excused("cursor", 400, page) == excused("page", 400, cursor) == []
    assert excused("page", 404, page) == []
    # A bound the document states is never excused, nor a second error beside the first.
    assert excused("cursor", 400, refusal(("cursor", "Invalid cursor: too long."))) == []
    assert excused("page", 400, refusal(("page_size", "Must be between 1 and 100."))) == []
    assert excused("page", 400, refusal(("page", "Invalid page."), ("gender", "…"))) == []
