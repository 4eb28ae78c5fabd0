"""One virtualenv per step, built from that step's pinned requirements.

Each step gets its own environment so that its ``requirements.txt`` is proven
complete: nothing leaks in from the tooling or from another step.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import paths
from bench.steps import Step

REQUIREMENTS = ("requirements.txt", "requirements-test.txt")
# Compiled once, at install, as pip does by itself: otherwise every server worker, probe
# and test process compiles Django from source again where PYTHONDONTWRITEBYTECODE is
# set (CI machines often set it), about a second of CPU each time.
UV_OPTIONS = ("--compile-bytecode",)


def _fingerprint(step: Step) -> str:
    digest = hashlib.sha256(sys.version.encode())
    digest.update(" ".join(UV_OPTIONS).encode())
    for name in REQUIREMENTS:
        digest.update((step.path / name).read_bytes())
    return digest.hexdigest()


def path(step: Step) -> Path:
    return paths.VENVS_DIR / step.slug


def python(step: Step) -> str:
    return str(path(step) / "bin" / "python")


def ensure(step: Step) -> str:
    """Create or refresh the step's venv when its requirements changed; return its python."""
    venv = path(step)
    stamp = venv / ".requirements-sha256"
    wanted = _fingerprint(step)
    if stamp.exists() and stamp.read_text() == wanted and Path(python(step)).exists():
        return python(step)
    print(f"[venv] installing {step.slug} requirements into {venv}", flush=True)
    if venv.exists():
        shutil.rmtree(venv)
    requirements = str(step.path / "requirements-test.txt")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    # Never let uv download an interpreter: build on the one running the harness.
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    base_python = getattr(sys, "_base_executable", sys.executable)
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", base_python, str(venv)], check=True, env=env)
        subprocess.run(
            [uv, "pip", "install", "-q", *UV_OPTIONS, "--python", python(step), "-r", requirements],
            check=True,
            env=env,
        )
    else:
        subprocess.run([base_python, "-m", "venv", str(venv)], check=True)
        subprocess.run([python(step), "-m", "pip", "install", "-q", "-r", requirements], check=True)
    stamp.write_text(wanted)
    return python(step)
