"""Reliability: ``make test-faults``' faults and overload, rule by rule."""

from __future__ import annotations

from bench.tables import Column, markdown
from renderers.common import fmt_ms, made_at, note, optional_result


def reliability_result() -> dict | None:
    from bench import faults

    return optional_result(faults.RESULT)


def render_overload(_: str | None, src_uri: str) -> str:
    """Every step at three times its capacity: did it live, and how soon did it recover?"""
    found = reliability_result()
    titles = [
        "capacity", "offered", "answered", "503", "other 5xx", "p95 under load", "p95 before",
        "p95 after", "back to normal after",
    ]  # fmt: skip
    columns = [Column("step"), *(Column(t, ">") for t in titles), Column("rules")]
    rows = []
    for slug, entries in (found or {"steps": {}})["steps"].items():
        entry = entries.get("overload")
        if entry is None:
            continue
        verdict = "kept" if not entry["broken"] else "; ".join(entry["broken"])
        rows.append(
            [
                slug,
                *(f"{entry[k]:g} req/s" for k in ("capacity_rps", "offered_rps", "answered_rps")),
                f"{entry['unavailable']:,}",
                str(entry["server_errors"]),
                *(fmt_ms(entry[k]) for k in ("p95_under_load_ms", "p95_before_ms", "p95_after_ms")),
                f"{entry['recovery_s']:g} s",
                verdict,
            ]
        )
    if not rows:
        return note("Not measured yet", "`make test-faults FAULTS=overload` measures it.")
    caption = f"*{found['overload_s']:g} s of load per step; made by `make test-faults`, as above.*"
    return markdown(columns, rows) + f"\n\n{caption}"


def render_reliability(_: str | None, src_uri: str) -> str:
    """Every step under every fault that applies to it: what its clients saw."""
    found = reliability_result()
    if found is None:
        return note(
            "Not measured yet",
            "`make test-faults` runs every fault against every step and writes"
            " `docs/results/reliability.json`.",
        )
    titles = [
        "requests", "503", "other 5xx", "no answer", "slowest during", "recovered after",
        "writes acknowledged", "writes lost", "stale reads",
    ]  # fmt: skip
    columns = [Column("step"), Column("fault"), *(Column(t, ">") for t in titles), Column("rules")]
    rows = []
    for slug, entries in found["steps"].items():
        for fault, entry in entries.items():
            if fault == "overload":
                continue
            verdict = "kept" if not entry["broken"] else "; ".join(entry["broken"])
            rows.append(
                [
                    slug,
                    fault,
                    f"{entry['requests']:,}",
                    f"{entry['unavailable']:,}",
                    str(entry["server_errors"]),
                    str(entry["unanswered"]),
                    f"{entry['slowest_during_s']:.2f} s",
                    f"{entry['recovery_s']:.1f} s",
                    f"{entry['writes_acknowledged']:,}",
                    str(len(entry["writes_lost"])),
                    str(len(entry["reads_wrong"])),
                    verdict,
                ]
            )
    caption = (
        f"*{found['clients']} clients on {found['customers']:,} customers; each fault lasts"
        f" {found['outage_s']:g} s; made by `make test-faults` at"
        f" {made_at(found)}.*"
    )
    return markdown(columns, rows) + f"\n\n{caption}"


RENDERERS = {
    "overload": render_overload,
    "reliability": render_reliability,
}
