"""Where the harness keeps things; one place so nothing hard-codes a path twice."""

from __future__ import annotations

from pathlib import Path

from bench import variables

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = (ROOT / variables.text("CRM_CACHE_DIR")).resolve()
PG_DIR = CACHE_DIR / "postgres"
REDIS_DIR = CACHE_DIR / "redis"
VENVS_DIR = CACHE_DIR / "venvs"
SEED_DIR = CACHE_DIR / "seed"
STATE_FILE = CACHE_DIR / "services.json"
LOCK_FILE = CACHE_DIR / "services.lock"
# JUnit XML of every pytest run the harness starts (make test, make check).
REPORTS_DIR = CACHE_DIR / "reports"
