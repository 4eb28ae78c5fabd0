"""What every renderer shares: the published run and the steps (``STATE``, filled in by
``hooks.on_config``), lookups into them, and the formats numbers are shown in.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

from bench import report, steps

STATE: dict = {}


def step_of(slug: str) -> steps.Step:
    return steps.select(slug)


class NotMeasured(KeyError):
    """A step that is not in the published run: a new step waiting for its next
    ``make bench-full`` (``hooks.on_config`` lets only the newest steps be so)."""


def awaiting() -> set[str]:
    """The steps newer than the published run: their pages say so until the next
    ``make bench-full`` (``hooks.on_config`` lets no other step be missing)."""
    held = {step["slug"] for step in STATE["result"]["steps"]}
    return {step.slug for step in STATE["steps"] if step.slug not in held}


def measured(slug: str) -> dict:
    for step in STATE["result"]["steps"]:
        if step["slug"] == slug:
            return step
    raise NotMeasured(slug)


def previous(slug: str) -> dict | None:
    number = step_of(slug).number
    earlier = [s for s in STATE["result"]["steps"] if s["number"] == number - 1]
    return earlier[0] if earlier else None


def link(src_uri: str, target: str) -> str:
    """``target`` (docs-relative) as a link relative to the page being rendered."""
    return posixpath.relpath(target, posixpath.dirname(src_uri) or ".")


def optional_result(path: Path) -> dict | None:
    """A result file of a command that may not have run yet: its page says so then."""
    return json.loads(path.read_text()) if path.is_file() else None


def fmt_number(value, digits: int = 1) -> str:
    return report.number(value, digits, missing="—")


def fmt_change(now, before, noise: bool = False) -> str:
    """``+12%``; ``≈ +4%`` when the two steps' repeats overlap (within noise)."""
    if now is None or not before:
        return "—"
    change = (now - before) / before
    shown = f"{change:+.0%}".replace("-", "\N{MINUS SIGN}")
    return f"\N{ALMOST EQUAL TO} {shown}" if noise else shown


def fmt_queries(value) -> str:
    return "—" if value is None else f"{value:g}"


def note(title: str, text: str) -> str:
    """A Material admonition: what a page shows where a figure is not measured yet."""
    return f'!!! note "{title}"\n\n    {text}'


def fmt_ms(value: float) -> str:
    """Milliseconds with the digits a reader can use: 0.042, 2.65, 612."""
    digits = 3 if value < 1 else 2 if value < 10 else 1 if value < 100 else 0
    return f"{value:,.{digits}f} ms"


def fmt_span(scenario: dict) -> str:
    """The lowest and highest req/s of the repeats, with more digits for small figures,
    so that two ranges that differ do not print alike (0.566-0.622, not 0.6-0.6)."""
    low, high = report.spread(scenario)
    digits = 3 if low < 1 else 2 if low < 10 else 1
    return f"{fmt_number(low, digits)}\N{EN DASH}{fmt_number(high, digits)}"


def runs(result: dict) -> str:
    """How many runs a scenario's figures are the median of: ``3``, or ``up to 3`` when
    the run stopped repeating scenarios whose runs agreed (k6.spread)."""
    repeats = result["k6"]["repeats"]
    return f"up to {repeats}" if result["k6"].get("spread") else str(repeats)


def fmt_duration(seconds: float) -> str:
    """``1 h 38 min``, ``7 min 05 s`` or ``42 s``: how long a command took."""
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def fmt_errors(rate: float) -> str:
    return f"{rate:.2%}"


def fmt_bytes(value: int) -> str:
    return f"{value / 1e6:,.1f} MB"


def verdict(before: float, now: float, more_is_better: bool) -> str:
    """``2.9x faster`` or ``1.4x slower``; a change under 10 % is not called either."""
    if not before or not now:
        return "not comparable"
    ratio = now / before if more_is_better else before / now
    if abs(ratio - 1) < 0.1:
        return "no clear change"
    factor = ratio if ratio > 1 else 1 / ratio
    shown = f"{factor:.0f}" if factor >= 10 else f"{factor:.1f}"
    return f"{shown}\N{MULTIPLICATION SIGN} {'faster' if ratio > 1 else 'slower'}"


def share(value: float) -> str:
    return f"{value:.0%}".replace("%", "\N{NARROW NO-BREAK SPACE}%")


def listing(names: list[str]) -> str:
    """Names in backticks, the last two joined by "and"."""
    quoted = [f"`{name}`" for name in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def uncommitted(found: dict) -> str:
    return " with uncommitted changes" if found.get("git_dirty") else ""


def took(found: dict) -> str:
    return f", in {fmt_duration(found['wall_time_s'])}" if "wall_time_s" in found else ""


def made_at(found: dict) -> str:
    """The revision a result file was made at, and whether the tree was clean and how
    long the run took, where the file records it."""
    return f"`{found['git_revision'][:7]}`{uncommitted(found)}{took(found)}"


def signed(ms: float) -> str:
    return f"{ms:+.3f}".replace("-", "\N{MINUS SIGN}")


def fmt_rps(scenario: dict) -> str:
    """``28.2 req/s (27.5 to 29.0)``: the median and, with repeats, their range."""
    span = f" ({fmt_span(scenario)})" if len(scenario["repeats"]) > 1 else ""
    return f"{fmt_number(scenario['requests_per_second'])} req/s{span}"
