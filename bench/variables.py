"""Every environment variable the harness reads, in one place: its name, what it does
and its default. The commands read them through ``text``, ``number`` and ``flag`` only;
README.md lists them, as ``VARIABLES`` does (tests/bench/test_variables.py holds it there).

Standard library only: ``bench/steps.py`` reads ``CRM_STEP_DIR`` through it inside a
step's Docker image too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    name: str
    means: str
    default: str = ""


VARIABLES = {
    variable.name: variable
    for variable in [
        # Where the harness keeps its own things, and the servers it uses.
        Variable("CRM_CACHE_DIR", "venvs, embedded servers, logs and reports", ".cache"),
        Variable("CRM_PG_PORT", "the embedded PostgreSQL's preferred port", "55432"),
        Variable("CRM_REDIS_PORT", "the embedded Redis's preferred port", "56379"),
        Variable("CRM_PGBOUNCER_PORT", "PgBouncer's preferred port", "56432"),
        Variable("CRM_PGBOUNCER_REPLICA_PORT", "the replica's PgBouncer's preferred port", "56433"),
        Variable("CRM_REPLICA_PORT", "the embedded read replica's preferred port", "55433"),
        Variable("CRM_BALANCER_PORT", "the load balancer's (HAProxy's) preferred port", "58080"),
        Variable("CRM_PG_DURABLE", "the embedded PostgreSQL syncs to disk (the tests set 0)", "1"),
        Variable("DATABASE_URL", "your own PostgreSQL instead of the embedded one"),
        Variable("REDIS_URL", "your own Redis instead of the embedded one"),
        Variable(
            "REPLICA_URL",
            "your own streaming replica of DATABASE_URL, for a step that reads from one",
        ),
        Variable("CRM_STEP_DIR", "the one step folder the step suites judge (make check)"),
        # What a command runs on.
        Variable("STEPS", "which steps: 1,3 or all", "all"),
        Variable("CUSTOMERS", "customers in the data set (each command has its own default)"),
        Variable("SEED", "the data set's random seed (bench/database.py has the default)"),
        Variable("INTO_STEP", "make seed: seed this step's own database in place"),
        Variable("SCENARIOS", "which k6 scenarios (make bench, make measure)"),
        Variable("SCENARIO", "the one scenario make profile samples", "search"),
        Variable("SIZES", "make bench-scale's data-set sizes: 10k,1M"),
        Variable("FAULTS", "make test-faults' faults: outage,killed,redis-down,…"),
        # How long and how hard.
        Variable("DURATION", "seconds per scenario (make bench and bench-full set their own)", "5"),
        Variable("WARMUP", "seconds of warm-up before a step's scenarios", "3"),
        Variable("VUS", "closed-model virtual users", "8"),
        Variable("RATE", "mixed-open arrivals per second", "20"),
        Variable("MAX_VUS", "the most virtual users the open model may start", "64"),
        Variable("REPEATS", "runs of every scenario, the steps taking turns", "1"),
        Variable("SPREAD", "no more repeats of a scenario whose runs agree this closely", "0"),
        Variable("CEILING", "measure the ceiling beside the steps", "1"),
        Variable("CONTROLS", "measure the steps' controls beside them (bench-full does)", "0"),
        Variable(
            "DETAILS", "deep pages, thread hops, micro-benchmarks, test times, roads not taken", "1"
        ),
        Variable("FRESH", "start a resumable run over", "0"),
        Variable("OUTAGE", "seconds each fault of make test-faults lasts", "10"),
        # The workshop and the other commands.
        Variable("PORT", "make serve's port", "8000"),
        Variable("WORKSHOP", "serve, measure or explain your exercise copy", "0"),
        Variable("RESET", "make exercise: copy the step before again", "0"),
        Variable("SOLUTION", "make check: judge the step's own code", "0"),
        Variable("BASE_URL", "make measure: the server to measure", "http://127.0.0.1:8000"),
        Variable("RESULTS", "make report: a run's name (latest, published) or file", "latest"),
        # Passed on to a step's server.
        Variable("DEBUG", "Django's DEBUG for the steps the harness serves", "false"),
        Variable("ALLOWED_HOSTS", "the steps' ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]"),
        Variable("DB_POOL_MAX_SIZE", "each worker's pool; the harness sizes it otherwise"),
        Variable("INSTANCES", "app instances behind the load balancer (step 10 on; step.toml's)"),
        Variable(
            "FLEET_SIZES", "instance counts of make bench's connection figures (step 10)", "1,2,4,8"
        ),
    ]
}


def given(name: str, env: Mapping[str, str] | None = None) -> str:
    """What the environment says, stripped; empty when it says nothing."""
    if name not in VARIABLES:
        raise KeyError(f"{name} is not a variable the harness reads (bench/variables.py)")
    return (os.environ if env is None else env).get(name, "").strip()


def prefer(name: str, value: str) -> None:
    """Set ``name`` for this process and its children unless the environment says
    otherwise: a command whose default differs from the harness's (make test's
    server that does not sync to disk)."""
    if not given(name):
        os.environ[name] = value


def text(name: str, env: Mapping[str, str] | None = None) -> str:
    return given(name, env) or VARIABLES[name].default


def number(name: str, env: Mapping[str, str] | None = None, kind: type = float) -> float:
    """A number greater than 0; a clear error naming the variable otherwise."""
    raw = text(name, env).removesuffix("s")
    try:
        value = kind(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SystemExit(f"{name} must be more than 0, got {raw!r}")
    return value


def share(name: str, env: Mapping[str, str] | None = None) -> float:
    """A share from 0 to 1; a clear error naming the variable otherwise."""
    raw = text(name, env)
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number from 0 to 1, got {raw!r}") from None
    if not 0 <= value <= 1:
        raise SystemExit(f"{name} must be from 0 to 1, got {raw!r}")
    return value


def flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    return text(name, env).lower() not in {"", "0", "false", "no", "off"}
