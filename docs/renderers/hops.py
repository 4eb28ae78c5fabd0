"""Thread hops: how often an async step's request leaves the event loop for a thread, on a
miss and on a cache hit, and what each trip runs (``bench/hops.py``)."""

from __future__ import annotations

from bench.tables import Column, markdown
from renderers.common import fmt_number, link, measured, note

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
    explained = link(src_uri, "steps/02-asgi.md") + "#trips-to-a-thread"
    if not counted:
        return note(
            "Made before step 02's entry point",
            f"The run behind these numbers predates [step 02's entry point]({explained}),"
            " and did not count trips to a thread: its async steps ran on Django's own"
            " handler, which made six trips to a thread and started two threads on every"
            " request, cache hits included.",
        )
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
    lead = f"Trips to a thread per request ([what they are]({explained})):"
    return f"{lead}\n\n{markdown(columns, rows)}"


RENDERERS = {"thread_hops": render_thread_hops}
