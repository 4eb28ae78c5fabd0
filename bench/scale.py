"""``make bench-scale``: how one request's cost grows with the table, step by step.

One virtual user, so that a figure is the latency of one request on an idle server and
not the wait in a queue: what a step costs per row, not what it carries. Each size is
seeded once, each step gets its migrated clone of it, and every step answers the same
scenarios. The result is ``docs/results/scale.json``; the "How cost grows" page and the
charts under ``media/scale/`` are drawn from it.

A size is written to the file as soon as it is measured, and a run started again with
the same settings skips the sizes already there (``FRESH=1`` starts over): 3M customers
take most of the run's time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
import urllib.request
from pathlib import Path

from bench import (
    database,
    paths,
    probe,
    report,
    results,
    run,
    serve,
    services,
    steps,
    variables,
    workload,
)
from bench.progress import Progress, clock

RESULT = results.RESULTS_DIR / "scale.json"
MEDIA = report.MEDIA_DIR / "scale"
SIZES = (10_000, 100_000, 1_000_000, 3_000_000)
# First pages, a deep page, a filter, both searches and a detail: the requests whose
# cost depends on the table's size, one way or the other.
SCENARIOS = ("list", "deep", "filter", "search", "search-broad", "detail")
PREFIX = "crm_scale"
DEFAULTS = {"DURATION": "5", "WARMUP": "2"}
# Version 2 keeps each step's plans.
VERSION = 2
# The scenarios whose page query the run EXPLAINs at every size, once the latencies
# are measured. A step's line that falls while the table grows, or jumps between two
# sizes, has a reason in its plan: whether PostgreSQL changed its plan with the size,
# and how many buffers the page read, are then in the file rather than guessed.
PLANNED = ("list", "deep", "search", "search-broad")


def sizes_from(raw: str | None) -> list[int]:
    """``SIZES=10k,100k,1M`` (or plain numbers), ascending and without repeats."""
    if not raw or not raw.strip():
        return list(SIZES)
    found = set()
    for part in raw.split(","):
        text = part.strip().lower().replace("_", "")
        factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
        try:
            size = int(float(text.rstrip("km")) * factor)
        except ValueError:
            raise SystemExit(f"SIZES: {part.strip()!r} is not a size (10k, 1M, 3000000)") from None
        if size < 1_000:
            raise SystemExit(f"SIZES: {part.strip()!r} is too small; at least 1k customers")
        found.add(size)
    return sorted(found)


def label(size: int) -> str:
    """10k, 100k, 1M, 3M: the axis and table label of a size."""
    if size >= 1_000_000 and size % 100_000 == 0:
        return f"{size / 1_000_000:g}M"
    return f"{size / 1_000:g}k"


def settings_from(env: dict[str, str]) -> run.Settings:
    """One VU, the scale scenarios; DURATION and WARMUP as for a bench run."""
    env = {**DEFAULTS, **{k: v for k, v in env.items() if v.strip()}}
    return dataclasses.replace(
        run.Settings.from_env({**env, "SCENARIOS": "", "VUS": "1"}),
        scenarios=list(SCENARIOS),
        ceiling=False,
        details=False,
    )


def next_link(url: str) -> str | None:
    with urllib.request.urlopen(url, timeout=workload.K6_GRACE_S) as response:
        return json.loads(response.read())["next"]


def deep_url(step: steps.Step, base_url: str) -> str:
    """The URL of page DEEP_PAGE of the default listing, as a client reaches it."""
    first = f"{base_url}{probe.LIST}"
    if step.pagination == "page":
        return f"{first}?page={probe.DEEP_PAGE}"
    url = first
    for _ in range(probe.DEEP_PAGE - 1):
        url = next_link(url)
        if url is None:
            raise workload.BenchError(f"{step.slug}: fewer than {probe.DEEP_PAGE} pages to walk")
    return url


def planned_requests(step: steps.Step, terms: dict) -> dict[str, str | dict]:
    """The probe's request of each PLANNED scenario: the probe's own list and search
    requests, and page DEEP_PAGE reached as ``deep`` reaches it."""
    asked = probe.scenario_requests(terms)
    deep = (
        f"{probe.LIST}?page={probe.DEEP_PAGE}"
        if step.pagination == "page"
        else {"walk": probe.LIST, "pages": probe.DEEP_PAGE - 1}
    )
    found = {"deep": deep} | {name: asked[name][0] for name in PLANNED if name != "deep"}
    return {name: found[name] for name in PLANNED}


def page_plans(step: steps.Step, database_url: str, terms: dict) -> dict[str, dict]:
    """``{scenario: {"plan", "buffers", "queries"}}``: the outline of the plan of the
    query that reads the page, the shared buffers of all the request's queries (on a
    cached step, a miss's), and how many queries it made. A walk keeps its last page."""
    wanted = planned_requests(step, terms)
    probed = probe.run(step, database_url, list(wanted.values()), analyze=True)
    last = {result["request"]: result for result in probed}
    found = {}
    for index, name in enumerate(wanted):
        request = last[index]
        if request["status"] != 200:
            raise workload.BenchError(f"{step.slug}: {request['path']}: {request['status']}")
        planned = [query["plan"] for query in request["queries"] if query["plan"] is not None]
        found[name] = {
            "plan": probe.outline(probe.page_query(request)["plan"]),
            "buffers": sum(probe.buffers(plan) for plan in planned),
            "queries": len(request["queries"]),
        }
    return found


def latency(measured: dict) -> dict:
    return {
        "requests": measured["requests"],
        "errors": measured["errors"],
        "p50_ms": measured["latency_ms"]["p50"],
        "p95_ms": measured["latency_ms"]["p95"],
        # A cached step's line is a hit's cost where this is near 1, not the database's.
        "cache_hit_ratio": measured.get("cache_hit_ratio"),
    }


def measure_size(
    customers: int,
    seed_value: int,
    selected: list[steps.Step],
    settings: run.Settings,
    prefix: str = PREFIX,
    log=print,
) -> dict:
    found = services.ensure(redis=any("redis" in step.services for step in selected))
    started = time.perf_counter()
    database.prepare_base(found.database_url, customers, seed_value, prefix, log)
    seeded_s = time.perf_counter() - started
    terms = database.terms_path(database.base_fingerprint(customers, seed_value))
    words = json.loads(terms.read_text())
    progress = Progress(
        {"k6": len(selected) * (settings.warmup_s + len(settings.scenarios) * settings.duration_s)}
    )
    measured, plans = {}, {}
    for index, step in enumerate(selected, 1):
        url = database.prepare_step(
            found.database_url, step, customers, seed_value, prefix, log=log
        )
        where = f"[scale] {label(customers)} {step.slug} ({index}/{len(selected)})"
        logs = paths.CACHE_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (
            (logs / f"scale-{step.slug}.log").open("a") as output,
            serve.running(step, url, found.redis_url, output=output) as base_url,
        ):
            own = dataclasses.replace(settings, deep_url=deep_url(step, base_url))
            runs = run.scenario_runs(base_url, url, terms, own, progress, where)
        measured[step.slug] = {name: latency(m) for name, m in runs.items()}
        log(f"{where}: the plans of {', '.join(PLANNED)}")
        plans[step.slug] = page_plans(step, url, words)
    return {
        "customers": customers,
        "label": label(customers),
        "prepare_s": round(seeded_s, 1),
        # The base, the migrated templates and every step's clone: what the size needs free.
        "disk_bytes": database.disk_used(found.database_url, prefix),
        "wall_time_s": round(time.perf_counter() - started, 1),
        "steps": measured,
        "plans": plans,
    }


def identity(selected: list[steps.Step], seed_value: int, settings: run.Settings) -> dict:
    return {
        "steps": [step.slug for step in selected],
        "seed": seed_value,
        "vus": settings.vus,
        "duration_s": settings.duration_s,
        "warmup_s": settings.warmup_s,
        "scenarios": settings.scenarios,
    }


def kept_sizes(path: Path, wanted: dict, fresh: bool) -> list[dict]:
    """The sizes an earlier run with the same settings already measured."""
    if fresh or not path.is_file():
        return []
    earlier = json.loads(path.read_text())
    if earlier.get("version") != VERSION or earlier.get("identity") != wanted:
        return []
    return earlier["sizes"]


def write(result: dict, path: Path = RESULT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return path


def scale(
    sizes: list[int],
    seed_value: int,
    selected: list[steps.Step],
    settings: run.Settings,
    path: Path = RESULT,
    fresh: bool = False,
    prefix: str = PREFIX,
) -> Path:
    wanted = identity(selected, seed_value, settings)
    done = kept_sizes(path, wanted, fresh)
    revision, dirty = results.git_revision()
    result = {
        "version": VERSION,
        "identity": wanted,
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": results.machine(),
        "git_revision": revision,
        "git_dirty": dirty,
        "sizes": done,
    }
    for size in sizes:
        if any(entry["customers"] == size for entry in done):
            print(f"[scale] {label(size)}: kept from the earlier run", flush=True)
            continue
        entry = measure_size(size, seed_value, selected, settings, prefix)
        result["sizes"] = sorted([*result["sizes"], entry], key=lambda e: e["customers"])
        write(result, path)
        print(f"[scale] {label(size)}: measured in {entry['wall_time_s']:.0f} s", flush=True)
        # The next size needs the disk more than this one's clones.
        dropped = database.drop_all(services.ensure().database_url, prefix)
        print(f"[scale] dropped {len(dropped)} database(s) of {label(size)}", flush=True)
    return path


def points(result: dict, slug: str, scenario: str, stat: str) -> list[tuple[int, float]]:
    """(customers, latency) of one step and scenario across the sizes measured."""
    found = []
    for entry in result["sizes"]:
        figure = entry["steps"].get(slug, {}).get(scenario, {}).get(stat)
        if figure:
            found.append((entry["customers"], figure))
    return found


def charts(result: dict, directory: Path = MEDIA, fmt: str = "svg") -> list[Path]:
    """One log-log chart per scenario: p50 latency against customers, a line per step."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "crm-bench"
    plt.rcParams["svg.fonttype"] = "none"
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    text = report.STEP_CHART_TEXT
    sizes = [entry["customers"] for entry in result["sizes"]]
    for scenario in result["identity"]["scenarios"]:
        fig, ax = plt.subplots(figsize=(report.STEP_CHART_WIDTH, 4.8))
        for slug in result["identity"]["steps"]:
            shown = points(result, slug, scenario, "p50_ms")
            if shown:
                ax.plot(*zip(*shown, strict=True), marker="o", label=slug)
        ax.set_xscale("log")
        ax.set_yscale("log")
        # The sizes measured, as the tables name them; plain numbers up the side.
        ax.set_xticks(sizes, [label(size) for size in sizes])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.yaxis.set_major_formatter(report.plain_numbers())
        ax.tick_params(labelsize=text)
        ax.set_xlabel("customers (log scale)", fontsize=text)
        ax.set_ylabel("p50 latency, ms (log scale)", fontsize=text)
        ax.set_title(f"{scenario}: one client's p50 against the table's size", fontsize=text)
        ax.grid(which="major", alpha=0.25)
        # Beside the axes: inside, the legend covered the lines it names.
        ax.legend(
            title="step", fontsize=text, title_fontsize=text, loc="center left",
            bbox_to_anchor=(1.01, 0.5),
        )  # fmt: skip
        fig.tight_layout()
        written.append(report.save(fig, directory / f"{scenario}.{fmt}", fmt))
    return written


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    selected = steps.select_many(variables.given("STEPS", env))
    sizes = sizes_from(variables.given("SIZES", env))
    settings = settings_from(env)
    seed_value = int(variables.given("SEED", env) or database.DEFAULT_SEED)
    print(
        f"[scale] {len(selected)} step(s) x {', '.join(label(s) for s in sizes)} customers;"
        f" {', '.join(settings.scenarios)}; 1 VU x {settings.duration_s:g} s each",
        flush=True,
    )
    started = time.perf_counter()
    path = scale(sizes, seed_value, selected, settings, fresh=variables.flag("FRESH", env))
    for chart in charts(json.loads(path.read_text())):
        print(f"[scale] chart: {chart}")
    print(f"[scale] results: {path}\n[scale] wall time {clock(time.perf_counter() - started)}")
    return 0
