"""A step's goals as a table: each target, what each run measured, and whether it holds.

The verdicts are computed here from the result files, never typed: a new run that
misses a goal turns its row to "not met" on the next build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import report, results, scale
from bench.tables import Column, markdown
from renderers.common import STATE, fmt_ms, step_of
from renderers.plans import probed_times


@dataclass(frozen=True)
class Goal:
    """``measure(pair)`` of a run's step before and step: (the figure in words, met);
    met is None where the run did not measure it."""

    target: str
    measure: Callable[[list[dict]], tuple[str, bool | None]]
    # The runs it is read from: "published", "cpu" (the later run at the published size
    # that read the CPU) and "larger" (the shorter run on more customers).
    runs: tuple[str, ...] = ("published",)


def gain(name: str, times: float) -> Callable[[list[dict]], tuple[str, bool]]:
    def measure(pair: list[dict]) -> tuple[str, bool]:
        was, now = (step["scenarios"][name] for step in pair)
        ratio = now["requests_per_second"] / was["requests_per_second"]
        noise = ", within noise" if report.within_noise(was, now) else ""
        return f"{ratio:.2f}\N{MULTIPLICATION SIGN}{noise}", ratio >= times and not noise

    return measure


def p95_under(name: str, most_ms: float) -> Callable[[list[dict]], tuple[str, bool]]:
    def measure(pair: list[dict]) -> tuple[str, bool]:
        p95 = report.figure(pair[-1]["scenarios"][name], "p95")
        return fmt_ms(p95), p95 <= most_ms

    return measure


def no_errors(pair: list[dict]) -> tuple[str, bool]:
    errors = sum(scenario["errors"] for scenario in pair[-1]["scenarios"].values())
    return f"{errors:,} in {len(pair[-1]['scenarios'])} scenarios", errors == 0


def slowest_filter(most_ms: float) -> Callable[[list[dict]], tuple[str, bool]]:
    def measure(pair: list[dict]) -> tuple[str, bool]:
        times = probed_times(pair[-1], "filter")
        path = max(times, key=times.get)
        return f"{fmt_ms(times[path])}, the slowest of {len(times)}", times[path] <= most_ms

    return measure


# The probe's filter that matches no one: a rare surname, a rare city and high points.
NOTHING = ("last_name=", "city=", "points_min=")


def nothing_matches(most_ms: float) -> Callable[[list[dict]], tuple[str, bool]]:
    def measure(pair: list[dict]) -> tuple[str, bool]:
        (ms,) = [
            ms
            for path, ms in probed_times(pair[-1], "filter").items()
            if all(part in path for part in NOTHING)
        ]
        return fmt_ms(ms), ms <= most_ms

    return measure


def deep_pages(most: float) -> Callable[[list[dict]], tuple[str, bool | None]]:
    def measure(pair: list[dict]) -> tuple[str, bool | None]:
        if not pair[-1].get("filtered_pages"):
            # Deep pages are an extra (DETAILS=1): a shorter run may not walk them.
            return "— (the run walked no deep pages)", None
        ratios = [report.deep_ratio(entry) for entry in pair[-1]["filtered_pages"].values()]
        worst = max(ratio for ratio in ratios if ratio is not None)
        return f"{worst:.2f}\N{MULTIPLICATION SIGN} at most, in {len(ratios)} listings", (
            worst <= most
        )

    return measure


# Step 09's targets, as issue 29 set them; the table's verdicts are read against these.
P95_MS, FIRST_PAGE_MS, NOTHING_MS, DEEP_TIMES = 100, 20, 50, 1.2

GOALS = {
    "09-filter-plans": [
        Goal("`filter` at five times step 08's req/s", gain("filter", 5), ("published", "cpu")),
        Goal("`mixed` at twice step 08's req/s", gain("mixed", 2), ("published", "cpu")),
        Goal(
            f"`filter`'s p95 under load ≤ {P95_MS} ms",
            p95_under("filter", P95_MS),
            ("published",),
        ),
        Goal(f"`filter`'s p95 at 3M ≤ {P95_MS} ms", p95_under("filter", P95_MS), ("larger",)),
        Goal("no errors", no_errors, ("published", "larger")),
        Goal(
            f"every probed filter's first page, one client, ≤ {FIRST_PAGE_MS} ms",
            slowest_filter(FIRST_PAGE_MS),
        ),
        Goal(
            f"a filter that matches no one, one client, ≤ {NOTHING_MS} ms",
            nothing_matches(NOTHING_MS),
        ),
        Goal(
            f"page 50 of a filtered listing reads ≤ {DEEP_TIMES} times page 1's buffers",
            deep_pages(DEEP_TIMES),
            ("published", "larger"),
        ),
    ],
}


def run_of(kind: str, number: int) -> dict | None:
    found = STATE["result"]
    if kind == "cpu":
        return results.cpu_read(found, number)
    if kind == "larger":
        return results.larger(found, number)
    return found


def render_goals(slug: str, src_uri: str) -> str:
    """``{{ goals 09-filter-plans }}``: every goal of the step, read on each run it
    names, with its verdict."""
    number = step_of(slug).number
    columns = [Column("goal"), Column("measured", ">"), Column("run"), Column("met")]
    rows = []
    for goal in GOALS[slug]:
        for kind in goal.runs:
            found = run_of(kind, number)
            if found is None:
                rows.append([goal.target, "—", f"no {kind} run", "not measured"])
                continue
            figure, met = goal.measure(results.pair(found, number))
            size = scale.label(found["dataset"]["customers"])
            where = "published" if found is STATE["result"] else f"`{found['run']['id']}`"
            where += f", {size}"
            verdict = "not measured" if met is None else "**met**" if met else "not met"
            rows.append([goal.target, figure, where, verdict])
    caption = (
        "*Each goal read on the runs that measure it: the published run, the later run at"
        " the same size that read the CPU, and the shorter run on more customers, each"
        " shown below. A gain within noise is not met.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


RENDERERS = {"goals": render_goals}
