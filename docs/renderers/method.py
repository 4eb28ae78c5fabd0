"""The methodology and results pages: the machine, the presets and what each took, the
charts, the terminal table and the data set.
"""

from __future__ import annotations

from bench import database, report, results, variables, workload
from bench.tables import Column, markdown
from renderers.common import (
    STATE,
    fmt_duration,
    fmt_errors,
    fmt_span,
    link,
    made_at,
    measured,
    note,
    optional_result,
    runs,
    share,
    step_of,
)
from renderers.numbers import render_numbers
from renderers.plans import command_of

CHART_TITLES = {
    "requests-per-second": "Requests per second per scenario and step",
    "p95-latency": "95th percentile latency per scenario and step",
    "queries-per-request": "SQL queries per request per scenario and step",
    "deep-pages": "What page 50 costs against page 1, per ordering and step",
    "ladder": "Requests per second of list, search and detail, from the first step to the last",
}


def render_chart(name: str, src_uri: str) -> str:
    if name not in CHART_TITLES:
        raise KeyError(f"no chart {name}; charts: {', '.join(CHART_TITLES)}")
    return f"![{CHART_TITLES[name]}]({link(src_uri, f'media/{name}.svg')}){{ .chart }}"


def render_step_chart(arg: str, src_uri: str) -> str:
    """``{{ step_chart 05-keyset }}``: the step's throughput beside the step before's
    (bench/report.py step_chart), drawn from the published run; ``{{ step_chart
    03-select-related queries }}``: its queries per request, where they changed."""
    slug, *what = arg.split()
    number = step_of(slug).number
    # The chart is drawn from the published run: none for a step it does not hold.
    measured(slug)
    before = f" and step {number - 1:02d}" if number > 1 else ""
    if what == ["queries"]:
        alt, name = "SQL queries per request per scenario", f"{slug}{report.QUERIES.suffix}"
    elif not what:
        alt, name = "Requests per second per scenario", slug
    else:
        raise KeyError(f"step_chart {arg}: a slug, then nothing or 'queries'")
    target = link(src_uri, f"media/{report.STEP_CHARTS}/{name}.svg")
    return f"![{alt}, step {number:02d}{before}]({target}){{ .chart }}"


def render_machine(_: str | None, src_uri: str) -> str:
    result = STATE["result"]
    machine, versions = result["machine"], result["versions"]
    k6, run = result["k6"], result["run"]
    where = "embedded" if result["postgresql"]["embedded"] else "external"
    rows = [
        ["CPU", f"{machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']:g} GB RAM"],
        ["OS", machine["os"]],
        ["Python", versions["python"]],
        ["PostgreSQL", f"{versions['postgresql']} ({where})"],
        ["k6", versions["k6"]],
        ["data", f"{result['dataset']['customers']:,} customers, seed {result['dataset']['seed']}"],
        [
            "closed model",
            f"{k6['vus']} virtual users, {k6['duration_s']:g} s per scenario after a"
            f" {k6['warmup_s']:g} s warm-up",
        ],
        [
            "open model",
            f"{k6['open_rate']:g} arrivals/s of `mixed`, at most {k6['max_vus']} virtual users",
        ],
        [
            "run",
            f"`{run['id']}`, revision `{run['git_revision'][:7]}`, {run['wall_time_s']:g} s in all",
        ],
    ]
    settings = result["postgresql"]["settings"]
    pg = [[f"`{name}`", f"`{value}`"] for name, value in sorted(settings.items())]
    return (
        markdown([Column(""), Column("")], rows)
        + "\n\nPostgreSQL settings in force:\n\n"
        + markdown([Column("setting"), Column("value")], pg)
    )


def render_results(_: str | None, src_uri: str) -> str:
    parts = []
    for step in STATE["result"]["steps"]:
        target = link(src_uri, f"steps/{step['slug']}.md")
        parts.append(f"## [{step['slug']}]({target})\n")
        parts.append(
            (
                f"{step['instances']} instances of one `{step['server']}` worker behind HAProxy; "
                if step.get("instances")
                else f"`{step['server']}`, {step['workers']} workers; "
            )
            + ", ".join(f"{name} {version}" for name, version in step["packages"].items())
            + "\n"
        )
        parts.append(render_numbers(step["slug"], src_uri))
        micro = step["microbenchmarks"]
        if micro:
            parts.append("\nMicro-benchmarks (pytest-benchmark):\n")
            columns = [Column("benchmark")]
            columns += [Column(t, ">") for t in ("mean ms", "median ms", "rounds")]
            rows = [
                [
                    f"`{b['name']}`",
                    f"{b['mean_s'] * 1000:,.3f}",
                    f"{b['median_s'] * 1000:,.3f}",
                    str(b["rounds"]),
                ]
                for b in micro
            ]
            parts.append(markdown(columns, rows))
        parts.append("")
    return "\n".join(parts)


def render_table(_: str | None, src_uri: str) -> str:
    return "```text\n" + report.table(STATE["result"]) + "```"


def render_default_customers(_: str | None, src_uri: str) -> str:
    return f"{database.DEFAULT_CUSTOMERS:,}"


PRESET_TARGETS = {"quick": "make bench", "publication": "make bench-full"}


def preset_run(name: str) -> dict | None:
    """The newest committed run of every step with a preset's data and settings."""
    from bench import run

    preset = run.PRESETS[name]
    every = {step.slug for step in STATE["steps"]}
    return results.newest(
        lambda candidate: (
            candidate["dataset"]["customers"] == int(preset["CUSTOMERS"])
            and candidate["k6"]["duration_s"] == float(preset["DURATION"])
            and candidate["k6"].get("repeats", 1) == int(preset["REPEATS"])
            and candidate["k6"].get("spread", 0) == float(preset.get("SPREAD", "0"))
            and {step["slug"] for step in candidate["steps"]} == every
        )
    )


def repeats_of(preset: dict[str, str]) -> str:
    spread = float(preset.get("SPREAD", "0"))
    if not spread:
        return preset["REPEATS"]
    return f"up to {preset['REPEATS']}, fewer where two agree within {spread:.0%}"


def render_presets(_: str | None, src_uri: str) -> str:
    """The two presets of bench/run.py, as the Makefile runs them, and what each took."""
    from bench import run

    columns = [
        Column("command"),
        Column("data", ">"),
        Column("per scenario", ">"),
        Column("repeats", ">"),
        Column("extras"),
        Column("writes"),
        Column("took here", ">"),
    ]
    rows, spent = [], []
    for name, target in PRESET_TARGETS.items():
        preset = run.PRESETS[name]
        extras = (
            "deep pages, thread hops, micro-benchmarks, test times; full text's roads not"
            " taken and django-ninja's cursor on the first step that takes the road"
            if variables.flag("DETAILS", preset)
            else "—"
        )
        writes = "`latest`" + (" and `published`" if name == "publication" else "")
        last = preset_run(name)
        took = (
            f"{fmt_duration(last['run']['wall_time_s'])} (`{last['run']['id']}`)"
            if last
            else "not measured with these settings"
        )
        rows.append(
            [
                f"`{target}`",
                f"{int(preset['CUSTOMERS']):,} customers",
                f"{preset['DURATION']} s after a {preset['WARMUP']} s warm-up",
                repeats_of(preset),
                extras,
                writes,
                took,
            ]
        )
        if last and "spent_s" in last["run"]:
            kinds = ", ".join(
                f"{SPENT_ON[kind]} {fmt_duration(seconds)}"
                for kind, seconds in last["run"]["spent_s"].items()
            )
            spent.append(f"`{target}` (`{last['run']['id']}`): {kinds}.")
    caption = "*Took here: the newest committed run of each preset.*"
    if spent:
        caption += "\n\nWhere that time went: " + " ".join(spent)
    return markdown(columns, rows) + "\n\n" + caption


# The kinds of work bench/progress.py's Progress times (run.spent_s of a result file).
SPENT_ON = {
    "seed": "seeding",
    "prepare": "preparing the steps' databases",
    "boot": "starting servers",
    "k6": "k6 warm-ups and scenarios",
    "probe": "the untimed pass",
}


def render_wall_time(_: str | None, src_uri: str) -> str:
    return fmt_duration(STATE["result"]["run"]["wall_time_s"])


def render_data(name: str, src_uri: str) -> str:
    """A fact about the seeded rows, from the result file's ``dataset.distribution``."""
    shape = STATE["result"]["dataset"]["distribution"]
    if shape is None:
        raise ValueError("the published run has no dataset distribution: run `make bench-full`")
    value = shape[name]
    if isinstance(value, dict):
        return ", ".join(f"`{key}` {share(part)}" for key, part in value.items())
    if name == "customers_per_address":
        return f"{value:.1f}"
    return share(value)


def render_cores(_: str | None, src_uri: str) -> str:
    return str(STATE["result"]["machine"]["cores"])


def render_duration(_: str | None, src_uri: str) -> str:
    return f"{STATE['result']['k6']['duration_s']:g} s"


def render_repeats(_: str | None, src_uri: str) -> str:
    result = STATE["result"]
    if result["k6"]["repeats"] == 1:
        return "once"
    spread = result["k6"].get("spread")
    stop = f", stopping once a scenario's runs agreed within {spread:.0%}" if spread else ""
    return f"{runs(result)} times{stop}"


def widest(result: dict) -> tuple[dict, str, dict]:
    """The step, scenario name and scenario of the run whose repeats differ most in
    req/s, highest over lowest: how far identical runs can drift on the machine."""
    cells = [
        (step, name, scenario)
        for step in result["steps"]
        for name, scenario in step["scenarios"].items()
        if scenario["model"] == "closed" and len(scenario["repeats"]) > 1
    ]

    def ratio(cell: tuple[dict, str, dict]) -> float:
        low, high = report.spread(cell[2])
        return high / low

    return max(cells, key=ratio)


def render_widest_range(_: str | None, src_uri: str) -> str:
    step, name, scenario = widest(STATE["result"])
    return f"`{name}` on {step['slug']}, {fmt_span(scenario)} req/s"


def render_spread_check(_: str | None, src_uri: str) -> str:
    """What stopping at SPREAD would have changed, read off a run that ran every repeat:
    how many scenarios' first two runs agreed, and how far their third moved the median."""
    import statistics

    from bench import run

    given = run.PRESETS["publication"]["SPREAD"]
    limit = float(given)
    rule = (
        f"Every scenario runs twice on every step, the steps taking turns, and a third time"
        f" only where those two differ by more than {limit:.0%} in req/s or in p95"
        f" (`SPREAD={given}`; `SPREAD=0` runs every repeat)."
    )
    result = STATE["result"]
    owners = [*result["steps"], *([result["ceiling"]] if result.get("ceiling") else [])]
    cells = [
        scenario["repeats"]
        for owner in owners
        for scenario in owner["scenarios"].values()
        if len(scenario["repeats"]) >= 3
        and all(r["latency_ms"]["p95"] is not None for r in scenario["repeats"])
    ]
    if result["k6"].get("spread") or not cells:
        return rule
    agreed = [repeats for repeats in cells if workload.spread(repeats[:2]) <= limit]

    def moved(stat) -> float:
        """The most a third run moved the median of ``stat`` among those that agreed."""
        changes = [
            abs(statistics.median(all_three) - statistics.median(all_three[:2]))
            / statistics.median(all_three)
            for all_three in ([stat(r) for r in repeats[:3]] for repeats in agreed)
            if statistics.median(all_three)
        ]
        return max(changes, default=0.0)

    rps = moved(lambda r: r["requests_per_second"])
    p95 = moved(lambda r: r["latency_ms"]["p95"])
    return rule + (
        f" In the run behind these pages, which ran every repeat, the first two runs agreed"
        f" within {limit:.0%} for {len(agreed)} of its {len(cells)} pairs of step and"
        f" scenario; for those the third run moved the median req/s by {rps:.1%} at most"
        f" and the median p95 by {p95:.1%}."
    )


def render_settle(_: str | None, src_uri: str) -> str:
    from bench import workload

    quiet_s = (workload.SETTLE_QUIET_SAMPLES - 1) * workload.SETTLE_INTERVAL_S
    return f"{quiet_s:g} s ({workload.SETTLE_QUIET_SAMPLES} samples in a row)"


ERROR_NAMES = {
    "unavailable": "503",
    "server_errors": "other 5xx",
    "unanswered": "no answer",
}


def render_open_errors(scenario: str | None, src_uri: str) -> str:
    """``{{ open_errors }}``: the steps whose open-model blend failed requests in the
    published run, and what those errors were in the newest run that kept their kinds
    (``results.errors_told``)."""
    name = scenario or workload.OPEN
    published = STATE["result"]
    found = results.errors_told(published, name)
    if found is None:
        return note("Not measured", f"No committed run kept what {name}'s errors were.")
    told = {step["slug"]: step["scenarios"].get(name) for step in found["steps"]}
    columns = [Column("step"), Column("errors, published", ">"), Column("errors", ">")]
    columns += [Column(title, ">") for title in ERROR_NAMES.values()]
    columns += [Column("p50 ms", ">"), Column("dropped", ">")]
    rows = []
    for step in published["steps"]:
        mine, there = step["scenarios"].get(name), told.get(step["slug"])
        if not there or not ((mine and mine["errors"]) or there["errors"]):
            continue
        kinds = there.get("error_kinds") or {}
        rows.append(
            [
                step["slug"],
                fmt_errors(mine["error_rate"]) if mine else "—",
                f"{there['errors']:,} of {there['requests']:,}",
                *(f"{kinds.get(kind, 0):,}" for kind in ERROR_NAMES),
                f"{there['latency_ms']['p50']:,.0f}",
                f"{there['dropped_iterations']:,}",
            ]
        )
    k6 = found["k6"]
    caption = (
        f"*`{name}` at {k6['open_rate']:g} arrivals/s. The published run's error rate,"
        f" then run `{found['run']['id']}` on the same {found['dataset']['customers']:,}"
        f" customers, {runs(found)} run(s) of {k6['duration_s']:g} s summed: its errors and"
        " what each was, its p50 and the arrivals k6 could not start (dropped). Made by"
        f" `{command_of(found)}` at {made_at(found['run'])}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def render_wal_cost(_: str | None, src_uri: str) -> str:
    """``make measure-wal``: the seeder and ``write`` under minimal and replica WAL."""
    from bench import wal

    found = optional_result(wal.RESULT)
    if found is None:
        return note("Not measured yet: `make measure-wal` writes `docs/results/wal.json`.")

    def spread(figure: tuple[float, float, float], shown) -> str:
        middle, low, high = (shown(value) for value in figure)
        return middle + (f" ({low} to {high})" if low != high else "")

    columns = [
        Column("wal_level"),
        Column("seeding", ">"),
        Column("WAL it wrote", ">"),
        Column(f"`{found['scenario']}`, req/s", ">"),
    ]
    rows = [
        [
            f"`{level}`",
            spread(figures["seed_s"], lambda value: f"{value:.1f} s"),
            spread(figures["seed_wal_bytes"], lambda value: f"{value / 1e6:,.0f} MB"),
            spread(figures["write_rps"], lambda value: f"{value:,.1f}"),
        ]
        for level, figures in wal.summary(found).items()
    ]
    rounds = len(found["rounds"]) // len(wal.LEVELS)
    caption = (
        f"*{found['customers']:,} customers seeded, then `{found['scenario']}` for"
        f" {found['duration_s']:g} s under {found['vus']} clients on {found['step']}: the"
        f" median of {rounds} rounds and their range, the two levels taking turns on one"
        f" server restarted between them. Made by `{found['command']}` at {made_at(found)}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


RENDERERS = {
    "chart": render_chart,
    "open_errors": render_open_errors,
    "cores": render_cores,
    "data": render_data,
    "default_customers": render_default_customers,
    "duration": render_duration,
    "machine": render_machine,
    "presets": render_presets,
    "repeats": render_repeats,
    "results": render_results,
    "settle": render_settle,
    "spread_check": render_spread_check,
    "step_chart": render_step_chart,
    "table": render_table,
    "wal_cost": render_wal_cost,
    "wall_time": render_wall_time,
    "widest_range": render_widest_range,
}
