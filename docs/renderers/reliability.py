"""Reliability: ``make test-faults``' faults and overload, rule by rule."""

from __future__ import annotations

from bench.tables import Column, markdown
from renderers.common import fmt_ms, made_at, note, optional_result


def reliability_result() -> dict | None:
    from bench import faults

    return optional_result(faults.RESULT)


def measured_at(found: dict) -> str:
    """The revision the file was made at, and those of steps a narrower earlier run
    measured (``make test-faults STEPS=``)."""
    others: dict[str, list[str]] = {}
    for slug, faults in (found.get("made") or {}).items():
        for made in faults.values():
            revision = made["git_revision"][:7]
            if made["git_revision"] != found["git_revision"] and slug[:2] not in others.get(
                revision, []
            ):
                others.setdefault(revision, []).append(slug[:2])
    told = made_at(found)
    if others:
        told += "; " + "; ".join(
            f"steps {', '.join(slugs)} at `{revision}`" for revision, slugs in others.items()
        )
    return told


def rules_kept(entry: dict) -> str:
    return "kept" if not entry["broken"] else "; ".join(entry["broken"])


def render_overload(_: str | None, src_uri: str) -> str:
    """Every step at three times its capacity: did it live, and how soon did it recover?
    Two tables, so that each fits a page's column: what was asked and answered, then the
    one reading client's latency."""
    found = reliability_result()
    entries = [
        (slug, entry)
        for slug, kept in (found or {"steps": {}})["steps"].items()
        if (entry := kept.get("overload")) is not None
    ]
    if not entries:
        return note("Not measured yet", "`make test-faults FAULTS=overload` measures it.")
    asked = [Column("step"), Column("rules")]
    asked += [Column(t, ">") for t in ("capacity", "offered", "answered", "503", "other 5xx")]
    waited = [Column("step")]
    waited += [
        Column(t, ">")
        for t in ("p95 before", "p95 under load", "p95 after", "back to normal after")
    ]
    answered, latency = [], []
    for slug, entry in entries:
        answered.append(
            [
                slug,
                rules_kept(entry),
                *(f"{entry[k]:g} req/s" for k in ("capacity_rps", "offered_rps", "answered_rps")),
                f"{entry['unavailable']:,}",
                str(entry["server_errors"]),
            ]
        )
        latency.append(
            [
                slug,
                *(fmt_ms(entry[k]) for k in ("p95_before_ms", "p95_under_load_ms", "p95_after_ms")),
                f"{entry['recovery_s']:g} s",
            ]
        )
    caption = (
        f"*{found['overload_s']:g} s of load per step; made by `make test-faults`, as above."
        " Capacity is the blend's req/s under 8 closed-model users; the open model lets"
        " hundreds of requests wait at once, and a step may answer more than that. *p95"
        " after* is that one client's p95 from 10 s after the load, which the rule judges;"
        " *back to normal after* is the end of the last whole second after the load whose"
        " p95 was above normal, so one slow second late on shows there without breaking"
        " the rule.*"
    )
    return f"{markdown(asked, answered)}\n\n{markdown(waited, latency)}\n\n{caption}"


def render_reliability(_: str | None, src_uri: str) -> str:
    """Every step under every fault that applies to it: what its clients saw, then how
    long it lasted. Two tables, so that each fits a page's column."""
    found = reliability_result()
    if found is None:
        return note(
            "Not measured yet",
            "`make test-faults` runs every fault against every step and writes"
            " `docs/results/reliability.json`.",
        )
    saw = [Column("step"), Column("fault"), Column("rules")]
    saw += [
        Column(t, ">")
        for t in ("503", "other 5xx", "no answer", "writes acknowledged", "writes lost")
    ]
    saw.append(Column("stale reads", ">"))
    lasted = [Column("step"), Column("fault")]
    lasted += [Column(t, ">") for t in ("requests", "slowest during", "recovered after")]
    seen, took = [], []
    for slug, entries in found["steps"].items():
        for fault, entry in entries.items():
            if fault == "overload":
                continue
            seen.append(
                [
                    slug,
                    fault,
                    rules_kept(entry),
                    f"{entry['unavailable']:,}",
                    str(entry["server_errors"]),
                    str(entry["unanswered"]),
                    f"{entry['writes_acknowledged']:,}",
                    str(len(entry["writes_lost"])),
                    str(len(entry["reads_wrong"]) + len(entry.get("own_reads_stale", []))),
                ]
            )
            took.append(
                [
                    slug,
                    fault,
                    f"{entry['requests']:,}",
                    f"{entry['slowest_during_s']:.2f} s",
                    f"{entry['recovery_s']:.1f} s",
                ]
            )
    caption = (
        f"*{found['clients']} clients on {found['customers']:,} customers; each fault lasts"
        f" {found['outage_s']:g} s; made by `make test-faults` at"
        f" {measured_at(found)}. The first table: what the clients saw and whether every rule"
        " held; the second: how many requests they sent, and how long the fault slowed"
        " them.*"
    )
    return f"{markdown(saw, seen)}\n\n{markdown(lasted, took)}\n\n{caption}"


RENDERERS = {
    "overload": render_overload,
    "reliability": render_reliability,
}
