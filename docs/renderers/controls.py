"""Controls (``bench/controls.py``): a step with one factor changed, set beside the steps
in a grid, and what the grid says to choose."""

from __future__ import annotations

from bench import report
from bench.tables import Column, markdown
from renderers.common import STATE, fmt_ms, fmt_number, note, verdict

# The grid on step 02's page: sync or async, a connection per request or one kept.
# Each column is a step or a control of the published run, with what sets it apart.
GRID = {
    "02-asgi": [
        ("01-naive", "sync, DRF, a connection per request"),
        ("01-persistent", "sync, DRF, a connection kept"),
        ("02-sync", "sync, ninja, the pool"),
        ("02-asgi", "async, ninja, the pool"),
    ],
}


def owners() -> dict[str, dict]:
    """Every step and control of the published run, by slug."""
    result = STATE["result"]
    return {owner["slug"]: owner for owner in [*result["steps"], *result.get("controls", [])]}


def grid_of(slug: str) -> list[tuple[str, str, dict]] | None:
    found = owners()
    columns = GRID.get(slug, [])
    if not columns or any(name not in found for name, _ in columns):
        return None
    return [(name, label, found[name]) for name, label in columns]


def render_controls_grid(slug: str, src_uri: str) -> str:
    """``{{ controls_grid 02-asgi }}``: req/s of every scenario on each column of the
    grid, the best of each row in bold, and ≈ beside a column within noise of it."""
    columns = grid_of(slug)
    if columns is None:
        return note(
            "Not measured yet",
            f"The run behind these pages has no controls for {slug}: `make bench-full`"
            " measures them, and which to choose below is advice until it has.",
        )
    header = [Column("scenario"), *(Column(f"{name}: {label}", ">") for name, label, _ in columns)]
    lead = "Requests per second, each row's best in bold, ≈ where a column is within noise of it:"
    rows = []
    for scenario in columns[-1][2]["scenarios"]:
        cells = [owner["scenarios"].get(scenario) for _, _, owner in columns]
        if any(cell is None for cell in cells):
            continue
        best = max(cells, key=lambda cell: cell["requests_per_second"])
        shown = []
        for cell in cells:
            text = fmt_number(cell["requests_per_second"])
            if cell is best:
                text = f"**{text}**"
            elif report.within_noise(cell, best):
                text = f"\N{ALMOST EQUAL TO} {text}"
            shown.append(text)
        rows.append([scenario, *shown])
    return f"{lead}\n\n{markdown(header, rows)}"


def wins(slug: str) -> dict[str, list[str]]:
    """Per column of the grid, the scenarios where it served the most requests and no
    other column came within noise of it."""
    columns = grid_of(slug) or []
    found: dict[str, list[str]] = {name: [] for name, _, _ in columns}
    for scenario in columns[-1][2]["scenarios"] if columns else []:
        cells = [(name, owner["scenarios"].get(scenario)) for name, _, owner in columns]
        if any(cell is None for _, cell in cells):
            continue
        name, best = max(cells, key=lambda pair: pair[1]["requests_per_second"])
        if not any(report.within_noise(cell, best) for other, cell in cells if other != name):
            found[name].append(scenario)
    return found


def render_controls_wins(slug: str, src_uri: str) -> str:
    """``{{ controls_wins 02-asgi }}``: which column of the grid served the most on which
    scenarios, beyond noise; the rest of the rows are ties. Empty when not measured."""
    columns = grid_of(slug)
    if columns is None:
        return ""
    found = wins(slug)
    labels = {name: label for name, label, _ in columns}
    parts = [
        f"{labels[name]} ({', '.join(scenarios)})" for name, scenarios in found.items() if scenarios
    ]
    if not parts:
        return "No column served the most beyond noise on any row: every row is a tie."
    return f"Served the most beyond noise: {'; '.join(parts)}. The other rows are ties."


def render_control_title(slug: str, src_uri: str) -> str:
    """``{{ control_title 02-sync }}``: what the control changes, from step.toml."""
    for step in STATE["steps"]:
        for control in step.controls:
            if control["slug"] == slug:
                return f"{control['title']}. It changes {control['isolates']}"
    raise KeyError(f"no step declares the control {slug}")


def render_versus(arg: str, src_uri: str) -> str:
    """``{{ versus 02-sync 02-asgi mixed-open p95 }}``: one figure of one scenario on two
    columns of the published run, steps or controls, the second against the first."""
    first, second, scenario, figure = arg.split()
    found = owners()
    cells = [found[name]["scenarios"][scenario] for name in (first, second)]
    if figure not in ("rps", "p50", "p95", "p99"):
        raise ValueError(f"versus takes rps, p50, p95 or p99, not {figure!r}")
    old, new = (report.figure(cell, figure) for cell in cells)
    said = (
        "within noise"
        if report.within_noise(*cells, figure)
        else verdict(old, new, figure == "rps")
    )
    if figure == "rps":
        return f"{fmt_number(old)} → {fmt_number(new)} req/s, {said}"
    return f"{fmt_ms(old)} → {fmt_ms(new)}, {said}"


RENDERERS = {
    "versus": render_versus,
    "controls_grid": render_controls_grid,
    "controls_wins": render_controls_wins,
    "control_title": render_control_title,
}
