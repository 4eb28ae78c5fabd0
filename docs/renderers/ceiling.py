"""The ceiling page: a bare ASGI app with the last step's SQL, and where the time goes
(``make profile``).
"""

from __future__ import annotations

from bench import report
from bench.tables import Column, markdown
from renderers.common import (
    STATE,
    fmt_number,
    fmt_span,
    link,
    made_at,
    measured,
    note,
    optional_result,
    runs,
    signed,
    step_of,
)


def ceiling_of() -> dict | None:
    return STATE["result"].get("ceiling")


NO_CEILING = note(
    "Not measured in this run",
    "The published run has no ceiling: `make bench-full` measures it whenever the last"
    " step is among the steps it runs.",
)


def render_ceiling(_: str | None, src_uri: str) -> str:
    """Every step's req/s as a share of the ceiling's, per ceiling scenario."""
    found = ceiling_of()
    if not found:
        return NO_CEILING
    result = STATE["result"]
    repeats = result["k6"]["repeats"]
    names = list(found["scenarios"])
    columns = [Column(""), *(Column(name, ">") for name in names)]
    rows = [
        [
            "**ceiling**, req/s",
            *(
                fmt_number(found["scenarios"][n]["requests_per_second"])
                + (f" ({fmt_span(found['scenarios'][n])})" if repeats > 1 else "")
                for n in names
            ),
        ]
    ]
    for step in result["steps"]:
        shares = [report.ceiling_share(result, step, n) for n in names]
        target = link(src_uri, f"steps/{step['slug']}.md")
        rows.append(
            [
                f"[{step['slug']}]({target})",
                *("—" if share is None else f"{share:.0%}" for share in shares),
            ]
        )
    medians = f"medians of {runs(result)} runs (range)" if repeats > 1 else "one run each"
    caption = (
        f"*req/s as a share of the ceiling's, {medians}; the ceiling took its turn after"
        f" the steps in every round, with {found['workers']} uvicorn workers on"
        f" {found['step']}'s database. {result['dataset']['customers']:,} customers,"
        f" {result['k6']['vus']} virtual users for {result['k6']['duration_s']:g} s per"
        f" scenario. Run `{result['run']['id']}` at `{result['run']['git_revision'][:7]}`.*"
    )
    return markdown(columns, rows) + f"\n\n{caption}"


def render_ceiling_share(arg: str, src_uri: str) -> str:
    """``{{ ceiling_share 08-optimized search }}``: ``36 %`` of the ceiling's req/s."""
    slug, name = arg.split()
    if not ceiling_of():
        return "not measured (the run has no ceiling)"
    if name not in ceiling_of()["scenarios"]:
        return "not measured (that run's ceiling did not answer it)"
    share = report.ceiling_share(STATE["result"], measured(slug), name)
    if share is None:
        raise ValueError(f"no ceiling figure for {name} in the published run")
    return f"{share:.0%}"


# A profile row smaller than this is noise of the sampling, not a place to look.
SMALLEST_SHARE = 0.005


def side_by_side(one: dict, other: dict, figure: str) -> dict[str, list[float]]:
    """Each group of two profiled targets, with its ``figure`` in each (0 where absent)."""
    found = {group["name"]: [0.0, 0.0] for group in one["groups"] + other["groups"]}
    for column, target in enumerate((one, other)):
        for group in target["groups"]:
            found[group["name"]][column] = group[figure]
    return found


def render_profile(_: str | None, src_uri: str) -> str:
    """Where the last step's and the ceiling's CPU time went (``make profile``)."""
    found = profile_result()
    if found is None:
        return note(
            "Not profiled yet",
            "`make profile` samples the last two steps and the ceiling and writes"
            " `docs/results/profile.json`.",
        )
    step, top = found["targets"][found["step"]], found["targets"]["ceiling"]
    shares = side_by_side(step, top, "share")
    columns = [Column("where the CPU time went"), Column(found["step"], ">")]
    columns.append(Column("ceiling", ">"))
    rows = [
        *(
            [name, f"{mine:.1%}", f"{theirs:.1%}"]
            for name, (mine, theirs) in sorted(shares.items(), key=lambda item: -item[1][0])
            if max(mine, theirs) >= SMALLEST_SHARE
        ),
        ["**req/s while sampled**", *(fmt_number(t["requests_per_second"]) for t in (step, top))],
    ]
    caption = (
        f"*Shares of the busy samples py-spy took at {found['rate_hz']} Hz of every worker,"
        f" {found['duration_s']:g} s of `{found['scenario']}` under {found['vus']} virtual"
        f" users each, on {found['customers']:,} customers; idle samples left out, rows"
        f" under {SMALLEST_SHARE:.1%} too. Made by `{found['command']}`"
        f" at {made_at(found)}.*"
    )
    return markdown(columns, rows) + f"\n\n{caption}"


def render_profile_share(arg: str, src_uri: str) -> str:
    """``{{ profile_share 07-redis-cache request_cycle }}``: the share of a profiled
    step's busy CPU that one of SHARES' sets of groups took."""
    from bench import profile

    slug, name = arg.split()
    found = profile_result()
    if found is None or slug not in found["targets"]:
        raise ValueError(f"the profile has no {slug}: make profile STEPS=…")
    groups = {g["name"]: g["share"] for g in found["targets"][slug]["groups"]}
    return f"{sum(groups.get(group, 0) for group in profile.SHARES[name]):.0%}"


def profile_result() -> dict | None:
    from bench import profile

    return optional_result(profile.PROFILE)


SMALLEST_GAP_MS = 0.005


def profiled_pair(slug: str) -> tuple[dict, str, str] | None:
    """The profile, the step before ``slug`` and ``slug``, where both were profiled."""
    found = profile_result()
    before = f"{step_of(slug).number - 1:02d}"
    names = [name for name in (found or {}).get("targets", {}) if name[:2] == before]
    if found is None or slug not in found["targets"] or not names:
        return None
    return found, names[0], slug


def render_profile_gap(slug: str, src_uri: str) -> str:
    """``{{ profile_gap 08-optimized }}``: where a step spends more CPU per request than
    the step before it, both sampled in the same profile."""
    pair = profiled_pair(slug)
    if pair is None:
        return note(
            "Not profiled yet",
            f"`make profile STEPS={step_of(slug).number - 1},{step_of(slug).number}` samples"
            " the step and the one before it and writes `docs/results/profile.json`.",
        )
    found, earlier, later = pair
    before, last = found["targets"][earlier], found["targets"][later]
    per = side_by_side(before, last, "ms_per_request")
    columns = [Column("CPU per request, ms")]
    columns += [Column(title, ">") for title in (earlier, later, "difference")]
    rows = [
        [name, f"{old:.3f}", f"{new:.3f}", signed(new - old)]
        for name, (old, new) in sorted(per.items(), key=lambda item: item[1][0] - item[1][1])
        if abs(new - old) >= SMALLEST_GAP_MS
    ]
    old, new = before["cpu_ms_per_request"], last["cpu_ms_per_request"]
    rows.append(
        ["**all busy CPU**", f"**{old:.3f}**", f"**{new:.3f}**", f"**{signed(new - old)}**"]
    )
    rows.append(
        ["req/s while sampled", *(fmt_number(t["requests_per_second"]) for t in (before, last)), ""]
    )
    caption = (
        f"*Busy CPU per request of every worker, sampled by py-spy at {found['rate_hz']} Hz"
        f" during {found['duration_s']:g} s of `{found['scenario']}` under {found['vus']}"
        f" virtual users, on {found['customers']:,} customers; rows that differ by less"
        f" than {SMALLEST_GAP_MS} ms are left out. Made by `{found['command']}` at"
        f" {made_at(found)}.*"
    )
    return markdown(columns, rows) + f"\n\n{caption}"


def render_ceiling_kind(arg: str | None, src_uri: str) -> str:
    """``{{ ceiling_kind note }}``: above the share table, a note when the published run's
    ceiling did not cache yet; ``{{ ceiling_kind goals }}``: after the goals' figures,
    that they cannot judge the goals then. Empty once the run's ceiling caches."""
    found = ceiling_of()
    if not found or found.get("cached"):
        return ""
    if arg == "goals":
        return " That run's ceiling did not cache, so these shares cannot judge the goals."
    return note(
        "This run's ceiling did not cache",
        "The run behind this table predates the caching ceiling: its ceiling asked"
        " PostgreSQL for every answer, and answered only `list`, `walk`, `search`,"
        " `search-broad` and `detail`. On a scenario the step's cache answers, a step"
        " that outruns it sets a cache hit beside a query, not one framework beside none.",
    )


def render_profile_ceiling_kind(_: str | None, src_uri: str) -> str:
    """``{{ profile_ceiling_kind }}``: whether the profiled ceiling cached, in a sentence."""
    found = profile_result() or {}
    if found.get("ceiling_cached"):
        return (
            "**Both answer from the same Redis.** The profile's requests are nearly all"
            " cache hits, to the step and to the ceiling alike: the rows are what each"
            " spends around a hit."
        )
    return (
        "**This profile predates the caching ceiling.** Its ceiling asked PostgreSQL for"
        " every answer, and nearly all of its requests to the step were cache hits: the"
        " rates in the table's last row set a cache hit beside a query, not one framework"
        " beside none."
    )


RENDERERS = {
    "ceiling": render_ceiling,
    "profile_ceiling_kind": render_profile_ceiling_kind,
    "ceiling_kind": render_ceiling_kind,
    "ceiling_share": render_ceiling_share,
    "profile": render_profile,
    "profile_gap": render_profile_gap,
    "profile_share": render_profile_share,
}
