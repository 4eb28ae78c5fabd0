"""What the SQL does: each scenario's statements and plans, deep pages, django-ninja's
cursor, full text's roads not taken, the scans and sorts read off a plan, and a step
against the one before on a larger data set.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

from bench import database, fulltext, probe, report, results, run, variables, workload
from bench.tables import Column, markdown
from renderers.common import (
    STATE,
    fmt_bytes,
    fmt_errors,
    fmt_ms,
    fmt_number,
    fmt_queries,
    link,
    listing,
    made_at,
    measured,
    note,
    previous,
    runs,
    step_of,
    verdict,
)


def short_statement(statement: str, limit: int = 140) -> str:
    """A statement short enough for a table cell: the column list folded, the tail cut."""
    folded = re.sub(r"^SELECT (?!COUNT\().{30,}? FROM ", "SELECT … FROM ", statement, count=1)
    folded = folded if len(folded) <= limit else folded[: limit - 1] + "…"
    return folded.replace("|", "\\|")


CLAUSE = re.compile(r" (FROM|(?:LEFT OUTER |INNER )?JOIN|WHERE|GROUP BY|ORDER BY|LIMIT|OFFSET) ")


def readable_sql(sql: str) -> str:
    """Django's one-line SQL with a line per clause, for reading on a page."""
    return CLAUSE.sub(lambda m: f"\n{m.group(1)} ", sql)


def scenario_breakdown(scenario: dict) -> list[dict]:
    """The queries of a scenario's slowest probed request, grouped by statement."""
    kept = scenario["probe"]
    slowest = max(kept["requests"], key=lambda r: sum(ms for _, ms in r["queries"]))
    queries = [
        {"statement": kept["statements"][index], "time_ms": ms} for index, ms in slowest["queries"]
    ]
    return probe.breakdown(queries)


CURSOR_VALUE = re.compile(r"(cursor=)[^&]+")


def short_path(path: str) -> str:
    """A path as a reader types it: decoded (``Koziń``, not ``Kozi%C5%84``), and a
    cursor's token, which says nothing, elided."""
    return unquote(CURSOR_VALUE.sub(r"\1…", path))


STATEMENT_COLUMNS = [
    Column("statement"),
    Column("times", ">"),
    Column("ms", ">"),
    Column("share", ">"),
]


def render_plans(slug: str, src_uri: str) -> str:
    mine = measured(slug)
    columns = [
        Column("scenario"),
        Column("queries/request", ">"),
        Column("slowest probed request"),
        Column("its costliest query"),
    ]
    rows, details = [], []
    for name, scenario in mine["scenarios"].items():
        query = scenario["main_query"]
        if scenario["queries_per_request"] is None or query is None:
            continue
        total = query["request_time_ms"]
        share = f"{query['time_ms'] / total:.0%}" if total else "—"
        outline = f"`{query['outline']}`" if query["outline"] else "a write (not EXPLAINed)"
        rows.append(
            [
                name,
                fmt_queries(scenario["queries_per_request"]),
                f"`{query['method']} {short_path(query['path'])}`<br>{fmt_ms(total)}"
                " in the database",
                f"{outline}<br>{fmt_ms(query['time_ms'])}, {share} of the request",
            ]
        )
        statements = [
            [
                f"`{short_statement(g['statement'])}`",
                str(g["count"]),
                fmt_ms(g["time_ms"]),
                f"{g['share']:.0%}",
            ]
            for g in scenario_breakdown(scenario)
        ]
        table = markdown(STATEMENT_COLUMNS, statements).splitlines()
        table = [f"    {line}" for line in table]
        sql = "\n".join(f"    {line}" for line in readable_sql(query["sql"]).splitlines())
        details.append(
            f'??? note "{name}: where `{query["method"]} {short_path(query["path"])}` spends its'
            f' database time"\n\n'
            + "\n".join(table)
            + f"\n\n    The costliest query:\n\n    ```sql\n{sql}\n    ```"
        )
    intro = (
        "Each scenario's requests went through the step once more, outside the timed runs"
        f" ([the probe pass]({link(src_uri, 'methodology.md')}#the-probe-pass)); the table"
        " shows the probed"
        " request that spent the most time in PostgreSQL and the query that cost it most.\n\n"
    )
    table = f'<div class="plans" markdown>\n\n{markdown(columns, rows)}\n\n</div>'
    return intro + table + "\n\n" + "\n\n".join(details)


def probed_times(step: dict, scenario: str) -> dict[str, float]:
    """Each probed request of a scenario: its path and its time in the database (none
    for a step measured by the k6 profile alone)."""
    kept = step["scenarios"][scenario].get("probe") or {"requests": []}
    return {r["path"]: sum(ms for _, ms in r["queries"]) for r in kept["requests"]}


# One EXPLAIN ANALYZE under a millisecond is mostly planning and noise: no verdict on it.
CLEAR_MS = 1.0


def probed_change(was: float | None, now: float) -> str:
    if was is None:
        return "—"
    if max(was, now) < CLEAR_MS:
        return "no clear change"
    return verdict(was, now, False)


def render_filters(slug: str, src_uri: str) -> str:
    """``{{ filters 09-filter-plans }}``: every probed filter request, one client, on the
    step before and on this one."""
    before, mine = previous(slug), measured(slug)
    if before is None:
        raise ValueError(f"{slug} has no previous step to compare with")
    old, new = probed_times(before, "filter"), probed_times(mine, "filter")
    if not new:
        return note("Not probed", f"The published run has no probe pass of {slug}.")
    columns = [
        Column("request"),
        Column(before["slug"], ">"),
        Column(slug, ">"),
        Column("change", ">"),
    ]
    rows = []
    for path, now in new.items():
        was = old.get(path)
        shown = path.removeprefix(probe.LIST) or "(no filter)"
        rows.append(
            [
                f"`{shown}`",
                fmt_ms(was) if was is not None else "—",
                fmt_ms(now),
                probed_change(was, now),
            ]
        )
    caption = (
        "*Time in PostgreSQL of each probed filter request, one client, EXPLAIN ANALYZE in the"
        " probe pass of the same run; the first page, default ordering unless the request"
        " names one.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def shown_request(path: str) -> str:
    """A probed path as a reader types it: no prefix, no percent-encoding."""
    return unquote(path.removeprefix(probe.LIST)) or "(no filter)"


def breakable(path: str) -> str:
    """A probed request as code that a narrow column wraps between its parameters, not
    inside one."""
    parts = shown_request(path).split("&")
    kept = [f'<span class="param">{html.escape(part)}</span>' for part in parts]
    return f"<code>{'&amp;<wbr>'.join(kept)}</code>"


def render_orderings(slug: str, src_uri: str) -> str:
    """``{{ orderings 09-filter-plans }}``: every probed filter under every ordering, one
    client, on the step before and on this one: the median first page and the slowest."""
    before, mine = previous(slug), measured(slug)
    if before is None:
        raise ValueError(f"{slug} has no previous step to compare with")
    old, new = before.get("filter_orderings"), mine.get("filter_orderings")
    if not old or not new:
        return note("Not recorded", "The published run predates the filters under every order.")
    columns = [Column("first page"), Column(before["slug"], ">"), Column(mine["slug"], ">")]
    rows = [["median", fmt_ms(old["median_ms"]), fmt_ms(new["median_ms"])]]
    ranks = ["slowest", "2nd slowest", "3rd slowest"]
    for rank, (was, now) in enumerate(zip(old["slowest"], new["slowest"], strict=True)):
        rows.append(
            [
                ranks[rank] if rank < len(ranks) else f"{rank + 1}th slowest",
                *(f"{fmt_ms(page['time_ms'])}<br>{breakable(page['path'])}" for page in (was, now)),
            ]
        )
    caption = (
        f"*{new['pages']} first pages on each step: every probed filter request under each"
        " of the twelve orderings, one client, time in PostgreSQL (EXPLAIN ANALYZE) in the"
        " probe pass of the same run.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def render_indexes(slug: str, src_uri: str) -> str:
    """``{{ indexes 09-filter-plans }}``: the indexes this step added and dropped, and
    what the customer tables weigh, against the step before, from the same run."""
    before, mine = previous(slug), measured(slug)
    if before is None:
        raise ValueError(f"{slug} has no previous step to compare with")
    old, new = before.get("storage"), mine.get("storage")
    if not old or not new:
        return note("Not recorded", "The published run predates the sizes on disk.")
    columns = [Column("index or table"), Column("on"), Column("change"), Column("on disk", ">")]
    rows = [
        [f"`{name}`", f"`{entry['table']}`", change, fmt_bytes(entry["bytes"])]
        for change, found, other in (("added", new, old), ("dropped", old, new))
        for name, entry in found["indexes"].items()
        if name not in other["indexes"]
    ]
    for table, size in new["tables"].items():
        was = old["tables"].get(table)
        if was is not None and fmt_bytes(was) != fmt_bytes(size):
            rows.append([f"`{table}` itself", "—", f"was {fmt_bytes(was)}", fmt_bytes(size)])

    def weight(storage: dict) -> int:
        return sum(e["bytes"] for e in storage["indexes"].values()) + sum(
            storage["tables"].values()
        )

    grown = weight(new) - weight(old)
    sign = "+" if grown >= 0 else "\N{MINUS SIGN}"
    net = f"**{fmt_bytes(weight(new))}** ({sign}{fmt_bytes(abs(grown))})"
    rows.append(
        ["**the customer tables and their indexes**", "—", f"was {fmt_bytes(weight(old))}", net]
    )
    caption = (
        "*`pg_relation_size` of each index and `pg_table_size` of each table, read after"
        f" each step's timed runs in the same run; {before['slug']} against {slug}.*"
    )
    return markdown(columns, rows) + "\n\n" + caption


def render_deep(arg: str, src_uri: str) -> str:
    """``{{ deep 04-indexes -created }}``: page 1 against page 50 of one ordering."""
    slug, ordering = arg.split()
    entry = measured(slug)["deep_pages"][ordering]
    first, deep = entry["first"], entry["deep"]
    return (
        f"{fmt_ms(first['time_ms'])} on page 1 and {fmt_ms(deep['time_ms'])} on page"
        f" {entry['page']} ({first['buffers']:,} and {deep['buffers']:,} buffers read)"
    )


def render_ninja_cursor(slug: str, src_uri: str) -> str:
    """django-ninja's CursorPagination walked through one first name's ties."""
    found = measured(slug)["ninja_cursor"]
    if found is None:
        raise ValueError(f"{slug} has no ninja_cursor measurement: is it a cursor step?")
    columns = [
        Column("page", ">"),
        Column("cursor offset", ">"),
        Column("status", ">"),
        Column("page query", ">"),
        Column("plan"),
    ]
    rows = []
    for number, page in enumerate(found["pages"], 1):
        cost = "—" if page["time_ms"] is None else fmt_ms(page["time_ms"])
        if page["buffers"] is not None:
            cost += f", {page['buffers']:,} buffers"
        status = f"**{page['status']}**" if page["status"] != 200 else "200"
        outline = f"`{page['outline']}`" if page["outline"] else "—"
        rows.append([str(number), str(page["offset"]), status, cost, outline])
    failed = [page for page in found["pages"] if page["status"] != 200]
    ending = (
        f"Page {len(found['pages'])} answered {failed[0]['status']}:"
        f" `{failed[0].get('error', '')}`."
        if failed
        else "Every page answered 200."
    )
    intro = (
        f"Ordered by `first_name`, from `{found['first_name']}`, a first name"
        f" {found['ties']:,} customers share. {ending}"
    )
    return intro + f'\n\n<div class="plans" markdown>\n\n{markdown(columns, rows)}\n\n</div>'


def render_fulltext(slug: str, src_uri: str) -> str:
    """The full-text step's roads not taken: ts_rank ordering and a trigram index."""
    found = measured(slug)["fulltext"]
    if found is None:
        raise ValueError(f"{slug} has no fulltext measurement: is it a full-text step?")
    trigram = found["trigram"]
    columns = [
        Column("term"),
        Column("kind"),
        Column("full-text matches", ">"),
        Column("first page", ">"),
        Column("ranked by `ts_rank`", ">"),
        Column("substring matches", ">"),
        Column("first page with trigrams", ">"),
    ]
    rows, plans = [], []
    for entry in found["terms"]:
        term = f"`{entry['term']}`"
        rows.append(
            [
                term,
                entry["kind"],
                f"{entry['matches']:,}",
                fmt_ms(entry["page"]["time_ms"]),
                fmt_ms(entry["ranked"]["time_ms"]),
                f"{entry['trigram_matches']:,}",
                fmt_ms(entry["trigram"]["time_ms"]),
            ]
        )
        for way, label in [("page", "as issued"), ("ranked", "ts_rank"), ("trigram", "trigram")]:
            plans.append([term, label, f"`{entry[way]['outline']}`"])
    sizes = (
        f"The GIN index on the vector holds {fmt_bytes(found['index_bytes'])}; a trigram GIN"
        f" index over the same text took {trigram['build_ms'] / 1000:,.1f} s to build and"
        f" holds {fmt_bytes(trigram['index_bytes'])}."
    )
    caption = (
        f"*Median execution time of {fulltext.REPEATS} EXPLAIN ANALYZE runs of each first"
        " page (bench/fulltext.py). Substring matches: `ILIKE '%term%'` over the same text.*"
    )
    plans_table = markdown([Column("term"), Column("way"), Column("plan")], plans)
    return (
        f"{sizes}\n\n"
        + markdown(columns, rows)
        + f"\n\n{caption}\n\n"
        + '??? note "Plans"\n\n    <div class="plans" markdown>\n\n'
        + "\n".join(f"    {row}" for row in plans_table.splitlines())
        + "\n\n    </div>\n"
    )


def render_hits(arg: str, src_uri: str) -> str:
    """``{{ hits 07-redis-cache mixed }}``: the share of a scenario's reads the cache answered."""
    slug, name = arg.split()
    ratio = measured(slug)["scenarios"][name].get("cache_hit_ratio")
    if ratio is None:
        raise ValueError(f"{slug} {name} has no cache hit ratio: is it a cached step?")
    return f"{ratio:.0%}"


def render_deep_pages(slug: str | None, src_uri: str) -> str:
    """Page 1 against page 50 of every ordering, the page query's time: for every step,
    or with a step, for it and the step before it."""
    measured_steps = [s for s in STATE["result"]["steps"] if s.get("deep_pages")]
    if slug is not None:
        number = step_of(slug).number
        measured_steps = [s for s in measured_steps if s["number"] in (number - 1, number)]
    orderings = list(measured_steps[0]["deep_pages"])
    columns = [Column("ordering"), *(Column(s["slug"], ">") for s in measured_steps)]
    rows = []
    for name in orderings:
        cells = []
        for step in measured_steps:
            entry = step["deep_pages"][name]
            first, deep = (
                fmt_ms(entry[k]["time_ms"]).removesuffix(" ms") for k in ("first", "deep")
            )
            cells.append(f"{first} → {deep}")
        rows.append([f"`{name}`", *cells])
    caption = (
        "*The page query's execution time in ms (EXPLAIN ANALYZE) on page 1 → page"
        f" {probe.DEEP_PAGE}: page-number steps asked for `?page={probe.DEEP_PAGE}`,"
        " cursor steps walked there through `next`.*"
    )
    table = markdown(columns, rows)
    return f'<div class="deep-pages" markdown>\n\n{table}\n\n{caption}\n\n</div>'


def relations(plan: dict) -> list[str]:
    return sorted({n["Relation Name"] for n in probe.nodes(plan) if "Relation Name" in n})


def render_scans(arg: str, src_uri: str) -> str:
    """Which tables the costliest query of a scenario reads end to end, from its plan."""
    slug, name = arg.split()
    query = measured(slug)["scenarios"][name]["main_query"]
    if query is None or query["plan"] is None:
        raise ValueError(f"{slug} {name} has no plan")
    scanned = sorted(probe.seq_scans(query["plan"]))
    how = "sequential scans" if len(scanned) > 1 else "a sequential scan"
    reads = f"reads {listing(scanned)} with {how}" if scanned else "reads no table in full"
    kind = "a COUNT" if query["sql"].lstrip().upper().startswith("SELECT COUNT") else "a query"
    return (
        f"the costliest query of `{short_path(query['path'])}` is {kind} that {reads};"
        f" it took {fmt_ms(query['time_ms'])} of the request's"
        f" {fmt_ms(query['request_time_ms'])} in the database"
    )


def render_sort_plan(arg: str, src_uri: str) -> str:
    """Where the costliest query of a scenario sorts, said from its plan, not typed."""
    slug, name = arg.split()
    query = measured(slug)["scenarios"][name]["main_query"]
    if query is None or query["plan"] is None:
        raise ValueError(f"{slug} {name} has no plan")
    where = f"the plan of `{short_path(query['path'])}`"
    sort = next((n for n in probe.nodes(query["plan"]) if n["Node Type"] == "Sort"), None)
    if sort is None:
        indexes = [n["Index Name"] for n in probe.nodes(query["plan"]) if "Index Name" in n]
        used = f" (`{indexes[0]}`)" if indexes else ""
        return f"{where} reads the rows in order from an index{used}, with no sort"
    sorted_rows = sum(
        child.get("Actual Rows", 0) * child.get("Actual Loops", 1)
        for child in sort.get("Plans", [])
    )
    under, every = relations(sort), relations(query["plan"])
    method = sort.get("Sort Method", "a sort")
    what = (
        f"the whole join of {listing(under)}"
        if under == every and len(every) > 1
        else f"{listing(under)} alone"
    )
    rest = [r for r in every if r not in under]
    after = f", and joins {listing(rest)} afterwards" if rest else ""
    return (
        f"{where} sorts {what} ({sorted_rows:,.0f} rows, {method}){after};"
        f" that query took {fmt_ms(query['time_ms'])}"
    )


def larger_run(slug: str) -> dict | None:
    """The newest committed run on more customers than the published one that measured
    ``slug`` and the step before it (a shorter run is enough to check a goal at 3M)."""
    return results.larger(STATE["result"], step_of(slug).number)


def command_of(result: dict) -> str:
    """The `make bench` line that makes a run like ``result`` again: every setting the
    file records that is not the quick preset's."""
    k6 = result["k6"]
    numbers = [step["number"] for step in result["steps"]]
    recorded = {
        "STEPS": ",".join(map(str, numbers)),
        "SCENARIOS": ",".join(k6["scenarios"]),
        "CUSTOMERS": str(result["dataset"]["customers"]),
        "SEED": str(result["dataset"]["seed"]),
        "DURATION": f"{k6['duration_s']:g}",
        "WARMUP": f"{k6['warmup_s']:g}",
        "VUS": str(k6["vus"]),
        "RATE": f"{k6['open_rate']:g}",
        "MAX_VUS": str(k6["max_vus"]),
        "REPEATS": str(k6.get("repeats", 1)),
        "SPREAD": f"{k6.get('spread', 0):g}",
        "DETAILS": "1" if any(step["microbenchmarks"] for step in result["steps"]) else "0",
        # The ceiling runs whenever the step it sends the SQL of does, unless told not to.
        "CEILING": "0" if result.get("ceiling") is None and ceiling_step(numbers) else "1",
    }
    defaults = {name: variables.VARIABLES[name].default for name in recorded}
    defaults |= {
        "STEPS": ",".join(str(step.number) for step in STATE["steps"]),
        "SCENARIOS": ",".join([*workload.SCENARIOS, workload.OPEN]),
        "SEED": str(database.DEFAULT_SEED),
        **run.PRESETS["quick"],
    }
    changed = [f"{name}={value}" for name, value in recorded.items() if value != defaults[name]]
    return " ".join(["make bench", *changed])


def ceiling_step(numbers: list[int]) -> bool:
    from bench import ceiling

    top = ceiling.step_of(STATE["steps"])
    return top is not None and top.number in numbers


def growth(entry: dict | None) -> str:
    """Page 1's buffers → the deep page's, and how many times more that is."""
    if entry is None:
        return "—"
    ratio = report.deep_ratio(entry)
    times = "" if ratio is None else f" ({ratio:.2f}\N{MULTIPLICATION SIGN})"
    return f"{entry['first']['buffers']:,} → {entry['deep']['buffers']:,}{times}"


def filtered_growth(pair: list[dict]) -> str | None:
    """Page 1's buffers → page 50's of each filtered listing, per step of ``pair``."""
    filtered = pair[-1].get("filtered_pages") or {}
    if not filtered:
        return None
    columns = [Column("filtered listing"), *(Column(step["slug"], ">") for step in pair)]
    cells = [
        [f"`{name}`", *(growth((step.get("filtered_pages") or {}).get(name)) for step in pair)]
        for name in filtered
    ]
    return markdown(columns, cells)


def render_filtered_pages(slug: str, src_uri: str) -> str:
    """``{{ filtered_pages 09-filter-plans }}``: what page 1 and page 50 of each filtered
    listing read, on the step before and on this one, in the published run."""
    before, mine = previous(slug), measured(slug)
    if before is None:
        raise ValueError(f"{slug} has no previous step to compare with")
    table = filtered_growth([before, mine])
    if table is None:
        return note("Not recorded", "The published run predates the filtered deep pages.")
    page = max(entry["page"] for entry in mine["filtered_pages"].values())
    caption = (
        f"*Shared buffers the page query read on page 1 and on page {page} of each filtered"
        " listing in the default order, followed through `next` by one client, in the"
        " probe pass of the same run.*"
    )
    return table + "\n\n" + caption


def render_at_scale(slug: str, src_uri: str) -> str:
    """``{{ at_scale 09-filter-plans }}``: the step and the one before it on a larger data
    set (``larger_run``): each scenario under load, then what a filtered listing's page 1
    and its deep page read."""
    found = larger_run(slug)
    if found is None:
        return note(
            "Not measured",
            f"No committed run measures {slug} and the step before it on a larger data set.",
        )
    number = step_of(slug).number
    pair = results.pair(found, number)
    columns = [Column("scenario"), Column("step")]
    columns += [Column(name, ">") for name in ("req/s", "p95 ms", "errors")]
    rows = [
        [name, step["slug"], fmt_number(scenario["requests_per_second"]),
         fmt_number(scenario["latency_ms"]["p95"]), fmt_errors(scenario["error_rate"])]
        for name in found["k6"]["scenarios"]
        for step in pair
        if (scenario := step["scenarios"].get(name))
    ]  # fmt: skip
    tables = [markdown(columns, rows)]
    caption = (
        f"*{found['dataset']['customers']:,} customers, {found['machine']['cores']} cores,"
        f" {found['k6']['vus']} virtual users for {found['k6']['duration_s']:g} s per"
        f" scenario, the median of {runs(found)} run(s)."
    )
    if (deep := filtered_growth(pair)) is not None:
        tables.append(deep)
        page = max(entry["page"] for entry in pair[-1]["filtered_pages"].values())
        caption += (
            " The second table: the shared buffers the page query read on page 1 and on"
            f" page {page} of each filtered listing in the default order, followed through"
            " `next` by one client."
        )
    caption += (
        f" Made by `{command_of(found)}`: run `{found['run']['id']}` at {made_at(found['run'])}.*"
    )
    return "\n\n".join([*tables, caption])


RENDERERS = {
    "at_scale": render_at_scale,
    "deep": render_deep,
    "deep_pages": render_deep_pages,
    "filters": render_filters,
    "filtered_pages": render_filtered_pages,
    "indexes": render_indexes,
    "orderings": render_orderings,
    "fulltext": render_fulltext,
    "hits": render_hits,
    "ninja_cursor": render_ninja_cursor,
    "plans": render_plans,
    "scans": render_scans,
    "sort_plan": render_sort_plan,
}
