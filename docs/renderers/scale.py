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
            figure = entry["steps"].get(slug, {}).get(scenario)
            cells.append(
                "—"
                if not figure or figure["p50_ms"] is None
                else f"{fmt_ms(figure['p50_ms'])} / {fmt_ms(figure['p95_ms'])}"
            )
        grows = slope(scale.points(found, slug, scenario, "p50_ms"))
        cells.append("—" if grows is None else f"{grows:.2f}")
        rows.append([slug, *cells])
    caption = (
        "*p50 / p95 latency of one client's requests at each size (`make bench-scale`);"
        " slope: how p50 grows with the rows on the log-log chart, 1 when it grows as fast"
        " as the table, 0 when it does not grow.*"
    )
    return (
        f"![{scenario}: p50 latency against customers, one line per step]({chart}){{ .chart }}"
        "\n\n" + markdown(columns, rows) + f"\n\n{caption}"
    )


RENDERERS = {
    "scale": render_scale,
    "scale_costs": render_scale_costs,
}
