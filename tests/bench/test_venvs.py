"""The steps' virtualenvs: what every server worker, probe and test process starts from."""

from __future__ import annotations

import os
import subprocess

from bench import steps, venvs

IMPORTED = "import django.db.models.query as module, os; print(os.path.isfile(module.__cached__))"


def test_a_step_venv_holds_compiled_bytecode():
    """A process never compiles Django again, even where writing bytecode is turned off."""
    step = steps.discover()[-1]
    found = subprocess.run(
        [venvs.ensure(step), "-c", IMPORTED],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "True"
