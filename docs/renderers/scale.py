"""How cost grows: ``make bench-scale``'s latency at each size of the data set."""

from __future__ import annotations

from bench.progress import clock
from bench.tables import Column, markdown
from renderers.common import fmt_bytes, fmt_ms, link, note, optional_result


def scale_result() -> dict | None:
    from bench import scale

    return optional_result(scale.RESULT)


NOT_SCALED = note(
    "Not measured yet",
    "`make bench-scale` measures every step at each size and writes `docs/results/scale.json`.",
)


def render_scale_costs(_: str | None, src_uri: str) -> str:
    """What each size of the scaling run cost here, from its own clock."""

    found = scale_result()
    if found is None:
        return NOT_SCALED
    ident = found["identity"]
    titles = ["customers", "seeding the base", "the size in all", "on disk"]
    columns = [Column(title, ">") for title in titles]
    columns[0] = Column("customers")
    rows = [
        [
            f"{entry['customers']:,}",
            f"{entry['prepare_s']:.0f} s",
            clock(entry["wall_time_s"]),
            fmt_bytes(entry["disk_bytes"]) if entry.get("disk_bytes") else "not recorded",
        ]
        for entry in found["sizes"]
    ]
    caption = (
        f"*{len(ident['steps'])} steps, {len(ident['scenarios'])} scenarios of"
        f" {ident['duration_s']:g} s each at {ident['vus']} virtual user, on"
        f" {found['machine']['cores']} cores; made by `make bench-scale` at"
        f" `{found['git_revision'][:7]}`.*"
    )
    return markdown(columns, rows) + f"\n\n{caption}"


def slope(points: list[tuple[int, float]]) -> float | None:
    """The log-log slope of latency against rows: 1 when a request's cost grows with the
    table, 0 when it does not (least squares over every size measured)."""
    import math

    if len(points) < 2:
        return None
    xs = [math.log(rows) for rows, _ in points]
    ys = [math.log(ms) for _, ms in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


# A p95 of fewer requests than this is one of the slowest two or three: the table shows
# the p50 alone, as the chart does.
FEWEST_FOR_P95 = 20


def latency_cell(figure: dict | None) -> str:
    if not figure or figure["p50_ms"] is None:
        return "—"
    if figure["requests"] < FEWEST_FOR_P95:
        return f"{fmt_ms(figure['p50_ms'])} / —"
    return f"{fmt_ms(figure['p50_ms'])} / {fmt_ms(figure['p95_ms'])}"


# Nodes that only say PostgreSQL read in parallel: a plan that gains them on a larger
# table reads the same way, and is not "another plan".
PARALLEL = ("Gather Merge > ", "Gather > ")


def shape(outline: str) -> str:
    for node in PARALLEL:
        outline = outline.replace(node, "")
    return outline


def plan_changes(found: dict, scenario: str) -> dict[str, list[dict | None]]:
    """The steps whose page query for ``scenario`` got another plan at some size, read
    in parallel or not: ``{slug: [that size's {"plan", "buffers", "queries"} or None]}``."""
    changed = {}
    for slug in found["identity"]["steps"]:
        kept = [entry.get("plans", {}).get(slug, {}).get(scenario) for entry in found["sizes"]]
        if len({shape(plan["plan"]) for plan in kept if plan}) > 1:
            changed[slug] = kept
    return changed


def shown_plan(outline: str) -> str:
    """An outline without its Limit, the one node every page query has."""
    return outline.removeprefix("Limit > ")


def render_scale_plans(scenario: str, src_uri: str) -> str:
    """Where a step's plan for one scenario changed with the size, and what the page
    read at each size: the reason a line turns, from the run, not guessed."""
    found = scale_result()
    if found is None:
        return NOT_SCALED
    if not any("plans" in entry for entry in found["sizes"]):
        # A run made before the plans were kept: the page reads as it did then.
        return ""
    changed = plan_changes(found, scenario)
    if not changed:
        return (
            f"*Every step kept one plan for {scenario}'s page query at every size"
            " (`make bench-scale` EXPLAINs it at each).*"
        )
    sizes = found["sizes"]
    columns = [Column("step"), *(Column(entry["label"]) for entry in sizes)]
    rows = [
        [
            slug,
            *(
                "—"
                if plan is None
                else f"`{shown_plan(plan['plan'])}`<br>{plan['buffers']:,} buffers"
                for plan in kept
            ),
        ]
        for slug, kept in changed.items()
    ]
    caption = (
        f"*The steps whose page query for {scenario} got another plan at some size: its"
        " plan under the page's LIMIT, and the shared buffers the request read, from"
        " EXPLAIN ANALYZE after the timed runs (a cached step's miss).*"
    )
    return markdown(columns, rows) + f"\n\n{caption}"


def render_scale(scenario: str, src_uri: str) -> str:
    """One scenario of the scaling run: its log-log chart and its p50 / p95 table."""
    from bench import scale

    found = scale_result()
    if found is None:
        return NOT_SCALED
    if scenario not in found["identity"]["scenarios"]:
        raise KeyError(f"the scaling run has no scenario {scenario}")
    sizes = found["sizes"]
    chart = link(src_uri, f"media/scale/{scenario}.svg")
    columns = [Column("step"), *(Column(e["label"], ">") for e in sizes), Column("slope", ">")]
    rows = []
    for slug in found["identity"]["steps"]:
        cells = []
        for entry in sizes:
            cells.append(latency_cell(entry["steps"].get(slug, {}).get(scenario)))
        grows = slope(scale.points(found, slug, scenario, "p50_ms"))
        cells.append("—" if grows is None else f"{grows:.2f}")
        rows.append([slug, *cells])
    caption = (
        "*p50 / p95 latency of one client's requests at each size (`make bench-scale`);"
        " slope: how p50 grows with the rows on the log-log chart, 1 when it grows as fast"
        " as the table, 0 when it does not grow; — in place of a p95 where fewer than"
        f" {FEWEST_FOR_P95} requests ran.*"
    )
    return (
        f"![{scenario}: p50 latency against customers, one line per step]({chart}){{ .chart }}"
        "\n\n" + markdown(columns, rows) + f"\n\n{caption}"
    )


RENDERERS = {
    "scale": render_scale,
    "scale_costs": render_scale_costs,
    "scale_plans": render_scale_plans,
}
