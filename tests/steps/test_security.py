"""Every step deployed: `check --deploy` passes, and the development key is refused.

A deployment here means DEBUG off, a secret of its own from the environment, its own
host names and no CRM_LOCAL: what config/settings.py calls DEPLOYED.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from bench import services, steps, venvs

ALL = steps.discover()
DEPLOYMENT = {"DEBUG": "false", "ALLOWED_HOSTS": "api.example.com", "CRM_LOCAL": "0"}


@pytest.fixture
def manage(servers: services.Services):
    """Run a step's manage.py as a deployment would: with a database to reach.

    From step 06 on, `check` asks the server its version: Django checks a GeneratedField
    against every configured database, so a deploy check without one fails for a reason
    that is not the settings'.
    """

    def run(step: steps.Step, *args: str, **env: str) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", *DEPLOYMENT}}
        return subprocess.run(
            [venvs.ensure(step), "manage.py", *args],
            cwd=step.path,
            env={**clean, "DATABASE_URL": servers.database_url, **env},
            capture_output=True,
            text=True,
        )

    return run


@pytest.mark.parametrize("step", ALL, ids=[s.slug for s in ALL])
def test_the_deploy_check_passes_for_a_deployment(manage, step: steps.Step):
    done = manage(
        step,
        *("check", "--deploy", "--fail-level", "WARNING"),
        **DEPLOYMENT,
        SECRET_KEY=secrets.token_urlsafe(50),
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("step", ALL, ids=[s.slug for s in ALL])
def test_a_deployment_refuses_to_start_with_the_development_key(manage, step: steps.Step):
    done = manage(step, "check", **DEPLOYMENT)
    assert done.returncode != 0
    assert "SECRET_KEY is the development key" in done.stderr


@pytest.mark.parametrize("step", ALL, ids=[s.slug for s in ALL])
@pytest.mark.parametrize("mode", [{"CRM_LOCAL": "1"}, {"DEBUG": "true"}], ids=["local", "debug"])
def test_a_developers_machine_runs_with_the_development_key(manage, step: steps.Step, mode: dict):
    done = manage(step, "check", **{**DEPLOYMENT, **mode})
    assert done.returncode == 0, done.stdout + done.stderr
