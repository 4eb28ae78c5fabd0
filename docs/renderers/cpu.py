"""Where a request's CPU went: the app, PostgreSQL, Redis and k6 (bench/cpu.py), per
scenario, for a step and the one before it."""

from __future__ import annotations

from bench import cpu, results
from bench.tables import Column, markdown
from renderers.common import STATE, fmt_number, made_at, note, runs, step_of
from renderers.plans import command_of

NAMES = {
    "app": "app",
    "postgresql": "PostgreSQL",
    "redis": "Redis",
    "proxies": "proxies",
    "k6": "k6",
}


def parts_of(shown: list[dict]) -> list[str]:
    """The processes read for the steps shown: the proxies only where one of them ran
    behind them."""
    read = {
        part
        for step in shown
        for scenario in step["scenarios"].values()
        for part, value in (scenario.get("cpu_ms_per_request") or {}).items()
        if value is not None
    }
    return [part for part in cpu.PARTS if part not in ("proxies", "replica") or part in read]


def spent(scenario: dict) -> dict | None:
    found = scenario.get("cpu_ms_per_request") or {}
    return found if found.get("app") is not None else None


def cpu_run(slug: str) -> dict | None:
    """The newest committed run on the published data set that read where the CPU of
    ``slug`` and of the step before it went."""
    return results.cpu_read(STATE["result"], step_of(slug).number)


def pair_of(slug: str) -> tuple[dict, list[dict]]:
    found = cpu_run(slug)
    if found is None:
        raise ValueError(f"no committed run read where {slug}'s CPU went")
    number = step_of(slug).number
    return found, results.pair(found, number)


def total(figures: dict) -> float:
    return sum(value for value in figures.values() if value is not None)


def render_cpu(slug: str, src_uri: str) -> str:
    """``{{ cpu 09-filter-plans }}``: each scenario's throughput and the milliseconds of
    CPU each process spent per request, on the step before and on this one."""
    found = cpu_run(slug)
    if found is None:
        return note("Not measured", f"No committed run read where {slug}'s CPU went.")
    _, pair = pair_of(slug)
    columns = [Column("scenario"), Column("step"), Column("req/s", ">"), Column("hits", ">")]
    parts = parts_of(pair)
    columns += [Column(f"{NAMES[part]} ms", ">") for part in parts]
    columns += [Column("cores busy", ">")]
    rows = []
    for name in found["k6"]["scenarios"]:
        for step in pair:
            scenario = step["scenarios"].get(name)
            if scenario is None or (figures := spent(scenario)) is None:
                continue
            hits = scenario.get("cache_hit_ratio")
            rps = scenario["requests_per_second"]
            rows.append(
                [
                    name,
                    step["slug"][:2],
                    fmt_number(rps),
                    "—" if hits is None else f"{hits:.0%}",
                    *(fmt_number(figures.get(part), 2) for part in parts),
                    fmt_number(total(figures) * rps / 1000, 2),
                ]
            )
    caption = (
        "*Milliseconds of CPU, user and system, that each process tree spent per request"
        " while the scenario ran: the step's server (every worker, or every instance),"
        " PostgreSQL (every backend), Redis, HAProxy and PgBouncer where a step runs"
        " behind them (*proxies*), and the load generator, read from the kernel's accounting"
        " (`bench/cpu.py`); *cores busy* is their sum times the requests per second, out of"
        f" {found['machine']['cores']}. {found['dataset']['customers']:,} customers,"
        f" {found['k6']['vus']} virtual users for {found['k6']['duration_s']:g} s per"
        f" scenario, the median of {runs(found)} run(s). Made by `{command_of(found)}`:"
        f" run `{found['run']['id']}` at {made_at(found['run'])}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def render_cpu_split(arg: str, src_uri: str) -> str:
    """``{{ cpu_split 09-filter-plans 08-optimized filter }}``: where one scenario's CPU
    per request went on one step of the page's run (``cpu_run``), in words."""
    slug, shown, name = arg.split()
    _, pair = pair_of(slug)
    (step,) = [step for step in pair if step["slug"] == shown]
    figures = spent(step["scenarios"][name])
    if figures is None:
        raise ValueError(f"{shown} {name} has no CPU figures in that run")
    return (
        f"{fmt_number(figures['app'], 1)} ms of CPU in the app and"
        f" {fmt_number(figures['postgresql'], 1)} ms in PostgreSQL"
    )


def render_cpu_proxies(arg: str, src_uri: str) -> str:
    """``{{ cpu_proxies 10-scale-out mixed }}``: what HAProxy and PgBouncer cost one
    request of a scenario, and their share of all the CPU it cost but k6's."""
    slug, name = arg.split()
    _, pair = pair_of(slug)
    (step,) = [step for step in pair if step["slug"] == slug]
    figures = spent(step["scenarios"][name])
    if figures is None or figures.get("proxies") is None:
        raise ValueError(f"{slug} {name} has no CPU figures of HAProxy and PgBouncer")
    served = total({part: value for part, value in figures.items() if part != "k6"})
    return (
        f"{fmt_number(figures['proxies'], 2)} ms in HAProxy and PgBouncer,"
        f" {figures['proxies'] / served:.0%} of what the request cost the servers"
    )


def render_cpu_gain(arg: str, src_uri: str) -> str:
    """``{{ cpu_gain 09-filter-plans filter }}``: the step's throughput over the step
    before's, in the page's run that read the CPU."""
    slug, name = arg.split()
    _, (before, after) = pair_of(slug)
    gain = (
        after["scenarios"][name]["requests_per_second"]
        / before["scenarios"][name]["requests_per_second"]
    )
    return f"{gain:.1f}\N{MULTIPLICATION SIGN}"


def render_cpu_bound(arg: str, src_uri: str) -> str:
    """``{{ cpu_bound 09-filter-plans filter 5 }}``: ``times`` the step before's throughput
    in that run, and the CPU per request it would leave every process together, on the
    run's cores."""
    slug, name, times = arg.split()
    found, pair = pair_of(slug)
    wanted = pair[0]["scenarios"][name]["requests_per_second"] * float(times)
    budget = found["machine"]["cores"] * 1000 / wanted
    return f"{fmt_number(wanted, 0)} req/s, or {fmt_number(budget, 1)} ms of CPU per request"


RENDERERS = {
    "cpu": render_cpu,
    "cpu_bound": render_cpu_bound,
    "cpu_gain": render_cpu_gain,
    "cpu_split": render_cpu_split,
    "cpu_proxies": render_cpu_proxies,
}
