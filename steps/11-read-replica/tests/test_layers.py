"""The layers' boundaries, as import-linter checks them (.importlinter)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

STEP = Path(__file__).resolve().parent.parent


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = [Path(sys.executable).with_name("lint-imports"), "--config", ".importlinter"]
    return subprocess.run(command, cwd=root, capture_output=True, text=True)


def test_the_layers_keep_their_contracts():
    result = lint_imports(STEP)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("crm/domain/leak.py", "from django.db import models\n"),
        ("crm/domain/leak.py", "from crm.infrastructure import repository\n"),
        ("crm/application/leak.py", "from crm.api import schemas\n"),
    ],
)
def test_an_import_across_a_boundary_breaks_a_contract(tmp_path, module, line):
    shutil.copytree(STEP / "crm", tmp_path / "crm", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(STEP / ".importlinter", tmp_path)
    (tmp_path / module).write_text(line)
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "1 broken" in result.stdout
