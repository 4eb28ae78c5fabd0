"""A step's numbers: its scenarios against the step before, its micro-benchmarks and test
times, the summary box that opens its page, and the pages that set the steps side by
side (the ladder, which fix first).
"""

from __future__ import annotations

from bench import report, results, steps
from bench.tables import Column, markdown
from renderers.common import (
    STATE,
    awaiting,
    fmt_change,
    fmt_errors,
    fmt_ms,
    fmt_number,
    fmt_queries,
    fmt_rps,
    fmt_span,
    link,
    listing,
    measured,
    note,
    previous,
    runs,
    step_of,
    verdict,
)


def render_numbers(slug: str, src_uri: str) -> str:
    """Two tables of the step's scenarios: what it gets through, against the step before
    it, then how long its requests take and what each costs the database. One table of
    both would not fit a page's column."""
    mine = measured(slug)
    before = previous(slug)
    # A cached step's table says how many of each scenario's reads the cache answered.
    cached = any(s.get("cache_hit_ratio") is not None for s in mine["scenarios"].values())
    result = STATE["result"]
    repeats = result["k6"]["repeats"]
    speed = [
        Column("scenario"),
        Column("req/s", ">"),
        *([Column("range", ">")] if repeats > 1 else []),
        Column("vs previous step", ">"),
        *([Column("cache hits", ">")] if cached else []),
    ]
    cost = [
        Column("scenario"),
        *(Column(f"{p} ms", ">") for p in ("p50", "p95", "p99")),
        Column("errors", ">"),
        Column("queries/request", ">"),
    ]
    fast, slow = [], []
    for name, scenario in mine["scenarios"].items():
        earlier = before["scenarios"].get(name) if before else None
        closed = scenario["model"] == "closed"
        change = (
            fmt_change(
                scenario["requests_per_second"],
                earlier["requests_per_second"],
                report.within_noise(scenario, earlier),
            )
            if earlier and closed
            else "—"
        )
        latency = scenario["latency_ms"]
        hits = scenario.get("cache_hit_ratio")
        fast.append(
            [
                name,
                fmt_number(scenario["requests_per_second"]),
                *([fmt_span(scenario)] if repeats > 1 else []),
                change,
                *([("—" if hits is None else f"{hits:.0%}")] if cached else []),
            ]
        )
        slow.append(
            [
                name,
                *(fmt_number(latency[p]) for p in ("p50", "p95", "p99")),
                fmt_errors(scenario["error_rate"]),
                fmt_queries(scenario["queries_per_request"]),
            ]
        )
    noise = (
        f" req/s is the median of {runs(result)} runs, the steps taking turns; range is their"
        " lowest and highest; \N{ALMOST EQUAL TO} marks a change inside the ranges of both"
        " steps (within noise)."
        if repeats > 1
        else " One run per scenario, so the run-to-run noise is not measured here"
        f" ([Methodology]({link(src_uri, 'methodology.md')}))."
    )
    open_model = [name for name, s in mine["scenarios"].items() if s["model"] == "open"]
    runs_it = "runs" if len(open_model) == 1 else "run"
    arrivals = (
        f" {listing(open_model)} {runs_it} the open model at {result['k6']['open_rate']:g}"
        " arrivals/s: its req/s follows the rate it was given, its latency is the measurement."
        if open_model
        else ""
    )
    caption = (
        f"*{result['dataset']['customers']:,} customers, {result['machine']['cores']} cores,"
        f" {result['k6']['vus']} virtual users for {result['k6']['duration_s']:g} s per"
        f" scenario.{arrivals}{noise}"
        f" Run `{result['run']['id']}` at `{result['run']['git_revision'][:7]}`;"
        f" [every number]({link(src_uri, 'results/index.md')}).*"
    )
    tables = f"{markdown(speed, fast)}\n\n{markdown(cost, slow)}"
    return f'<div class="numbers" markdown>\n\n{tables}\n\n{caption}\n\n</div>'


def render_ladder(_: str | None, src_uri: str) -> str:
    columns = [
        Column("step"),
        Column("adds"),
        *(Column(f"{what} req/s", ">") for what in ("list", "search", "broad search", "blend")),
        Column("queries per list page", ">"),
    ]
    rows = []
    for step in STATE["steps"]:
        target = link(src_uri, f"steps/{step.slug}.md")
        if step.slug in awaiting():
            rows.append([f"[{step.slug}]({target})", step.summary, *["not measured yet"] * 4, "—"])
            continue
        mine = measured(step.slug)["scenarios"]

        def rps(name: str, scenarios: dict = mine) -> str:
            found = scenarios.get(name)
            return fmt_number(found["requests_per_second"]) if found else "—"

        listing = mine.get("list")
        queries = fmt_queries(listing["queries_per_request"]) if listing else "—"
        linked = f"[{step.slug}]({target})"
        rates = [rps("list"), rps("search"), rps("search-broad"), rps("mixed")]
        rows.append([linked, step.summary, *rates, queries])
    first = measured(STATE["steps"][0].slug)["scenarios"]["list"]
    caption = (
        "*Requests per second in the publication run; the blend is `mixed`, reads and"
        f" writes as clients send them ([the workload]({link(src_uri, 'methodology.md')}"
        f"#the-workload)). The first step's {fmt_queries(first['queries_per_request'])}"
        " queries per list page are the N+1: the count, the page, then each customer's"
        " relationship and address fetched one by one.*"
    )
    return markdown(columns, rows) + f"\n\n{caption}"


# A drop the headline names: beyond noise and by more than this share of the throughput.
HEADLINE_DROP = 0.5


def render_headline(_: str | None, src_uri: str) -> str:
    """``{{ headline }}``: what the ladder bought from its first step to its last, the
    step that makes a read slower before a later one wins it back, and what the layered
    step trades, in the published run."""
    result = STATE["result"]
    ladder = result["steps"]
    first, last = ladder[0], ladder[-1]

    def page(step: dict, word: str = "step") -> str:
        target = link(src_uri, f"steps/{step['slug']}.md")
        return f"[{word} {step['slug'][:2]}]({target})"

    def went(name: str) -> str:
        old, new = (s["scenarios"][name]["requests_per_second"] for s in (first, last))
        return f"`{name}` {fmt_number(old)} → {fmt_number(new)} req/s"

    lines = [
        f"**From {page(first)} to {page(last)}, on {result['dataset']['customers']:,}"
        f" customers and {result['machine']['cores']} cores: {went('list')},"
        f" {went('search')} and {went('detail')}.**"
    ]
    drops = [
        (now["requests_per_second"] / was["requests_per_second"], step, name, index)
        for index, step in enumerate(ladder[1:], 1)
        for name in ("list", "search", "detail")
        if (was := ladder[index - 1]["scenarios"].get(name))
        and (now := step["scenarios"].get(name))
        and not report.within_noise(was, now)
        and now["requests_per_second"] < HEADLINE_DROP * was["requests_per_second"]
    ]
    if drops:
        _, step, name, index = min(drops, key=lambda drop: drop[0])
        was = ladder[index - 1]["scenarios"][name]["requests_per_second"]
        back = next(
            (
                later
                for later in ladder[index + 1 :]
                if (later["scenarios"].get(name) or {}).get("requests_per_second", 0) > was
            ),
            None,
        )
        then = (
            f"and {page(back)} is the first to win it back"
            if back
            else "and no later step wins it back"
        )
        lines.append(
            f"Not every step helps at once: {page(step)} takes `{name}` from"
            f" {fmt_number(was)} to {fmt_number(step['scenarios'][name]['requests_per_second'])}"
            f" req/s, {then}."
        )
    for layered in ladder:
        index = ladder.index(layered)
        if not index or step_of(layered["slug"]).aim != "structure":
            continue
        before = ladder[index - 1]["scenarios"]["mixed"]
        now = layered["scenarios"]["mixed"]
        said = (
            "within noise"
            if report.within_noise(before, now)
            else verdict(before["requests_per_second"], now["requests_per_second"], True)
        )
        title, _, trade = step_of(layered["slug"]).title.partition(": ")
        lines.append(
            f"{page(layered, 'Step')} is not meant to be faster ({title[0].lower()}{title[1:]}:"
            f" {trade}), and the blend went {fmt_number(before['requests_per_second'])} →"
            f" {fmt_number(now['requests_per_second'])} req/s, {said}."
        )
    return "\n\n".join(lines)


MICRO_LABELS = {
    "test_serialise_one_page": "a loaded page of customers to response bytes",
    "test_one_list_request": "one list request through the test client",
    "test_one_detail_request": "one detail request through the test client",
    "test_take_a_connection": "take a database connection and give it back",
}


LATENCIES = ("p50", "p95", "p99")


def micro_of(slug: str, name: str) -> dict:
    for bench in measured(slug)["microbenchmarks"]:
        if bench["name"] == name:
            return bench
    raise KeyError(f"{slug} has no micro-benchmark {name}")


def render_compare(arg: str, src_uri: str) -> str:
    """``{{ compare 02-asgi micro test_serialise_one_page }}`` or ``… detail p50|rps``."""
    slug, kind, name = arg.split()
    before = previous(slug)
    if before is None:
        raise ValueError(f"{slug} has no previous step to compare with")
    if kind == "micro":
        old, new = (micro_of(s, name)["median_s"] * 1000 for s in (before["slug"], slug))
        return f"{fmt_ms(old)} → {fmt_ms(new)}, {verdict(old, new, False)}"
    old_s, new_s = before["scenarios"][kind], measured(slug)["scenarios"][kind]
    if name != "rps" and name not in LATENCIES:
        raise ValueError(f"compare takes micro, or a scenario with rps or {LATENCIES}")
    old, new = report.figure(old_s, name), report.figure(new_s, name)
    said = (
        "within noise"
        if report.within_noise(old_s, new_s, name)
        else verdict(old, new, name == "rps")
    )
    if name == "rps":
        return f"{fmt_number(old)} → {fmt_number(new)} req/s, {said}"
    # The sentence names the latency ("its p95 went …"): the figures alone here.
    return f"{fmt_ms(old)} → {fmt_ms(new)}, {said}"


def render_micro(slug: str, src_uri: str) -> str:
    before = previous(slug)
    mine = measured(slug)["microbenchmarks"]
    names = [before["slug"], slug, "change"] if before else [slug]
    columns = [Column("operation"), *(Column(name, ">") for name in names)]
    rows = []
    for bench in mine:
        label = MICRO_LABELS.get(bench["name"], bench["name"])
        now = bench["median_s"] * 1000
        if before is None:
            rows.append([label, fmt_ms(now)])
            continue
        old = micro_of(before["slug"], bench["name"])["median_s"] * 1000
        rows.append([label, fmt_ms(old), fmt_ms(now), verdict(old, now, False)])
    caption = "*Medians of pytest-benchmark rounds, in process, from the same run.*"
    return markdown(columns, rows) + "\n\n" + caption


def render_test_times(slug: str, src_uri: str) -> str:
    """The run times of the test files the step's ``timed_tests`` names."""
    timed = measured(slug).get("test_times")
    if not timed:
        return note(
            "Not measured in this run",
            f"The run this site shows predates `timed_tests` in {slug}'s step.toml;"
            " the next `make bench` records these run times.",
        )
    columns = [Column("test file"), *(Column(t, ">") for t in ("tests", "total", "median test"))]
    rows = [
        [
            f"`{entry['file']}`",
            str(entry["tests"]),
            f"{entry['seconds']:.2f} s",
            "—" if entry["median_ms"] is None else fmt_ms(entry["median_ms"]),
        ]
        for entry in timed
    ]
    caption = (
        "*Timed by `make bench` in the step's own environment (JUnit XML: set-up, call"
        " and tear-down of each test), from the run the numbers above come from.*"
    )
    table = markdown(columns, rows) + "\n\n" + caption
    try:
        named = list(step_of(slug).timed_tests)
    except steps.StepError:
        named = None
    if named is not None and named != [entry["file"] for entry in timed]:
        table += "\n\n" + note(
            "Other files since this run",
            f"The step's `timed_tests` now names {listing(named)}: the run this site shows"
            " timed the files above, and the next `make bench-full` times these.",
        )
    return table


def gains(slug: str) -> list[tuple[str, str, str, str]]:
    """(scenario, before, after, change) for each scenario the step's step.toml shows."""
    step = step_of(slug)
    before, mine = previous(slug)["scenarios"], measured(slug)["scenarios"]
    found = []
    for name in step.shows:
        old, new = before[name], mine[name]
        before_rps, now_rps = old["requests_per_second"], new["requests_per_second"]
        said = verdict(before_rps, now_rps, True)
        if report.within_noise(old, new):
            said = "within noise"
        elif said == "no clear change":
            # Small, but outside both steps' ranges: say how small, not that it is none.
            said = fmt_change(now_rps, before_rps)
        found.append((name, fmt_rps(old), fmt_rps(new), said))
    return found


def run_caption(src_uri: str) -> str:
    result = STATE["result"]
    repeats = result["k6"]["repeats"]
    median = f"the median of {runs(result)} runs and their range" if repeats > 1 else "one run"
    return (
        f"*The publication run: {result['dataset']['customers']:,} customers,"
        f" {result['k6']['vus']} virtual users, {median}; a change is within noise when the"
        f" two steps' ranges overlap. Run `{result['run']['id']}`"
        f" ([every number]({link(src_uri, 'results/index.md')})).*"
    )


def indented(table: str) -> list[str]:
    """A table's lines inside an admonition."""
    return [f"    {line}" for line in table.splitlines()]


def render_at_a_glance(slug: str, src_uri: str) -> str:
    """The box that opens a step page: what it adds, what it fixes, what that bought."""
    step = step_of(slug)
    exercise = link(src_uri, f"workshop/{slug}.md")
    guide = link(src_uri, "which-fix-first.md")
    lines = [f'!!! abstract "Step {step.label} at a glance"', "", f"    **Adds.** {step.summary}"]
    if step.number == 1:
        mine = measured(slug)["scenarios"]
        lines += [
            "",
            "    **The baseline.** Every later step changes one thing and is measured"
            " against the step before it.",
            "",
            *indented(
                markdown(
                    [Column("scenario"), Column("here", ">")],
                    [[name, fmt_rps(mine[name])] for name in ("list", "search", "detail")],
                )
            ),
        ]
        doors = f"`make serve STEP={step.number}`"
    elif slug in awaiting():
        # A step newer than the published run: what it adds and fixes, and no figure yet.
        lines += ["", f"    **Fixes.** {step.symptom}"]
        doors = (
            f"`make serve STEP={step.number}` · [build it yourself]({exercise})"
            f" · [which fix first?]({guide})"
        )
        return "\n".join([*lines, "", f"    {doors}"])
    else:
        before = previous(slug)["slug"]
        lines += [
            "",
            f"    **Fixes.** {step.symptom}",
            "",
            *indented(
                markdown(
                    [Column("scenario"), *(Column(t, ">") for t in (before, slug, "change"))],
                    [list(gain) for gain in gains(slug)],
                )
            ),
        ]
        doors = (
            f"`make serve STEP={step.number}` · [build it yourself]({exercise})"
            f" · [which fix first?]({guide})"
        )
    lines += ["", f"    {run_caption(src_uri)}", "", f"    {doors}"]
    return "\n".join(lines)


def render_which_fix_first(_: str | None, src_uri: str) -> str:
    columns = [Column("what you see"), Column("the fix"), Column("what it bought here")]
    rows = []
    for step in STATE["steps"][1:]:
        page = link(src_uri, f"steps/{step.slug}.md")
        exercise = link(src_uri, f"workshop/{step.slug}.md")
        bought = (
            "not measured yet"
            if step.slug in awaiting()
            else "<br>".join(
                f"{name}: {old} → {new}, **{change}**"
                for name, old, new, change in gains(step.slug)
            )
        )
        fix = f"[{step.label} · {step.title}]({page}) ([exercise]({exercise}))"
        rows.append([step.symptom, fix, bought])
    return markdown(columns, rows) + "\n\n" + run_caption(src_uri)


def render_symptom(slug: str, src_uri: str) -> str:
    """The step before, on the scenarios this exercise is about: the attendee's start."""
    step = step_of(slug)
    before = previous(slug)
    columns = [Column("scenario")]
    columns += [Column(title, ">") for title in (before["slug"], "p95", "queries per request")]
    rows = []
    for name in step.shows:
        scenario = before["scenarios"][name]
        rows.append(
            [
                name,
                fmt_rps(scenario),
                fmt_ms(scenario["latency_ms"]["p95"]),
                fmt_queries(scenario["queries_per_request"]),
            ]
        )
    table = markdown(columns, rows)
    return f"> {step.symptom}\n\n{table}\n\n" + run_caption(src_uri)


def render_figure(arg: str, src_uri: str) -> str:
    """``{{ figure published 05-keyset detail }}`` or ``{{ figure 20261205T234217Z …}}``:
    one scenario's median req/s in a named committed run, where a page compares runs."""
    run_id, slug, name = arg.split()
    found = (
        STATE["result"]
        if run_id == "published"
        else results.load(results.RESULTS_DIR / "runs" / f"{run_id}.json")
    )
    (step,) = [step for step in found["steps"] if step["slug"] == slug]
    return f"{fmt_number(step['scenarios'][name]['requests_per_second'])} req/s"


RENDERERS = {
    "at_a_glance": render_at_a_glance,
    "figure": render_figure,
    "compare": render_compare,
    "headline": render_headline,
    "ladder": render_ladder,
    "micro": render_micro,
    "numbers": render_numbers,
    "symptom": render_symptom,
    "test_times": render_test_times,
    "which_fix_first": render_which_fix_first,
}
