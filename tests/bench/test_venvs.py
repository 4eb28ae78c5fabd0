"""The steps' virtualenvs: what every server worker, probe and test process starts from."""

from __future__ import annotations

import os
import subprocess

from bench import steps, venvs

# Every module of Django's with its bytecode for this interpreter beside it.
COMPILED = """
import importlib.util, os, pathlib, django
root = pathlib.Path(django.__file__).parent
missing = [p for p in root.rglob("*.py") if not os.path.isfile(importlib.util.cache_from_source(p))]
print(len(missing), sorted(map(str, missing))[:3])
"""


def test_a_step_venv_holds_compiled_bytecode():
    """A process never compiles Django again, even where writing bytecode is turned off:
    every module has its bytecode, not only those some earlier process imported."""
    step = steps.discover()[-1]
    found = subprocess.run(
        [venvs.ensure(step), "-c", COMPILED],
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.startswith("0 "), found.stdout
