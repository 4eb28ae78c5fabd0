"""Thread hops: how often an async step's request leaves the event loop for a thread, on a
miss and on a cache hit, and what each trip runs (``bench/hops.py``)."""

from __future__ import annotations

from bench.tables import Column, markdown
from renderers.common import fmt_number, measured, note

# What a hop runs, in the words of the page: the function's last two names, or these.
PLAIN = {
    "config.asgi.close_on_thread": "hand the connection back",
}


def plain(name: str) -> str:
    return PLAIN.get(name) or ".".join(name.split(".")[-2:])


def what(named: dict[str, int] | None) -> str:
    if not named:
        return "—"
    times = "\N{MULTIPLICATION SIGN}"
    shown = [f"`{plain(name)}`" + (f" {times} {n}" if n > 1 else "") for name, n in named.items()]
    return ", ".join(shown)


def render_thread_hops(slug: str, src_uri: str) -> str:
    """``{{ thread_hops 07-redis-cache }}``: per scenario, the trips to a thread of a
    request on a miss and on a hit (medians), and what the costliest miss's trips ran."""
    counted = {
        name: scenario["thread_hops"]
        for name, scenario in measured(slug)["scenarios"].items()
        if scenario.get("thread_hops")
    }
    if not counted:
        return note("Not counted", f"The published run did not count {slug}'s thread hops.")
    cached = any(hops["hit"] is not None for hops in counted.values())
    columns = [
        Column("scenario"),
        Column("hops, miss", ">"),
        *([Column("hops, hit", ">")] if cached else []),
        Column("what a miss's hops run"),
    ]
    rows = [
        [
            name,
            fmt_number(hops["miss"], 0),
            *([fmt_number(hops["hit"], 0)] if cached else []),
            what(hops["miss_named"]),
        ]
        for name, hops in counted.items()
    ]
    return markdown(columns, rows)


RENDERERS = {"thread_hops": render_thread_hops}
