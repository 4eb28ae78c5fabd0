"""Tables and charts from a result file: ``make report`` redraws them without a run."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from bench import paths
from bench.tables import Column, text_header, text_line

MEDIA_DIR = paths.ROOT / "media"
# (file, title, value of a scenario, axis label); every chart groups by scenario, one
# bar per step, in the result file's own step and scenario order.
CHARTS = [
    (
        "requests-per-second.svg",
        "Throughput per scenario (closed model; more is better)",
        # An open-model run's rate is the arrival rate it was given, not a measurement.
        lambda s: s["requests_per_second"] if s["model"] == "closed" else None,
        "requests per second",
    ),
    (
        "p95-latency.svg",
        "95th percentile latency per scenario (less is better)",
        lambda s: s["latency_ms"]["p95"],
        "p95 latency (ms)",
    ),
    (
        "queries-per-request.svg",
        "SQL queries per request (probe pass; less is better)",
        lambda s: s["queries_per_request"],
        "queries per request",
    ),
]
# A log axis once the largest bar is this many times the smallest, or small bars vanish.
LOG_SCALE_RATIO = 30


def scenario_names(result: dict) -> list[str]:
    names: list[str] = []
    for step in result["steps"]:
        names += [name for name in step["scenarios"] if name not in names]
    return names


def number(value: float | None, digits: int = 1, missing: str = "-") -> str:
    """A measured value as the table and the docs print it: thousands separated."""
    return missing if value is None else f"{value:,.{digits}f}"


def figure(run: dict, stat: str) -> float | None:
    """``rps`` or a latency (``p50``, ``p95``…) of a scenario or of one of its repeats."""
    return run["requests_per_second"] if stat == "rps" else run["latency_ms"][stat]


def spread(scenario: dict, stat: str = "rps") -> tuple[float, float]:
    """The lowest and highest value of ``stat`` over the scenario's repeats."""
    values = [v for v in (figure(run, stat) for run in scenario["repeats"]) if v is not None]
    return (min(values), max(values)) if values else (0.0, 0.0)


def within_noise(one: dict, other: dict, stat: str = "rps") -> bool:
    """Whether two scenarios' repeats overlap on ``stat``: then the difference between
    their medians is no larger than what the same step moves from run to run.

    Never for a single run of either: one run has no spread to compare against.
    """
    if len(one["repeats"]) < 2 or len(other["repeats"]) < 2:
        return False
    low, high = spread(one, stat)
    other_low, other_high = spread(other, stat)
    return low <= other_high and other_low <= high


def span(scenario: dict, stat: str = "rps", digits: int = 1) -> str:
    low, high = spread(scenario, stat)
    return f"{number(low, digits)}-{number(high, digits)}"


def ceiling_share(result: dict, step: dict, name: str) -> float | None:
    """A step's req/s on ``name`` over the ceiling's, measured in the same run."""
    top = (result.get("ceiling") or {}).get("scenarios", {}).get(name)
    mine = step["scenarios"].get(name)
    if not top or not mine or not top["requests_per_second"]:
        return None
    return mine["requests_per_second"] / top["requests_per_second"]


def table(result: dict) -> str:
    """The terminal table: one block per scenario, one row per step; with repeats, the
    medians and the range of req/s over the repeats."""
    repeated = result["k6"]["repeats"] > 1
    columns = [
        Column("scenario", width=12),
        Column("step", width=24),
        Column("req/s", ">", 9),
        *([Column("range", ">", 15)] if repeated else []),
        Column("p50 ms", ">", 9),
        Column("p95 ms", ">", 9),
        Column("p99 ms", ">", 9),
        Column("errors", ">", 7),
        Column("q/req", ">", 6),
    ]
    lines = text_header(columns)

    ceiling = result.get("ceiling") or {"scenarios": {}}
    for name in scenario_names(result):
        rows = [(step["slug"], step["scenarios"].get(name)) for step in result["steps"]]
        rows += [
            (f"{c['slug']} (control)", c["scenarios"].get(name)) for c in result.get("controls", [])
        ]
        rows.append(("ceiling (raw SQL)", ceiling["scenarios"].get(name)))
        for slug, found in rows:
            if found is None:
                continue
            latency = found["latency_ms"]
            cells = [
                name,
                slug,
                number(found["requests_per_second"]),
                *([span(found)] if repeated else []),
                *(number(latency[p]) for p in ("p50", "p95", "p99")),
                f"{found['error_rate']:.2%}",
                number(found["queries_per_request"]),
            ]
            lines.append(text_line(columns, cells))
        lines.append("")
    shares = [
        f"{name:<12} " + " ".join(f"{step['number']:02d} {share:>4.0%}" for step, share in found)
        for name in ceiling["scenarios"]
        if (
            found := [
                (step, share)
                for step in result["steps"]
                if (share := ceiling_share(result, step, name)) is not None
            ]
        )
    ]
    if shares:
        lines += ["req/s as a share of the ceiling (raw SQL, same run):", *shares]
    return "\n".join(lines).rstrip() + "\n"


def charts(result: dict, directory: Path = MEDIA_DIR, fmt: str = "svg") -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Byte-identical SVGs for identical results: no random ids, no timestamp.
    plt.rcParams["svg.hashsalt"] = "crm-bench"
    # Text stays text: searchable, selectable, and drawn in the reader's own fonts.
    plt.rcParams["svg.fonttype"] = "none"
    directory.mkdir(parents=True, exist_ok=True)
    names = scenario_names(result)
    steps = result["steps"]
    dataset = result["dataset"]
    subtitle = (
        f"{dataset['customers']:,} customers · {result['machine']['cores']} cores · "
        f"k6 {result['k6']['vus']} VUs x {result['k6']['duration_s']:g} s · "
        f"run {result['run']['id']}"
    )
    written = []
    for filename, title, pick, label in CHARTS:
        # A scenario no step has a value for (queries of the blended mix) gets no slot.
        shown = [
            name
            for name in names
            if any(s["scenarios"].get(name) and pick(s["scenarios"][name]) for s in steps)
        ]
        fig, ax = plt.subplots(figsize=(11, 5.2))
        width = 0.8 / max(1, len(steps))
        values = []
        for i, step in enumerate(steps):
            heights = []
            for name in shown:
                found = step["scenarios"].get(name)
                value = pick(found) if found else None
                heights.append(value if value else 0)
                if value:
                    values.append(value)
            positions = [x + (i - (len(steps) - 1) / 2) * width for x in range(len(shown))]
            ax.bar(positions, heights, width, label=step["slug"])
        if values and max(values) / min(values) >= LOG_SCALE_RATIO:
            ax.set_yscale("log")
            label += " (log scale)"
        ax.set_xticks(range(len(shown)), shown)
        ax.set_ylabel(label)
        ax.set_title(f"{title}\n{subtitle}", fontsize=11)
        ax.legend(title="step", fontsize=8, ncols=2)
        ax.grid(axis="y", which="both", alpha=0.25)
        fig.tight_layout()
        written.append(save(fig, directory / Path(filename).with_suffix(f".{fmt}"), fmt))
    deep = deep_chart(result, subtitle, plt)
    if deep is not None:
        written.append(save(deep, directory / f"{DEEP_CHART}.{fmt}", fmt))
    written.append(save(ladder_chart(result, subtitle, plt), directory / f"{LADDER}.{fmt}", fmt))
    (directory / STEP_CHARTS).mkdir(exist_ok=True)
    for index in range(len(steps)):
        fig = step_chart(result, index, subtitle, plt)
        written.append(save(fig, directory / STEP_CHARTS / f"{steps[index]['slug']}.{fmt}", fmt))
    for index in range(1, len(steps)):
        if queries_changed(steps[index - 1], steps[index]):
            fig = step_chart(result, index, subtitle, plt, QUERIES)
            name = f"{steps[index]['slug']}{QUERIES.suffix}.{fmt}"
            written.append(save(fig, directory / STEP_CHARTS / name, fmt))
    return written


def queries_changed(before: dict, step: dict) -> bool:
    """Whether a step sends another number of queries than the step before for some
    scenario: the steps whose page gets a queries chart of its own."""
    return any(
        found["queries_per_request"]
        != (before["scenarios"].get(name) or {}).get("queries_per_request")
        for name, found in step["scenarios"].items()
        if found["queries_per_request"] is not None
    )


def plain_numbers():
    """Log-axis ticks as 0.1, 10, 1,000: a power of ten's exponent is drawn smaller than
    the rest of the chart's text."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,g}")


# The home page's chart: three reads, step by step.
LADDER = "ladder"
LADDER_READS = ("list", "search", "detail")


def ladder_chart(result: dict, subtitle: str, plt):
    """Throughput of a few reads from the first step to the last, one line each, on a log
    axis: where each read climbs, and where a step sets it back."""
    steps = result["steps"]
    fig, ax = plt.subplots(figsize=(STEP_CHART_WIDTH, 4.6))
    for name in LADDER_READS:
        rates = [(step["scenarios"].get(name) or {}).get("requests_per_second") for step in steps]
        ax.plot(range(len(steps)), rates, marker="o", label=name)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(plain_numbers())
    ax.set_xticks(range(len(steps)), [step["slug"][:2] for step in steps], fontsize=STEP_CHART_TEXT)
    ax.tick_params(axis="y", labelsize=STEP_CHART_TEXT)
    ax.set_xlabel("step", fontsize=STEP_CHART_TEXT)
    ax.set_ylabel("requests per second, log scale", fontsize=STEP_CHART_TEXT)
    ax.set_title(
        f"Three reads, step by step (more is better)\n{subtitle}", fontsize=STEP_CHART_TEXT
    )
    # Below the axes: inside, it would cover the first steps' lines.
    ax.legend(
        fontsize=STEP_CHART_TEXT, ncols=len(LADDER_READS), loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
    )  # fmt: skip
    ax.grid(axis="y", which="major", alpha=0.25)
    fig.tight_layout()
    return fig


# One chart per step page, under media/steps/: the step against the one before it.
STEP_CHARTS = "steps"
THIS_STEP, STEP_BEFORE = "#00897b", "#b0bec5"
# Points, in a chart drawn STEP_CHART_WIDTH inches wide: shown in a page's column (about
# as wide), the smallest text stays at least 11 px high.
STEP_CHART_WIDTH = 7.5
STEP_CHART_TEXT = 10


@dataclasses.dataclass(frozen=True)
class Measure:
    """What a step's own chart compares: a scenario's figure, its axis, its file."""

    pick: Callable[[dict], float | None]
    axis: str
    suffix: str = ""
    shown: Callable[[float], str] = lambda value: number(value, 2 if value < 1 else 1)


# An open-model run's rate is the arrival rate it was given, not a measurement.
THROUGHPUT = Measure(
    lambda s: s["requests_per_second"] if s["model"] == "closed" else None,
    "requests per second (more is better)",
)
# The probe pass's count: the blends have none, each request of theirs being another.
QUERIES = Measure(
    lambda s: s["queries_per_request"],
    "SQL queries per request (fewer is better)",
    "-queries",
    lambda value: f"{value:g}",
)


def step_chart(result: dict, index: int, subtitle: str, plt, measure: Measure = THROUGHPUT):
    """A figure per scenario, this step's bar highlighted beside the step before's, each
    labelled with its value: what the step bought, at a glance."""
    steps = result["steps"]
    mine, before = steps[index], steps[index - 1] if index else None
    names = [
        name
        for name in scenario_names(result)
        if (found := mine["scenarios"].get(name)) and measure.pick(found) is not None
    ]
    shown = [(before, STEP_BEFORE), (mine, THIS_STEP)] if before else [(mine, THIS_STEP)]
    fig, ax = plt.subplots(figsize=(STEP_CHART_WIDTH, 1.4 + 0.5 * len(names)))
    height = 0.8 / len(shown)
    values = []
    for offset, (step, colour) in enumerate(shown):
        rates = [
            measure.pick(found) or 0 if (found := step["scenarios"].get(name)) else 0
            for name in names
        ]
        values += [rate for rate in rates if rate]
        # The step of the page on top of each pair, the one before under it.
        positions = [y - (offset - (len(shown) - 1) / 2) * height for y in range(len(names))]
        bars = ax.barh(positions, rates, height, color=colour, label=f"step {step['slug']}")
        ax.bar_label(
            bars,
            # A scenario the step before did not run has no bar.
            [measure.shown(rate) if rate else "—" for rate in rates],
            padding=3,
            fontsize=STEP_CHART_TEXT - 1,
        )
    label = measure.axis
    if values and max(values) / min(values) >= LOG_SCALE_RATIO:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plain_numbers())
        label += ", log scale"
    ax.set_yticks(range(len(names)), names, fontsize=STEP_CHART_TEXT)
    ax.invert_yaxis()
    ax.tick_params(axis="x", labelsize=STEP_CHART_TEXT)
    ax.set_xlabel(label, fontsize=STEP_CHART_TEXT)
    # Room on the right for the last bar's label.
    ax.set_xlim(right=ax.get_xlim()[1] * (3 if ax.get_xscale() == "log" else 1.15))
    ax.set_title(
        f"Step {mine['slug']}" + (f" against {before['slug']}" if before else "")
        + f"\n{subtitle}",
        fontsize=STEP_CHART_TEXT,
    )  # fmt: skip
    ax.legend(fontsize=STEP_CHART_TEXT, loc="lower right")
    ax.grid(axis="x", which="major", alpha=0.25)
    fig.tight_layout()
    return fig


DEEP_CHART = "deep-pages"


def save(fig, path: Path, fmt: str) -> Path:
    import matplotlib.pyplot as plt

    metadata = {"Date": None, "Creator": None} if fmt == "svg" else {}
    fig.savefig(path, format=fmt, metadata=metadata)
    plt.close(fig)
    return path


def deep_ratio(entry: dict) -> float | None:
    """How many times page 50's page query read what page 1's read (shared buffers)."""
    first, deep = entry["first"]["buffers"], entry["deep"]["buffers"]
    return deep / first if first else None


def deep_chart(result: dict, subtitle: str, plt):
    """Page 50 against page 1, per ordering and step: OFFSET grows, a keyset does not."""
    steps = [step for step in result["steps"] if step.get("deep_pages")]
    if not steps:
        return None
    orderings = list(steps[0]["deep_pages"])
    fig, ax = plt.subplots(figsize=(11, 5.2))
    width = 0.8 / len(steps)
    for i, step in enumerate(steps):
        heights = [deep_ratio(step["deep_pages"][name]) or 0 for name in orderings]
        positions = [x + (i - (len(steps) - 1) / 2) * width for x in range(len(orderings))]
        ax.bar(positions, heights, width, label=step["slug"])
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(orderings)), orderings, rotation=30)
    ax.set_ylabel("page 50 ÷ page 1, buffers read (log scale)")
    ax.set_title(
        f"What page 50 costs against page 1 (the page query's shared buffers; 1 = the same)"
        f"\n{subtitle}",
        fontsize=11,
    )
    # Below the axes: the tall bars of an OFFSET step fill the top left.
    ax.legend(fontsize=8, ncols=len(steps), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax.grid(axis="y", which="both", alpha=0.25)
    fig.tight_layout()
    return fig
