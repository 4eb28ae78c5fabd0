"""``make bench``: every step, the same data, the same k6 workload, one result file.

Per step: clone and migrate its database, start it as ``step.toml`` says, warm up, run
each scenario alone (closed model), then ``mixed`` at a fixed arrival rate (open model),
stop it. With ``REPEATS=n`` that round over the steps runs n times, one step after the
other each time, so that whatever drifts on the machine meets every step alike (with
``SPREAD``, a scenario whose runs agree stops early). After a step's last round comes
its untimed pass (bench/untimed.py). The k6 runs themselves are bench/workload.py's;
the progress line is bench/progress.py's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import (
    balancer,
    ceiling,
    controls,
    cpu,
    database,
    facts,
    fleets,
    journal,
    net,
    paths,
    pgbouncer,
    replica,
    report,
    results,
    serve,
    services,
    steps,
    variables,
)
from bench.progress import Progress, clock, per_piece_estimates
from bench.untimed import extras_of, untimed_pass
from bench.workload import (
    OPEN,
    SCENARIOS,
    BenchError,
    combined,
    k6,
    k6_version,
    measured,
    settle,
    spread,
)

# What `make bench` (quick) and `make bench-full` (the run the site shows) measure;
# any of these set in the environment wins over the preset.
PRESETS = {
    # The ladder's shape, once: every step and scenario, as short as stays readable,
    # inside ten minutes from a fresh clone (README.md, the bench budget).
    "quick": {
        "CUSTOMERS": "100000",
        "DURATION": "2",
        "WARMUP": "2",
        "REPEATS": "1",
        "DETAILS": "0",
    },
    # The published numbers: 1M customers, 8 s per scenario, 3 interleaved repeats; a
    # scenario whose first two agree within 20 % skips its third. With the controls and
    # the caching ceiling inside ninety minutes from a fresh clone (the bench-full
    # budget): at 10 s after a 5 s warm-up and 15 %, the run took about 110.
    "publication": {
        "CUSTOMERS": "1000000",
        "DURATION": "8",
        "WARMUP": "3",
        "REPEATS": "3",
        "SPREAD": "0.2",
        "DETAILS": "1",
        "CONTROLS": "1",
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
    # The steps' controls (bench/controls.py), each measured after the steps in a round.
    controls: bool = False
    # The untimed extras: deep pages, thread hops, micro-benchmarks, test times, full
    # text's roads not taken, django-ninja's cursor and every filter under every
    # ordering. The probe pass always runs: the table's queries per request.
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
            controls=variables.flag("CONTROLS", env),
            details=variables.flag("DETAILS", env),
        )

    def ceiling_scenarios(self) -> list[str]:
        """The scenarios both the steps and the ceiling run in this run."""
        return (
            [name for name in self.scenarios if name in ceiling.SCENARIOS] if self.ceiling else []
        )


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
    meter: cpu.Meter | None = None,
    observe=None,
) -> dict[str, dict]:
    """Warm the running server up, then run each scenario, letting the database settle;
    ``keep(name, measured)`` is told of each scenario as soon as it is measured, with the
    CPU its processes spent per request when a ``meter`` reads them, and what
    ``observe()`` (a context manager around each k6 run) found."""
    names = settings.scenarios if names is None else names
    meter = meter or cpu.Meter({})
    observe = observe or (lambda: contextlib.nullcontext({}))
    # Warm-up: connections opened, pools filled, caches and the ORM warmed.
    k6(base_url, terms_file, warmup, settings, settings.warmup_s)
    settle(url)
    progress.advance(settings.warmup_s, f"{where} warmed up")
    scenarios = {}
    for n, name in enumerate(names, 1):
        before = meter.read()
        with observe() as seen:
            summary = k6(base_url, terms_file, name, settings, settings.duration_s)
        # After the settle: the requests the server was still working through count.
        settle(url)
        scenarios[name] = {**measured(summary, settings.duration_s), **seen}
        scenarios[name]["cpu_ms_per_request"] = cpu.per_request(
            before, meter.read(), scenarios[name]["requests"]
        )
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


@contextlib.contextmanager
def servers_seen(step: steps.Step, url: str, duration_s: float) -> Iterator[dict]:
    """Around one scenario of a step behind PgBouncer: the queries per second PgBouncer
    passed on to the primary and, for a step that reads from a replica, to the replica
    (each pool's check of a connection it hands out included), and how far behind the
    replica was meanwhile. Nothing for a step without PgBouncer."""
    seen: dict = {}
    if "pgbouncer" not in step.services:
        yield seen
        return
    bouncers = {"primary": pgbouncer.ensure(url)}
    if "replica" in step.services:
        bouncers["replica"] = serve.read_replica(url)
    before = {server: pgbouncer.queries(bouncer) for server, bouncer in bouncers.items()}
    lag = replica.Lag(url) if "replica" in bouncers else None
    with lag or contextlib.nullcontext():
        yield seen
    seen["queries_per_second_by_server"] = {
        server: round((pgbouncer.queries(bouncer) - before[server]) / duration_s, 1)
        for server, bouncer in bouncers.items()
    }
    if lag is not None:
        seen["replica_lag_ms"] = lag.figures()


def step_entry(
    step: steps.Step, facts: dict, scenarios: dict, micro: list[dict], deep: dict | None
) -> dict:
    # A step behind a load balancer runs as instances of one worker each (serve.fleet).
    instances = serve.instance_count(step) if step.fleet else None
    return {
        "number": step.number,
        "slug": step.slug,
        "title": step.title,
        "server": step.server,
        "workers": instances or steps.workers(step.server),
        **({"instances": instances} if instances else {}),
        "command": steps.server_command(
            step, "python", net.HOST, "<port>", cores=1 if instances else None
        )[1:],
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
    control_entries: list[dict] | None = None,
    fleet_entry: dict | None = None,
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
        **({"controls": control_entries} if control_entries else {}),
        **({"fleets": fleet_entry} if fleet_entry else {}),
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
    # Each control built once a sitting, as a step the harness serves.
    built: dict[str, steps.Step] = field(default_factory=dict)

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
    def controls(self) -> list[controls.Control]:
        return controls.declared(self.selected) if self.settings.controls else []

    def base_of(self, owner: str) -> str:
        """The step whose database and scenarios ``owner`` shares."""
        if owner == "ceiling":
            return self.top.slug
        return next((c.step.slug for c in self.controls if c.slug == owner), owner)

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
        """Whether the scenario stopped repeating before ``repeat``: its runs so far, two
        or more and all measured, agree within SPREAD. Once settled, it stays so."""
        if not self.settings.spread or repeat < 3:
            return False
        if self.settled(owner, name, repeat - 1):
            return True
        before = [self.kept.cell(owner, name, earlier) for earlier in range(1, repeat)]
        return None not in before and spread(before) <= self.settings.spread

    @property
    def owners(self) -> list[str]:
        return (
            [step.slug for step in self.selected]
            + [control.slug for control in self.controls]
            + (["ceiling"] if self.ceiling_names else [])
        )

    def undecided(self, owner: str, name: str, repeat: int) -> bool:
        """A repeat that SPREAD may yet spare: not settled, and the ones before it are
        not all in."""
        if not self.settings.spread or repeat < 3 or self.settled(owner, name, repeat):
            return False
        return None in (self.kept.cell(owner, name, r) for r in range(1, repeat))

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
        busy = set()
        for owner in self.owners:
            for repeat in self.rounds:
                if names := self.todo(owner, repeat):
                    odds = [expected if self.undecided(owner, n, repeat) else 1.0 for n in names]
                    # The server starts and warms up if any of its scenarios runs.
                    started = 1 - math.prod(1 - odd for odd in odds)
                    boot += started
                    k6 += warmup * started + duration * sum(odds)
                    busy.add(self.base_of(owner))
        for step, *_ in self.fleet_todo():
            k6 += warmup + duration
            busy.add(step.slug)
        busy |= {step.slug for step in self.selected if not self.kept.step(step.slug)}
        return {
            "seed": 0 if self.seeded else 1,
            # A step with nothing left to measure or probe (a resumed run) is not prepared.
            "prepare": sum(s.slug in busy and s.slug not in self.urls for s in self.selected),
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
        """Every step in turn, then the controls, then the ceiling: each runs what is left
        of this round. In
        the last round a step's untimed pass follows its scenarios, so that the progress
        line has timed one long before the run's end."""
        again = f", repeat {repeat}/{self.settings.repeats}" if self.settings.repeats > 1 else ""
        for index, step in enumerate(self.selected, 1):
            if names := self.todo(step.slug, repeat):
                where = f"{step.slug} ({index}/{len(self.selected)}{again})"
                url = self.url_of(step)

                def server(log, started, step=step, url=url):
                    return serve.running(
                        step, url, self.found.redis_url, output=log, started=started
                    )

                self.measure(
                    server, step.slug, url, where, names, repeat,
                    redis="redis" in step.services, fleet=step.fleet,
                    replicated="replica" in step.services,
                    observe=lambda step=step, url=url: servers_seen(
                        step, url, self.settings.duration_s
                    ),
                )  # fmt: skip
            if repeat == self.settings.repeats:
                self.untimed(step, index)
        for control in self.controls:
            if names := self.todo(control.slug, repeat):
                where = f"{control.slug} (control{again})"
                url = self.url_of(control.step)
                served = self.built.setdefault(control.slug, controls.build(control))

                def server(log, started, control=control, served=served, url=url):
                    return serve.running(
                        served, url, self.found.redis_url, output=log, started=started,
                        settings=control.environment,
                    )  # fmt: skip

                self.measure(
                    server, control.slug, url, where, names, repeat,
                    redis="redis" in control.step.services,
                )  # fmt: skip
        if names := self.todo("ceiling", repeat):
            # The ceiling takes its turn in every round, after the steps, on the last
            # step's database: the same drift meets it.
            where = "ceiling" + (f" ({again.removeprefix(', ')})" if again else "")
            url = self.url_of(self.top)

            def server(log, started):
                return ceiling.running(
                    self.top, url, self.found.redis_url, output=log, started=started
                )

            cached = "redis" in self.top.services
            self.measure(server, "ceiling", url, where, names, repeat, ceiling.WARMUP, cached)

    @property
    def fleet_pair(self) -> tuple[steps.Step, steps.Step] | None:
        """The step before the first one served through PgBouncer, and that step, when
        this run measures what each holds as instances are added (the untimed extras)."""
        return fleets.pair(self.selected) if self.settings.details else None

    def fleet_cells(self) -> list[tuple[steps.Step, int, bool, int | None]]:
        """(step, instances, via PgBouncer, connection limit) for every fleet run: each
        size unlimited, then the most instances on a server allowing PgBouncer's pool."""
        if not (found := self.fleet_pair):
            return []
        sizes = fleets.sizes()
        limit = self.fleet_limit
        return [
            (step, instances, via, cap)
            for instances, cap in [*((size, None) for size in sizes), (sizes[-1], limit)]
            for step, via in zip(found, (False, True), strict=True)
        ]

    @functools.cached_property
    def fleet_limit(self) -> int:
        return fleets.limit_for(self.found.database_url)

    @staticmethod
    def fleet_owner(step: steps.Step, instances: int, limit: int | None = None) -> str:
        return f"fleet {step.slug} x{instances}" + (f" within {limit}" if limit else "")

    def fleet_todo(self) -> list[tuple[steps.Step, int, bool, int | None]]:
        return [
            (step, instances, via, limit)
            for step, instances, via, limit in self.fleet_cells()
            if self.kept.cell(self.fleet_owner(step, instances, limit), fleets.SCENARIO, 1) is None
        ]

    def measure_fleets(self) -> None:
        """Each fleet size, the step before with a pool per instance, then the step through
        PgBouncer, once each after the rounds (bench/fleets.py)."""
        cells = self.fleet_cells()
        for step, instances, via, limit in self.fleet_todo():
            self.progress.replan(self.plan())
            where = f"{step.slug} as {instances} instance(s)" + (" via PgBouncer" if via else "")
            where += f", PostgreSQL allowing {limit} connections" if limit else ""
            found = fleets.measure(
                step, self.url_of(step), self.found.redis_url, self.terms_file, self.settings,
                instances, via, limit,
            )  # fmt: skip
            owner = self.fleet_owner(step, instances, limit)
            self.kept.keep_cell(owner, fleets.SCENARIO, 1, found)
            done = len(cells) - len(self.fleet_todo())
            self.progress.advance(
                self.settings.warmup_s + self.settings.duration_s,
                f"{where} ({done}/{len(cells)}): {found['requests_per_second']:.1f} req/s,"
                f" PostgreSQL held {found['connections']['max']} connections,"
                f" errors {found['errors']}",
            )

    def fleet_result(self) -> dict | None:
        if not (cells := self.fleet_cells()):
            return None
        before, pooled = self.fleet_pair
        return {
            "step": before.slug,
            "pooled_step": pooled.slug,
            "scenario": fleets.SCENARIO,
            "vus_per_instance": self.settings.vus,
            # What each instance's pool may open: DB_POOL_MAX_SIZE reaches the instances.
            "pool_max_size": int(variables.given("DB_POOL_MAX_SIZE") or steps.POOL_MAX_SIZE),
            "runs": [
                self.kept.cell(self.fleet_owner(step, instances, limit), fleets.SCENARIO, 1)
                for step, instances, _, limit in cells
            ],
        }

    def measure(
        self,
        server,
        owner,
        url,
        where,
        names,
        repeat,
        warmup="mixed",
        redis=True,
        fleet=False,
        observe=None,
        replicated=False,
    ) -> None:
        """Start ``owner``'s server (``server(log)``, its output in .cache/logs/), then
        run ``names`` against it, keeping each scenario as it is measured. Redis's CPU is
        read only where ``owner`` uses it, the proxies' where it is a ``fleet``:
        otherwise each is another server idling."""
        logs = paths.CACHE_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # Each turn plans again: the repeats decided since drop out of the ETA.
        self.progress.replan(self.plan())
        app: list[int] = []
        roots = services.process_ids(self.found)
        if not redis:
            roots["redis"] = None
        meter = cpu.Meter(
            {
                "app": lambda: app,
                **{part: (lambda pid=pid: pid) for part, pid in roots.items()},
                # Only in front of and behind a fleet: PgBouncer stays up idle after one.
                "proxies": lambda: (
                    [
                        pid
                        for pid in (balancer.pid(), pgbouncer.pid(), pgbouncer.REPLICA.pid())
                        if pid
                    ]
                    if fleet
                    else None
                ),
                # Its own server, on the same cores: only where the step reads from it.
                "replica": lambda: replica.pid() if replicated else None,
            }
        )
        with (
            (logs / f"bench-{owner}.log").open("a") as log,
            server(log, lambda process: app.append(process.pid)) as base_url,
        ):
            self.progress.advance(1, f"{where} serving", kind="boot")
            scenario_runs(
                base_url, url, self.terms_file, self.settings, self.progress, where, names,
                warmup=warmup,
                keep=lambda name, m: self.kept.keep_cell(owner, name, repeat, m),
                meter=meter, observe=observe,
            )  # fmt: skip
        if replicated:
            # A running replica replays every database's WAL, the other steps' writes
            # too, on the same cores: it runs only while a step reads from it. Its slot
            # keeps what it misses, and it catches up before its step's next turn.
            replica.stop()

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
            # What the pass wrote (its probe customer; on a full-text step, a trigram
            # index built and rolled back) goes to disk before the next step is timed.
            database.checkpoint(url)
            settle(url)
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
                # A pass kept by a run resumed across this change has no counts.
                if entry.get("hops") is not None:
                    scenario["thread_hops"] = entry["hops"].get(name.removesuffix("-open"))
            found.append(
                {
                    **step_entry(step, entry["facts"], scenarios, entry["micro"], entry["deep"]),
                    "filtered_pages": entry["filtered"],
                    "filter_orderings": entry.get("orderings"),
                    "ninja_cursor": entry["ninja"],
                    "fulltext": entry["roads"],
                    "test_times": entry["timed"],
                    "storage": entry["storage"],
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
            # It caches where the step caches, in the same Redis (bench/ceiling/app.py).
            "cached": "redis" in self.top.services and self.found.redis_url is not None,
            "scenarios": self.scenarios_of("ceiling", self.ceiling_names),
        }

    def control_results(self) -> list[dict]:
        """Each control's scenarios, with what it changes and what it ran on."""
        found = []
        for control in self.controls:
            served = self.built.setdefault(control.slug, controls.build(control))
            known = facts.run(served, self.url_of(control.step), control.environment)
            found.append(
                {
                    "slug": control.slug,
                    "step": control.step.slug,
                    "title": control.title,
                    "isolates": control.isolates,
                    "server": control.server,
                    "workers": steps.workers(control.server),
                    "command": steps.server_command(served, "python", net.HOST, "<port>")[1:],
                    "environment": control.environment,
                    "packages": known["packages"],
                    "database": known["database"],
                    "scenarios": self.scenarios_of(control.slug, self.settings.scenarios),
                }
            )
        return found

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
            self.control_results(),
            self.fleet_result(),
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
    sitting.measure_fleets()
    path = results.write(sitting.result(), directory, publish=publish)
    sitting.kept.discard()
    print(f"[bench] time by kind: {sitting.progress.spending()}", flush=True)
    return path


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
    # Every repeat runs here: the file must not claim that SPREAD stopped one early.
    settings = replace(settings, spread=0.0)
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
        (owner["slug"], name)
        for owner in [*result["steps"], *result.get("controls", [])]
        for name, scenario in owner["scenarios"].items()
        if scenario["errors"]
    ]
    if failed:
        print(f"[bench] errors under load in: {failed}", flush=True)
    print(f"[bench] wall time {clock(result['run']['wall_time_s'])}")
