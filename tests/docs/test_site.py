"""The documentation site: a strict build, numbers equal to the result file, a real browser."""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import html
import http.server
import importlib
import json
import os
import re
import shutil
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench import paths, report, results, steps

CHROMIUM = "/usr/bin/chromium"
README = (paths.ROOT / "README.md").read_text()
# The steps the published run measured, and those newer than it, whose pages say so until
# the next make bench-full (docs/hooks.py).
PUBLISHED = {s["slug"] for s in results.load(results.published())["steps"]}
MEASURED = [step for step in steps.discover() if step.slug in PUBLISHED]
AWAITING = [step for step in steps.discover() if step.slug not in PUBLISHED]
SCREENSHOTS = paths.ROOT / "tests" / "docs" / "screenshots"
# Chromium as root, offline: no sandbox, and none of its calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A measurement or a fact of the run typed into a page's source instead of rendered from
# the result file: figures with a unit, numbers written as words, "2-core", "~42",
# "a quarter of", a server's version.
NUMBER = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty"
    r"|thirty|forty|fifty|hundred|thousand|million|dozen|half|a few|several)"
)
TYPED_FACT = re.compile(
    "|".join(
        [
            r"(?<![\w.,])\d[\d,.]*\s?(?:ms|req/s|requests/s|%)(?![\w-])",
            rf"\b{NUMBER}[\s-](?:cores?|CPUs?|seconds?|minutes?|milliseconds?|GB|workers?)\b",
            rf"\b{NUMBER}\s?(?:\N{{MULTIPLICATION SIGN}}|x)\s(?:faster|slower|fewer|more)\b",
            r"~\s?\d",
            r"\b(?:a|one) (?:quarter|half|third|tenth) of\b",
            r"\b(?:about|around|roughly|nearly|almost) (?:one|two|three|\d)",
            r"\b(?:PostgreSQL|Postgres|Redis|k6) \d++(?:\.\d++)*+(?! or newer)(?!\+)",
        ]
    ),
    re.IGNORECASE,
)


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=paths.ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return target


class Tables(HTMLParser):
    """The cells of each table inside a ``<div class="numbers">``, row by row."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    @property
    def rows(self) -> list[list[str]]:
        return self.tables[-1]

    def handle_starttag(self, tag, attrs):
        classes = dict(attrs).get("class") or ""
        if tag == "div" and ("numbers" in classes.split() or self.depth):
            self.depth += 1
        elif self.depth and tag == "table":
            self.tables.append([])
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "div" and self.depth:
            self.depth -= 1
        elif self.cell is not None and tag in ("td", "th"):
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def number(cell: str) -> float | None:
    if cell == "—":
        return None
    return float(cell.replace(",", "").replace("\N{MINUS SIGN}", "-").rstrip("%"))


def test_every_step_has_a_page(site):
    for step in steps.discover():
        assert (site / "steps" / step.slug / "index.html").is_file(), step.slug


def test_the_site_carries_no_run_file(site):
    # The pages render their numbers at build time; a browser never reads a run.
    assert results.runs()
    assert not list((site / "results").rglob("2*.json"))


@pytest.mark.parametrize("step", MEASURED, ids=lambda s: s.slug)
def test_the_numbers_on_a_step_page_are_the_result_files(site, step):
    """Two tables: what the step gets through against the step before, then what its
    requests take; every scenario in each, in the result file's order."""
    measured = {s["slug"]: s for s in results.load(results.published())["steps"]}
    mine = measured[step.slug]["scenarios"]
    before = next((s for s in measured.values() if s["number"] == step.number - 1), None)
    parser = Tables()
    parser.feed((site / "steps" / step.slug / "index.html").read_text())
    (speed_header, *speed), (cost_header, *cost) = parser.tables
    assert speed_header[:2] == ["scenario", "req/s"]
    assert cost_header == ["scenario", "p50 ms", "p95 ms", "p99 ms", "errors", "queries/request"]
    assert [row[0] for row in speed] == [row[0] for row in cost] == list(mine)
    # With repeats, a range column; on a cached step, the share of cache hits.
    repeated = "range" in speed_header
    assert repeated == (results.load(results.published())["k6"]["repeats"] > 1)
    cached = speed_header[-1] == "cache hits"
    for cells in speed:
        row = dict(zip(speed_header, cells, strict=True))
        name, rps, change = row["scenario"], row["req/s"], row["vs previous step"]
        scenario = mine[name]
        if cached:
            ratio = scenario["cache_hit_ratio"]
            assert row["cache hits"] == ("—" if ratio is None else f"{ratio:.0%}")
        if repeated:
            low, high = (number(part) for part in row["range"].split("\N{EN DASH}"))
            # The digits that tell two small ranges apart: 0.566-0.622, not 0.6-0.6.
            least = report.spread(scenario)[0]
            digits = 3 if least < 1 else 2 if least < 10 else 1
            assert (low, high) == tuple(round(v, digits) for v in report.spread(scenario))
        assert number(rps) == round(scenario["requests_per_second"], 1)
        earlier = before["scenarios"].get(name) if before else None
        if earlier and scenario["model"] == "closed":
            expected = scenario["requests_per_second"] / earlier["requests_per_second"] - 1
            noise = report.within_noise(scenario, earlier)
            assert change.startswith("\N{ALMOST EQUAL TO} ") == noise
            assert number(change.removeprefix("\N{ALMOST EQUAL TO} ")) == round(expected * 100)
        else:
            assert change == "—"
    for cells in cost:
        row = dict(zip(cost_header, cells, strict=True))
        scenario, latency = mine[row["scenario"]], mine[row["scenario"]]["latency_ms"]
        for p in ("p50", "p95", "p99"):
            assert number(row[f"{p} ms"]) == round(latency[p], 1)
        assert number(row["errors"]) == round(scenario["error_rate"] * 100, 2)
        assert number(row["queries/request"]) == scenario["queries_per_request"]


@pytest.mark.parametrize("step", AWAITING, ids=lambda s: s.slug)
def test_a_step_newer_than_the_run_says_so_once_and_shows_no_figure(site, step):
    built = html.unescape((site / "steps" / step.slug / "index.html").read_text())
    assert built.count("Not measured yet") == 1
    assert f"Step {step.label} at a glance" in built
    assert "req/s" not in built
    parser = Tables()
    parser.feed(built)
    assert parser.tables == []


# A pymdownx.snippets include marker; one the extension did not parse reaches the page as text.
INCLUDE_MARKER = re.compile(r"-{1,2}8\s*<\s*-{1,2}")


class Sections(HTMLParser):
    """Each ``<h2>`` section's titled code blocks: ``{section: [(title, code text)]}``."""

    def __init__(self):
        super().__init__()
        self.blocks: dict[str, list[tuple[str, str]]] = {}
        self.section = ""
        self.heading: list[str] | None = None
        self.title: list[str] | None = None
        self.code: list[str] | None = None
        self.last_title = ""

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "h2":
            self.heading = []
        elif tag == "span" and "filename" in classes:
            self.title = []
        elif tag == "code" and self.last_title:
            self.code = []

    def handle_endtag(self, tag):
        if tag == "h2" and self.heading is not None:
            self.section = "".join(self.heading).strip().rstrip("¶").strip()
            self.heading = None
        elif tag == "span" and self.title is not None:
            self.last_title = "".join(self.title).strip()
            self.title = None
        elif tag == "code" and self.code is not None:
            block = (self.last_title, "".join(self.code))
            self.blocks.setdefault(self.section, []).append(block)
            self.code, self.last_title = None, ""

    def handle_data(self, data):
        for part in (self.heading, self.title, self.code):
            if part is not None:
                part.append(data)


def built_pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_no_page_shows_an_include_marker_as_text(site):
    for page in built_pages(site):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        found = INCLUDE_MARKER.search(text)
        assert not found, f"{page.relative_to(site)} shows {found.group(0)!r}: a broken include"


def test_formatting_the_repository_leaves_the_pages_alone():
    """`make format` once rewrote every include marker into the Python `--8 < --"…"`."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    listed = subprocess.run(
        [ruff, "format", "--check", "--no-cache", "."],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
    )
    pages = [line for line in listed.stdout.splitlines() if ".md" in line]
    assert not pages, pages
    checked = subprocess.run(
        [ruff, "check", "--show-files", "."], cwd=paths.ROOT, capture_output=True, text=True
    )
    assert not [line for line in checked.stdout.splitlines() if line.endswith(".md")]


@pytest.mark.parametrize("step", steps.discover(), ids=lambda s: s.slug)
def test_key_code_shows_the_files_it_names(site, step):
    parser = Sections()
    parser.feed((site / "steps" / step.slug / "index.html").read_text())
    blocks = parser.blocks.get("Key code", [])
    assert blocks, f"{step.slug}: the Key code section has no titled code block"
    for title, code in blocks:
        source = paths.ROOT / title
        assert step.path in source.parents, f"{step.slug}: {title} is not in the step"
        assert source.is_file(), f"{step.slug}: {title} does not exist"
        real = {line.rstrip() for line in source.read_text().splitlines() if line.strip()}
        shown = [line.rstrip() for line in code.splitlines() if line.strip()]
        assert len(shown) >= 3, f"{title}: the block shows {shown!r}, not the file"
        # A section included from inside a class or function is shown dedented
        # (dedent_subsections): the block is the file's lines less one common indent.
        indents = {""} | {line[: len(line) - len(line.lstrip())] for line in real}
        foreign = min(
            ([line for line in shown if indent + line not in real] for indent in indents),
            key=len,
        )
        assert not foreign, f"{title}: lines that are not in the file: {foreign[:3]}"


@pytest.mark.parametrize("step", steps.discover(), ids=lambda s: s.slug)
def test_a_long_listing_is_folded_under_its_name_and_a_short_one_shown(site, hooks, step):
    source = (paths.ROOT / "docs" / "steps" / f"{step.slug}.md").read_text()
    built = (site / "steps" / step.slug / "index.html").read_text()
    for match in hooks.WHOLE_FILE.finditer(source):
        path = match.group("path")
        length = len((paths.ROOT / path).read_text().splitlines())
        folded = f"<summary><code>{path}</code>, the whole file ({length} lines)</summary>"
        assert (folded in built) == (length > hooks.FOLD_LINES), path


RENDERERS = paths.ROOT / "docs" / "renderers"


def hook_strings(path: Path) -> str:
    """The prose a renderer writes onto pages: its string literals, not its docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return "\n".join(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    )


def typed_sources() -> dict[str, str]:
    """Every source of prose a reader meets: pages, README, site config, the hooks' text."""
    found = {
        str(page.relative_to(paths.ROOT)): page.read_text()
        for page in (paths.ROOT / "docs").rglob("*.md")
    }
    for name in ("README.md", "mkdocs.yml"):
        found[name] = (paths.ROOT / name).read_text()
    for path in [paths.ROOT / "docs" / "hooks.py", *sorted(RENDERERS.glob("*.py"))]:
        found[str(path.relative_to(paths.ROOT))] = hook_strings(path)
    return found


def test_no_fact_of_the_run_is_typed_by_hand():
    for name, text in typed_sources().items():
        found = [match.group(0) for match in TYPED_FACT.finditer(text)]
        assert not found, f"{name} types {found}; render it from the result file"


@pytest.mark.parametrize(
    "typed",
    [
        "takes 12 ms",
        "On a 2-core machine",
        "share two cores",
        "Five seconds per scenario",
        "from ~42 to 2",
        "a quarter of the table",
        "about one per two customers",
        "PostgreSQL 18, Redis",
        "3.5\N{MULTIPLICATION SIGN} faster",
    ],
)
def test_the_typed_fact_check_catches(typed):
    assert TYPED_FACT.search(typed), typed


@pytest.mark.parametrize(
    "fine",
    ["PostgreSQL 15 or newer is supported", "Python 3.12+", "one query per page", "step 02"],
)
def test_the_typed_fact_check_lets_through(fine):
    assert not TYPED_FACT.search(fine), fine


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def visible_chart(page) -> None:
    chart = page.locator("img.chart").first
    chart.wait_for(state="visible")
    assert page.evaluate("img => img.naturalWidth", chart.element_handle()) > 0


def test_a_reader_sees_the_home_page(site, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with served(site) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/", wait_until="networkidle")
        ladder = page.locator("article table").first
        assert ladder.is_visible()
        for step in steps.discover():
            assert page.get_by_role("link", name=step.slug).first.is_visible()
        visible_chart(page)
        page.screenshot(path=SCREENSHOTS / "home.png", full_page=True)


@pytest.mark.parametrize("step", MEASURED[-1:], ids=lambda s: s.slug)
def test_a_reader_sees_a_step_page(site, browser, step):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with served(site) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/steps/{step.slug}/", wait_until="networkidle")
        assert page.locator("div.numbers table").first.is_visible()
        diff = page.locator("div.step-diff details").first
        assert diff.is_visible()
        diff.locator("summary").click()
        assert diff.locator("code").first.is_visible()
        visible_chart(page)
        page.screenshot(path=SCREENSHOTS / f"{step.slug}.png", full_page=True)


SCREEN = {"width": 1280, "height": 900}


SVG_FONT = re.compile(r"font-size: ([\d.]+)px")
SVG_BOX = re.compile(r'viewBox="0 0 ([\d.]+) ')


def smallest_text_px(site: Path, where: str, page) -> tuple[str, float]:
    """The first chart of the page open at ``where``: its source, and its smallest text
    in px as the browser draws it."""
    chart = page.locator("img.chart").first
    chart.wait_for(state="visible")
    source = chart.get_attribute("src")
    shown = chart.evaluate("img => img.getBoundingClientRect().width")
    svg = (site / where / source).resolve().read_text()
    smallest = min(float(size) for size in SVG_FONT.findall(svg))
    return source, smallest * shown / float(SVG_BOX.search(svg).group(1))


def test_each_page_puts_its_numbers_early_and_its_own_chart_is_legible(site, browser):
    """A reader comes to a step page for what the step buys: its numbers start within
    two screens. The home page's chart and each step's keep their smallest text at least
    11 px high as drawn, a reader's smallest comfortable size. One browser page visits
    them all: a page each would double what the check costs."""
    late, small = {}, {}
    with served(site) as base:
        page = browser.new_page(viewport=SCREEN)
        for where in ["", *(f"steps/{s.slug}/" for s in MEASURED)]:
            page.goto(f"{base}/{where}", wait_until="load")
            if where:
                top = page.locator("h2#numbers").evaluate("h => h.getBoundingClientRect().top")
                if top >= 2 * SCREEN["height"]:
                    late[where] = top
            source, px = smallest_text_px(site, where, page)
            if px < 11:
                small[source] = px
    assert not late, late
    assert not small, small


def page_paths(site: Path) -> list[str]:
    """Every page's path under the site, as a browser asks for it."""
    return sorted(
        "" if page.parent == site else f"{page.parent.relative_to(site).as_posix()}/"
        for page in built_pages(site)
        if page.name == "index.html" and "assets" not in page.parts
    )


# What scrolls sideways on a page, code blocks aside (code keeps its lines whole).
SIDEWAYS = """() => {
  const wide = [...document.querySelectorAll('.md-typeset__scrollwrap, .md-typeset table')]
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => e.innerText.slice(0, 60));
  if (document.documentElement.scrollWidth > window.innerWidth) wide.push('the page itself');
  return wide;
}"""


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_no_page_scrolls_sideways_or_shows_template_text(site, browser, width):
    """Every page at a laptop's width and at a phone's: no table wider than the column,
    and nothing of the templates (a placeholder, an include marker) left as text."""
    found = {}
    with served(site) as base:
        page = browser.new_page(viewport={"width": width, "height": 900})
        for path in page_paths(site):
            page.goto(f"{base}/{path}", wait_until="load")
            if wide := page.evaluate(SIDEWAYS):
                found[path] = wide
            text = page.locator("article").inner_text()
            assert "{{" not in text, path
            assert not INCLUDE_MARKER.search(text), path
    assert not found, found


def test_screenshots_stay_out_of_git():
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(SCREENSHOTS / "home.png")], cwd=paths.ROOT
    )
    assert ignored.returncode == 0 or shutil.which("git") is None


def load_hooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", paths.ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def hooks():
    """docs/hooks.py and every renderer's names, as the build configures them, reading the
    committed result file."""
    from types import SimpleNamespace

    module = load_hooks()
    module.on_config({"docs_dir": str(paths.ROOT / "docs")})
    names = {}
    for path in sorted(RENDERERS.glob("[a-z]*.py")):
        names |= vars(importlib.import_module(f"renderers.{path.stem}"))
    return SimpleNamespace(**names, on_page_markdown=module.on_page_markdown)


def test_a_step_without_a_page_fails_the_build(tmp_path):
    from mkdocs.exceptions import PluginError

    hooks = load_hooks()
    (tmp_path / "steps").mkdir()
    with pytest.raises(PluginError, match="has no page"):
        hooks.on_config({"docs_dir": str(tmp_path)})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ nonsense }}", "unknown placeholder"),
        ("{{ numbers 99-nothing }}", "not in the published run"),
        ("{{ diff 99-nothing }}", "no step"),
    ],
)
def test_a_bad_placeholder_fails_the_build(hooks, text, message):
    from types import SimpleNamespace

    from mkdocs.exceptions import PluginError

    page = SimpleNamespace(file=SimpleNamespace(src_uri="steps/x.md"))
    with pytest.raises(PluginError, match=message):
        hooks.on_page_markdown(text, page, {}, None)


def test_the_readme_states_hypotheses_for_steps_not_built():
    """A step without numbers has a hypothesis, not a result, and no link to a folder."""
    built = {step.slug for step in steps.discover()}
    rows = re.findall(r"^\| (\[?)(\d\d-[\w-]+)(?:\]\([^)]*\))? \|.*\| (.+) \|$", README, re.M)
    assert {slug for _, slug, _ in rows} >= built
    for linked, slug, outcome in rows:
        if slug in built:
            assert linked, f"README: {slug} is built; link its folder"
            assert not outcome.startswith("*hypothesis"), f"README: {slug} has numbers now"
        else:
            assert not linked, f"README links {slug}, which does not exist"
            assert outcome.startswith("*hypothesis:*"), f"README states {slug}'s outcome as fact"


@pytest.mark.parametrize("step", MEASURED[1:], ids=lambda s: s.slug)
def test_the_micro_benchmark_table_is_the_result_file(hooks, step):
    measured = {s["slug"]: s for s in results.load(results.published())["steps"]}
    before = next(s for s in measured.values() if s["number"] == step.number - 1)
    rendered = hooks.render_micro(step.slug, f"steps/{step.slug}.md")
    for bench in measured[step.slug]["microbenchmarks"]:
        old = next(b for b in before["microbenchmarks"] if b["name"] == bench["name"])
        row = next(
            line for line in rendered.splitlines() if hooks.MICRO_LABELS[bench["name"]] in line
        )
        assert hooks.fmt_ms(old["median_s"] * 1000) in row
        assert hooks.fmt_ms(bench["median_s"] * 1000) in row


def scan(relation: str, rows: int = 100, loops: int = 1) -> dict:
    return {
        "Node Type": "Seq Scan",
        "Relation Name": relation,
        "Actual Rows": rows,
        "Actual Loops": loops,
    }


def plan_of(plan: dict) -> dict:
    return {
        "path": "/api/customers/?ordering=points",
        "method": "GET",
        "sql": "SELECT …",
        "time_ms": 80.0,
        "request_time_ms": 90.0,
        "outline": "",
        "plan": plan,
    }


@pytest.mark.parametrize(
    ("plan", "says"),
    [
        (
            {
                "Node Type": "Limit",
                "Plans": [
                    {
                        "Node Type": "Nested Loop",
                        "Plans": [
                            {
                                "Node Type": "Sort",
                                "Sort Method": "top-N heapsort",
                                "Plans": [scan("app_user", 500, 2)],
                            },
                            {"Node Type": "Index Scan", "Relation Name": "address"},
                        ],
                    }
                ],
            },
            "sorts `app_user` alone (1,000 rows, top-N heapsort), and joins `address` afterwards",
        ),
        (
            {
                "Node Type": "Limit",
                "Plans": [
                    {
                        "Node Type": "Sort",
                        "Sort Method": "quicksort",
                        "Plans": [
                            {
                                "Node Type": "Hash Join",
                                "Actual Rows": 300,
                                "Plans": [scan("app_user"), scan("customer_relationship")],
                            }
                        ],
                    }
                ],
            },
            "sorts the whole join of `app_user` and `customer_relationship` (300 rows",
        ),
        (
            {
                "Node Type": "Limit",
                "Plans": [
                    {"Node Type": "Index Scan", "Relation Name": "app_user", "Index Name": "i"}
                ],
            },
            "reads the rows in order from an index (`i`), with no sort",
        ),
    ],
)
def test_a_sort_is_described_from_its_plan(hooks, plan, says):
    hooks.STATE["result"] = {
        "steps": [
            {"slug": "03-x", "number": 3, "scenarios": {"sort": {"main_query": plan_of(plan)}}}
        ]
    }
    assert says in hooks.render_sort_plan("03-x sort", "steps/03-x.md")


def test_the_data_facts_are_the_result_files(hooks):
    shape = results.load(results.published())["dataset"]["distribution"]
    genders = hooks.render_data("gender", "methodology.md")
    for name, part in shape["gender"].items():
        assert f"`{name}` {part:.0%}".replace("%", "\N{NARROW NO-BREAK SPACE}%") in genders
    assert (
        hooks.render_data("customers_per_address", "x.md")
        == f"{shape['customers_per_address']:.1f}"
    )


@pytest.mark.parametrize(
    ("before", "now", "more_is_better", "says"),
    [
        (1.12, 0.44, False, "2.5x faster"),
        (2.42, 0.017, False, "142x faster"),
        (21.6, 25.2, False, "1.2x slower"),
        (30.7, 33.0, True, "no clear change"),
        (142.0, 464.0, True, "3.3x faster"),
    ],
)
def test_a_change_is_called_what_it_is(hooks, before, now, more_is_better, says):
    said = hooks.verdict(before, now, more_is_better)
    assert said.replace("\N{MULTIPLICATION SIGN}", "x") == says


def test_test_times_are_the_result_files_or_said_to_be_missing(hooks):
    timed = [{"file": "tests/test_fast.py", "tests": 10, "seconds": 0.108, "median_ms": 4.0}]
    hooks.STATE["result"] = {"steps": [{"slug": "08-x", "number": 8, "test_times": timed}]}
    table = hooks.render_test_times("08-x", "steps/08-x.md")
    assert "| `tests/test_fast.py` | 10 | 0.11 s | 4.00 ms |" in table
    hooks.STATE["result"] = {"steps": [{"slug": "08-x", "number": 8}]}
    assert "Not measured in this run" in hooks.render_test_times("08-x", "steps/08-x.md")


def test_test_times_of_files_a_step_no_longer_times_say_so(hooks):
    last = [step for step in steps.discover() if step.timed_tests][-1]
    timed = [{"file": "tests/test_gone.py", "tests": 2, "seconds": 0.1, "median_ms": 50.0}]
    hooks.STATE["result"] = {"steps": [{"slug": last.slug, "number": 8, "test_times": timed}]}
    table = hooks.render_test_times(last.slug, f"steps/{last.slug}.md")
    assert "| `tests/test_gone.py` | 2 |" in table
    assert "Other files since this run" in table
    assert f"`{last.timed_tests[-1]}`" in table


@pytest.mark.parametrize(("preset", "target"), [("quick", "bench"), ("publication", "bench-full")])
def test_the_readme_describes_each_preset_as_bench_run_defines_it(preset, target):
    from bench import run

    values = run.PRESETS[preset]
    repeats = int(values["REPEATS"])
    row = next(line for line in README.splitlines() if line.startswith(f"| `make {target}` |"))
    described = (
        f"{int(values['CUSTOMERS']):,} customers, {values['DURATION']} s per scenario,"
        f" {repeats} repeat{'s' if repeats > 1 else ''}"
    )
    assert described in row, row
    if float(values.get("SPREAD", "0")):
        assert "`SPREAD`" in row, row


def test_the_readme_describes_the_scaling_run_as_bench_scale_defines_it():
    from bench import scale

    row = next(line for line in README.splitlines() if line.startswith("| `make bench-scale` |"))
    labels = [scale.label(size) for size in scale.SIZES]
    described = f"{', '.join(labels[:-1])} and {labels[-1]} customers, 1 client,"
    assert described in row, row
    assert f"{scale.DEFAULTS['DURATION']} s per scenario" in row, row


EXERCISE_SKELETON = ["The symptom", "Diagnose it", "The task", "Hints", "Check it", "The solution"]


@pytest.mark.parametrize("step", steps.discover()[1:], ids=lambda s: s.slug)
def test_every_exercise_page_follows_the_same_skeleton(step):
    source = (paths.ROOT / "docs" / "workshop" / f"{step.slug}.md").read_text()
    assert source.startswith(f"# Exercise {step.label} · ")
    assert re.findall(r"^## (.+)$", source, re.M) == EXERCISE_SKELETON
    for placeholder in ("symptom", "exercise", "solution"):
        assert f"{{{{ {placeholder} {step.slug} }}}}" in source, placeholder
    assert "??? tip" in source, "hints are folded"


# Result first: what a step buys comes before how it is built.
STEP_SKELETON = ["Hypothesis", "Numbers", "Why", "What changed", "Key code", "Trade-offs", "Run it"]


@pytest.mark.parametrize("step", steps.discover(), ids=lambda s: s.slug)
def test_every_step_page_follows_the_same_skeleton_numbers_first(step):
    """A page may add a section of its own (06's semantics, 09's checks), never reorder."""
    source = (paths.ROOT / "docs" / "steps" / f"{step.slug}.md").read_text()
    headings = re.findall(r"^## (.+)$", source, re.M)
    assert [h for h in headings if h in STEP_SKELETON] == STEP_SKELETON
    assert headings[:3] == STEP_SKELETON[:3]
    assert headings[-1] == STEP_SKELETON[-1]


@pytest.mark.parametrize("step", MEASURED, ids=lambda s: s.slug)
def test_every_step_page_opens_with_its_summary_box_from_the_result_file(site, hooks, step):
    source = (paths.ROOT / "docs" / "steps" / f"{step.slug}.md").read_text().splitlines()
    assert source[2] == f"{{{{ at_a_glance {step.slug} }}}}", "the box comes right after the title"
    built = (site / "steps" / step.slug / "index.html").read_text()
    box = built[built.index('class="admonition abstract"') :]
    box = box[: box.index("</div>")]
    assert f"Step {step.label} at a glance" in box
    measured = {s["slug"]: s for s in results.load(results.published())["steps"]}
    for name in step.shows or ("list", "search", "detail"):
        rps = measured[step.slug]["scenarios"][name]["requests_per_second"]
        assert re.search(rf"<td[^>]*>{name}</td>", box), name
        assert f"{hooks.fmt_number(rps)} req/s" in box, name


def test_a_term_is_linked_to_the_glossary_at_its_first_use_in_prose_only(hooks):
    page = "\n".join(
        [
            "# The p95 in a heading",
            "```",
            "p95 in a code block",
            "```",
            "| p95 | in a table |",
            "The `p95` and p95 again, within noise; [p95](x.md) and <b>Seq Scan</b>.",
            "Later p95, a Seq Scan and `Index Scan`, {{ compare x }}, https://x.org/p95",
        ]
    )
    linked = hooks.link_first_uses(page, "steps/01-naive.md").splitlines()
    assert linked[:5] == page.splitlines()[:5]
    assert linked[5] == (
        "The [`p95`](../glossary.md#percentiles) and p95 again,"
        " [within noise](../glossary.md#within-noise); [p95](x.md) and"
        " <b>[Seq Scan](../glossary.md#seq-scan)</b>."
    )
    assert linked[6] == (
        "Later p95, a Seq Scan and [`Index Scan`](../glossary.md#index-scan),"
        " {{ compare x }}, https://x.org/p95"
    )
    assert hooks.link_first_uses(page, "glossary.md") == page
    both = hooks.link_first_uses("A Nested Loop over a Memoize.", "index.md")
    assert both == (
        "A [Nested Loop](glossary.md#nested-loop) over a [Memoize](glossary.md#memoize)."
    )


def test_every_term_of_the_glossary_has_its_entry_and_every_entry_its_term(site):
    terms = set(importlib.import_module("renderers.glossary").TERMS)
    entries = set(
        re.findall(
            r"^### .+ \{#([\w-]+)\}$", (paths.ROOT / "docs" / "glossary.md").read_text(), re.M
        )
    )
    assert terms == entries
    built = (site / "glossary" / "index.html").read_text()
    for anchor in terms:
        assert f'id="{anchor}"' in built, anchor


def test_which_fix_first_maps_every_symptom_to_its_step_and_what_it_bought(site, hooks):
    built = html.unescape((site / "which-fix-first" / "index.html").read_text())
    measured = {s["slug"]: s for s in results.load(results.published())["steps"]}
    for step in steps.discover()[1:]:
        row = built[built.index(step.symptom) :].split("</tr>", 1)[0]
        assert f"../workshop/{step.slug}/" in row
        if step in AWAITING:
            assert "not measured yet" in row
            continue
        for name in step.shows:
            rps = measured[step.slug]["scenarios"][name]["requests_per_second"]
            assert f"{name}: " in row
            assert f"{hooks.fmt_number(rps)} req/s" in row, (step.slug, name)


def test_the_scale_slope_reads_growth_off_the_log_log_chart(hooks):
    rows = [10_000, 100_000, 1_000_000]
    assert hooks.slope([(n, n / 1000) for n in rows]) == pytest.approx(1)
    assert hooks.slope([(n, 4.2) for n in rows]) == pytest.approx(0)
    assert hooks.slope([(n, (n / 1000) ** 0.5) for n in rows]) == pytest.approx(0.5)
    assert hooks.slope([(10_000, 3.0)]) is None


@pytest.mark.parametrize(
    ("seconds", "shown"), [(42.4, "42 s"), (425, "7 min 05 s"), (5920.7, "1 h 38 min")]
)
def test_durations_read_as_a_person_would_say_them(hooks, seconds, shown):
    assert hooks.fmt_duration(seconds) == shown


def test_the_profile_gap_table_is_the_result_file(hooks):
    from bench import profile

    found = json.loads(profile.PROFILE.read_text())
    if not {"07-redis-cache", "08-optimized"} <= set(found["targets"]):
        pytest.skip("profile.json lacks step 08 or the step before it")
    rendered = hooks.render_profile_gap("08-optimized", "steps/08-optimized.md")
    before, last = found["targets"]["07-redis-cache"], found["targets"]["08-optimized"]
    old = {g["name"]: g["ms_per_request"] for g in before["groups"]}
    new = {g["name"]: g["ms_per_request"] for g in last["groups"]}
    for name in set(old) | set(new):
        gap = new.get(name, 0) - old.get(name, 0)
        shown = (
            f"| {name} | {old.get(name, 0):.3f} | {new.get(name, 0):.3f} | {hooks.signed(gap)} |"
        )
        assert (shown in rendered) == (abs(gap) >= hooks.SMALLEST_GAP_MS), name
    total = last["cpu_ms_per_request"] - before["cpu_ms_per_request"]
    assert f"**{hooks.signed(total)}**" in rendered


def shorter_run_of_08_and_09(published: dict) -> dict:
    """A later run of filter and the blend on steps 08 and 09 alone."""
    found = copy.deepcopy(published)
    found["run"]["id"] = "20270101T000000Z"
    found["k6"]["scenarios"] = ["filter", "mixed"]
    found["ceiling"] = None
    found["steps"] = [s for s in found["steps"] if s["number"] in (8, 9)]
    for step in found["steps"]:
        step["scenarios"] = {name: step["scenarios"][name] for name in ("filter", "mixed")}
    return found


def rendered_with_and_without(found: dict, render, monkeypatch, tmp_path) -> str:
    """What ``render`` shows for step 09 with the published run alone committed, as if
    it had read no CPU ("Not measured"), then with ``found`` committed after it."""
    path = tmp_path / f"{found['run']['id']}.json"
    path.write_text(json.dumps(found))
    bare = results.load(results.published())
    for step in bare["steps"]:
        for scenario in step["scenarios"].values():
            scenario.pop("cpu_ms_per_request", None)
    published_only = [tmp_path / results.published().name]
    published_only[0].write_text(json.dumps(bare))
    monkeypatch.setattr(results, "runs", lambda *_: published_only)
    assert "Not measured" in render("09-filter-plans", "steps/09.md")
    monkeypatch.setattr(results, "runs", lambda *_: [*published_only, path])
    return render("09-filter-plans", "steps/09.md")


def test_a_step_is_shown_against_the_one_before_on_the_newest_larger_run(
    hooks, monkeypatch, tmp_path
):
    """{{ at_scale }}: a shorter run on more customers, its filtered deep pages, and the
    command that makes it again."""
    published = results.load(results.published())
    larger = shorter_run_of_08_and_09(published)
    larger["dataset"]["customers"] = 3 * published["dataset"]["customers"]
    for step in larger["steps"]:
        first = {"time_ms": 1.0, "buffers": 150}
        step["filtered_pages"] = {"country=italy": {"first": first, "deep": first, "page": 50}}
    rendered = rendered_with_and_without(larger, hooks.render_at_scale, monkeypatch, tmp_path)
    assert rendered.count("| filter |") == rendered.count("| mixed |") == 2
    assert "| `country=italy` | 150 → 150 (1.00\N{MULTIPLICATION SIGN}) |" in rendered
    command = rendered.split("Made by `")[1].split("`")[0]
    assert command.startswith("make bench STEPS=8,9 SCENARIOS=filter,mixed CUSTOMERS=3000000 ")
    assert "CEILING=0" in command
    assert "SEED=" not in command
    assert "`20270101T000000Z`" in rendered


def test_where_the_cpu_went_is_the_newest_run_of_the_published_size_that_read_it(
    hooks, monkeypatch, tmp_path
):
    """{{ cpu }}, {{ cpu_split }}, {{ cpu_gain }} and {{ cpu_bound }}: the figures of the
    run that read them, each process's milliseconds per request and the cores they kept
    busy, and the command that makes the run again."""
    read = shorter_run_of_08_and_09(results.load(results.published()))
    figures = [(40, 7.0, 40.0), (200, 6.0, 1.5)]
    for step, (rps, app, database) in zip(read["steps"], figures, strict=True):
        for scenario in step["scenarios"].values():
            scenario["requests_per_second"] = rps
            scenario["cache_hit_ratio"] = 0.35
            scenario["cpu_ms_per_request"] = {
                "app": app, "postgresql": database, "redis": 0.1, "k6": 0.9
            }  # fmt: skip
    rendered = rendered_with_and_without(read, hooks.render_cpu, monkeypatch, tmp_path)
    # 7 + 40 + 0.1 + 0.9 = 48 ms a request at 40 req/s: 1.92 of the 2 cores.
    row = "| filter | 08 | 40.0 | 35% | 7.00 | 40.00 | 0.10 | 0.90 | 1.92 |"
    assert row in rendered
    command = rendered.split("Made by `")[1].split("`")[0]
    assert command.startswith("make bench STEPS=8,9 SCENARIOS=filter,mixed ")
    assert "`20270101T000000Z`" in rendered
    split = hooks.render_cpu_split("09-filter-plans 09-filter-plans filter", "steps/09.md")
    assert split == "6.0 ms of CPU in the app and 1.5 ms in PostgreSQL"
    assert (
        hooks.render_cpu_gain("09-filter-plans filter", "steps/09.md")
        == "5.0\N{MULTIPLICATION SIGN}"
    )
    bound = hooks.render_cpu_bound("09-filter-plans mixed 2", "steps/09.md")
    assert bound == "80 req/s, or 25.0 ms of CPU per request"


def test_the_presets_say_where_a_runs_time_went(hooks, monkeypatch):
    method = importlib.import_module("renderers.method")
    run_ = {"run": {"id": "20270101T000000Z", "wall_time_s": 480.0, "spent_s": {"seed": 40.0}}}
    monkeypatch.setattr(method, "preset_run", lambda name: run_ if name == "quick" else None)
    rendered = hooks.render_presets(None, "methodology.md")
    assert "| `make bench` |" in rendered
    assert "Where that time went: `make bench` (`20270101T000000Z`): seeding 40 s." in rendered


def test_filters_under_every_order_are_the_result_files_or_said_to_be_missing(hooks):
    """{{ orderings }}: the median and the slowest first pages of the step before and
    of this one, paths as a reader types them."""

    def found(median: float, paths: list[str]) -> dict:
        slowest = [
            {"path": f"/api/customers/?{path}", "time_ms": 50.0 - n, "buffers": 10}
            for n, path in enumerate(paths)
        ]
        return {"pages": 264, "median_ms": median, "slowest": slowest}

    before = found(
        12.5, ["city=%C5%81%C3%B3d%C5%BA&ordering=points", "gender=other&ordering=-points"]
    )
    after = found(
        0.42, ["last_name=Del&city=Olsztyn&ordering=points", "points_min=1&ordering=created"]
    )
    hooks.STATE["result"] = {
        "steps": [
            {"slug": "08-optimized", "number": 8, "filter_orderings": before},
            {"slug": "09-filter-plans", "number": 9, "filter_orderings": after},
        ]
    }
    table = hooks.render_orderings("09-filter-plans", "steps/09.md")
    assert "| first page | 08-optimized | 09-filter-plans |" in table
    assert "| median | 12.5 ms | 0.420 ms |" in table

    def request(*parts: str) -> str:
        shown = "&amp;<wbr>".join(f'<span class="param">{part}</span>' for part in parts)
        return f"<code>{shown}</code>"

    assert (
        f"| slowest | 50.0 ms<br>{request('?city=Łódź', 'ordering=points')} |"
        f" 50.0 ms<br>{request('?last_name=Del', 'city=Olsztyn', 'ordering=points')} |"
    ) in table
    assert f"| 2nd slowest | 49.0 ms<br>{request('?gender=other', 'ordering=-points')} |" in table
    assert "264 first pages" in table
    del hooks.STATE["result"]["steps"][0]["filter_orderings"]
    assert "Not recorded" in hooks.render_orderings("09-filter-plans", "steps/09.md")


def test_filtered_deep_pages_of_the_published_run_are_its_result_file(hooks):
    page = {"time_ms": 1.0, "buffers": 100}
    deeper = {"time_ms": 1.0, "buffers": 130}
    hooks.STATE["result"] = {
        "steps": [
            {
                "slug": "08-optimized",
                "number": 8,
                "filtered_pages": {"city=a": {"first": page, "deep": deeper, "page": 50}},
            },
            {
                "slug": "09-filter-plans",
                "number": 9,
                "filtered_pages": {"city=a": {"first": page, "deep": page, "page": 50}},
            },
        ]
    }
    table = hooks.render_filtered_pages("09-filter-plans", "steps/09.md")
    times = "\N{MULTIPLICATION SIGN}"
    assert f"| `city=a` | 100 → 130 (1.30{times}) | 100 → 100 (1.00{times}) |" in table
    assert "page 50 of each filtered listing" in table
    hooks.STATE["result"]["steps"][1]["filtered_pages"] = None
    assert "Not recorded" in hooks.render_filtered_pages("09-filter-plans", "steps/09.md")


def test_a_plan_that_changes_with_the_size_is_shown_and_one_read_in_parallel_is_not(
    hooks, monkeypatch
):
    import renderers.scale

    def plans(outline: str, buffers: int) -> dict:
        return {"list": {"plan": outline, "buffers": buffers, "queries": 1}}

    sizes = [
        {"label": "10k", "plans": {"a": plans("Limit > Sort > Seq Scan(t)", 10),
                                   "b": plans("Limit > Sort > Hash Join", 20)}},
        {"label": "1M", "plans": {"a": plans("Limit > Gather Merge > Sort > Seq Scan(t)", 90),
                                  "b": plans("Limit > Nested Loop > Sort", 30)}},
    ]  # fmt: skip
    found = {"identity": {"steps": ["a", "b"], "scenarios": ["list"]}, "sizes": sizes}
    monkeypatch.setattr(renderers.scale, "scale_result", lambda: found)
    shown = renderers.scale.render_scale_plans("list", "scale.md")
    assert "| b |" in shown
    assert "`Nested Loop > Sort`<br>30 buffers" in shown
    assert "| a |" not in shown
