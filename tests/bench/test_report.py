"""Result files, the terminal table and the charts, from a fixture result."""

from __future__ import annotations

import copy
import itertools
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from bench import cpu, probe, report, results, run, tables, untimed, workload

SCENARIOS = ["list", "search", "mixed-open"]


def scenario(rps: float, p95: float, queries: float | None, repeats: int = 1) -> dict:
    entry = {
        "model": "open" if queries is None else "closed",
        "duration_s": 5.0,
        "requests": int(rps * 5),
        "requests_per_second": rps,
        "latency_ms": {
            "avg": p95 / 2,
            "p50": p95 / 3,
            "p95": p95,
            "p99": p95 * 1.5,
            "max": p95 * 2,
        },
        "error_rate": 0.0,
        "errors": 0,
        "dropped_iterations": 0,
        "cache_hit_ratio": None,
        "queries_per_request": queries,
        "main_query": None,
        "probe": None,
        "cpu_ms_per_request": None,
    }
    entry["repeats"] = [{key: entry.get(key) for key in workload.REPEATED} for _ in range(repeats)]
    return entry


def step(number: int, slug: str, rps: float, queries: float) -> dict:
    return {
        "number": number,
        "slug": slug,
        "title": slug,
        "server": "gunicorn" if number == 1 else "uvicorn",
        "workers": 2,
        "command": ["-m", "uvicorn"],
        "packages": {"django": "6.1.3"},
        "database": {"conn_max_age": 0, "pool": None},
        "pagination": "page",
        "search": "substring",
        "deep_pages": None,
        "ninja_cursor": None,
        "fulltext": None,
        "scenarios": {
            "list": scenario(rps, 1000 / rps, queries),
            "search": scenario(rps / 100, 100_000 / rps, 2.0),
            "mixed-open": scenario(20.0, 300.0, None),
        },
        "microbenchmarks": [
            {
                "name": "test_one",
                "mean_s": 0.01,
                "median_s": 0.01,
                "min_s": 0.009,
                "stddev_s": 0.001,
                "rounds": 50,
            }
        ],
    }


@pytest.fixture
def result() -> dict:
    return {
        "schema_version": results.SCHEMA_VERSION,
        "run": {
            "id": "20260101T000000Z",
            "started": "2026-01-01T00:00:00+00:00",
            "finished": "2026-01-01T00:05:00+00:00",
            "wall_time_s": 300.0,
            "git_revision": "0" * 40,
            "git_dirty": False,
        },
        "machine": {"cpu": "test cpu", "cores": 2, "ram_gb": 24.0, "os": "Linux"},
        "versions": {"python": "3.13.0", "postgresql": "18.1", "redis": None, "k6": "v1.1.0"},
        "dataset": {"customers": 100_000, "seed": 42, "distribution": None},
        "postgresql": {"embedded": True, "settings": {"shared_buffers": "2GB"}},
        "k6": {
            "vus": 8,
            "duration_s": 5.0,
            "warmup_s": 3.0,
            "open_rate": 20.0,
            "max_vus": 64,
            "scenarios": SCENARIOS,
            "repeats": 1,
        },
        "steps": [step(1, "01-naive", 30.0, 41.0), step(2, "02-asgi", 3000.0, 2.0)],
    }


def test_a_complete_result_validates(result):
    results.validate(result)


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        (lambda r: r.pop("machine"), "(top)"),
        (lambda r: r["steps"][0]["scenarios"]["list"].update(error_rate=2), "steps/0/scenarios"),
        (lambda r: r["steps"][1].update(server="daphne"), "steps/1/server"),
        (lambda r: r.update(schema_version=2), "schema_version"),
        (lambda r: r["dataset"].pop("distribution"), "dataset"),
        (lambda r: r["dataset"].update(customers="many"), "dataset/customers"),
        (lambda r: r["steps"][0]["scenarios"]["list"].update(repeats=[]), "steps/0/scenarios"),
        (lambda r: r["k6"].pop("repeats"), "k6"),
    ],
)
def test_a_broken_result_is_refused_naming_where(result, damage, where):
    broken = copy.deepcopy(result)
    damage(broken)
    with pytest.raises(results.ResultError, match=where):
        results.validate(broken)


def test_write_then_load_round_trips(result, tmp_path):
    path = results.write(result, tmp_path)
    assert path == tmp_path / "runs" / "20260101T000000Z.json"
    assert results.load(results.latest(tmp_path)) == result == results.load(path)
    with pytest.raises(results.ResultError, match="make bench-full"):
        results.published(tmp_path)


def with_cpu(result: dict, run_id: str, customers: int, read: bool) -> dict:
    """``result`` as run ``run_id`` on ``customers``, its scenarios' CPU read or not."""
    found = copy.deepcopy(result)
    found["run"]["id"] = run_id
    found["dataset"]["customers"] = customers
    for step in found["steps"]:
        for scenario in step["scenarios"].values():
            figures = dict.fromkeys(cpu.PARTS, 1.5 if read else None)
            scenario["cpu_ms_per_request"] = figures
            for kept in scenario["repeats"]:
                kept["cpu_ms_per_request"] = figures
    return found


def test_a_page_reads_the_cpu_from_the_newest_run_of_its_size_that_read_both_steps(
    result, tmp_path
):
    assert results.cpu_read(result, 2, tmp_path) is None
    results.write(with_cpu(result, "20260102T000000Z", 100_000, True), tmp_path)
    results.write(with_cpu(result, "20260103T000000Z", 100_000, False), tmp_path)
    results.write(with_cpu(result, "20260104T000000Z", 300_000, True), tmp_path)
    # Newer, but step 1 alone read: not a run of both steps.
    one = with_cpu(result, "20260105T000000Z", 100_000, True)
    for scenario in one["steps"][1]["scenarios"].values():
        scenario["cpu_ms_per_request"] = dict.fromkeys(cpu.PARTS)
    results.write(one, tmp_path)
    assert results.cpu_read(result, 2, tmp_path)["run"]["id"] == "20260102T000000Z"
    # Step 1 has no step before it in any run.
    assert results.cpu_read(result, 1, tmp_path) is None


def with_errors(result: dict, run_id: str, customers: int, kinds: dict | None) -> dict:
    """``result`` as run ``run_id``, its second step's open blend failing ``kinds``."""
    found = copy.deepcopy(result)
    found["run"]["id"] = run_id
    found["dataset"]["customers"] = customers
    for step in found["steps"]:
        for scenario in step["scenarios"].values():
            scenario.pop("error_kinds", None)
    if kinds is not None:
        scenario = found["steps"][1]["scenarios"]["mixed-open"]
        scenario["errors"] = sum(kinds.values())
        scenario["error_kinds"] = kinds
    return found


def test_the_errors_are_told_by_the_newest_run_of_the_size_that_kept_their_kinds(result, tmp_path):
    assert results.errors_told(result, "mixed-open", tmp_path) is None
    told = {"unavailable": 3, "server_errors": 0, "unanswered": 1}
    results.write(with_errors(result, "20260102T000000Z", 100_000, told), tmp_path)
    # Newer, but on another size, or with no errors, or with errors of no kind kept.
    results.write(with_errors(result, "20260103T000000Z", 300_000, told), tmp_path)
    results.write(with_errors(result, "20260104T000000Z", 100_000, None), tmp_path)
    unknown = dict.fromkeys(told, 0)
    results.write(with_errors(result, "20260105T000000Z", 100_000, unknown), tmp_path)
    found = results.errors_told(result, "mixed-open", tmp_path)
    assert found["run"]["id"] == "20260102T000000Z"
    assert results.errors_told(result, "list", tmp_path) is None


def test_a_run_is_written_once_and_named_not_copied(result, tmp_path):
    results.write(result, tmp_path, publish=True)
    later = copy.deepcopy(result)
    later["run"]["id"] = "20260102T000000Z"
    results.write(later, tmp_path)
    assert results.names(tmp_path) == {
        "latest": "20260102T000000Z",
        "published": "20260101T000000Z",
    }
    assert sorted(p.name for p in results.runs(tmp_path)) == [
        "20260101T000000Z.json",
        "20260102T000000Z.json",
    ]
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["names.json"]


def test_the_table_has_a_row_per_step_and_scenario(result):
    lines = report.table(result).splitlines()
    rows = [line.split() for line in lines[2:] if line]
    assert [(r[0], r[1]) for r in rows] == [
        (name, slug) for name in SCENARIOS for slug in ("01-naive", "02-asgi")
    ]
    list_naive = rows[0]
    assert list_naive[2] == "30.0"
    assert list_naive[-1] == "41.0"
    assert rows[-1][-1] == "-", "an open-model mix has no probed query count"


def repeated(*figures: tuple[float, float]) -> dict:
    """A scenario run once per (req/s, p95) pair, combined as ``make bench`` does."""
    return workload.combined(
        [{**scenario(rps, p95, 1.0), "errors": 1, "requests": 100} for rps, p95 in figures]
    )


def test_repeats_are_all_kept_and_the_scenario_shows_their_medians():
    found = repeated((100.0, 30.0), (300.0, 10.0), (120.0, 20.0))
    assert [r["requests_per_second"] for r in found["repeats"]] == [100.0, 300.0, 120.0]
    assert found["requests_per_second"] == 120.0
    assert found["latency_ms"]["p95"] == 20.0
    # Errors are added up, never a median that would hide one bad repeat.
    assert (found["requests"], found["errors"], found["error_rate"]) == (300, 3, 0.01)
    assert report.spread(found) == (100.0, 300.0)
    assert report.spread(found, "p95") == (10.0, 30.0)


def test_a_difference_inside_the_spread_is_noise_and_one_outside_is_not():
    before = repeated((100.0, 30.0), (140.0, 25.0), (120.0, 28.0))
    overlapping = repeated((135.0, 24.0), (150.0, 22.0), (160.0, 21.0))
    apart = repeated((200.0, 12.0), (210.0, 11.0), (230.0, 10.0))
    assert report.within_noise(before, overlapping)
    assert not report.within_noise(before, apart)
    assert not report.within_noise(before, apart, "p95")
    # One run each has no spread to judge by: never called noise.
    assert not report.within_noise(repeated((100.0, 30.0)), repeated((101.0, 30.0)))


def test_with_repeats_the_table_shows_the_range_of_each_row(result):
    result["k6"]["repeats"] = 3
    list_entry = repeated((25.0, 40.0), (30.0, 41.0), (35.0, 45.0))
    result["steps"][0]["scenarios"]["list"] = list_entry
    for found in (s for st in result["steps"] for s in st["scenarios"].values()):
        found["repeats"] = found["repeats"] * 3 if len(found["repeats"]) == 1 else found["repeats"]
    results.validate(result)
    lines = report.table(result).splitlines()
    assert lines[0].split()[:4] == ["scenario", "step", "req/s", "range"]
    assert lines[2].split()[:4] == ["list", "01-naive", "30.0", "25.0-35.0"]


def test_charts_are_svg_with_titles_units_and_step_labels(result, tmp_path):
    written = report.charts(result, tmp_path)
    every_step = written[: len(report.CHARTS)]
    assert [p.name for p in every_step] == [name for name, *_ in report.CHARTS]
    # The home page's ladder, one chart per step page, and the queries of each step
    # whose counts changed.
    changed = [
        step["slug"]
        for before, step in itertools.pairwise(result["steps"])
        if any(
            found["queries_per_request"] != before["scenarios"][name]["queries_per_request"]
            for name, found in step["scenarios"].items()
        )
    ]
    assert changed, "the example run's steps send different counts"
    assert [p.relative_to(tmp_path).as_posix() for p in written[len(report.CHARTS) :]] == [
        f"{report.LADDER}.svg",
        *(f"{report.STEP_CHARTS}/{step['slug']}.svg" for step in result["steps"]),
        *(f"{report.STEP_CHARTS}/{slug}-queries.svg" for slug in changed),
    ]
    counts = "".join(ET.parse(written[-1]).getroot().itertext())
    assert "SQL queries per request (fewer is better)" in counts
    for path in written:
        assert "100,000 customers" in "".join(ET.parse(path).getroot().itertext()), path
    for path in every_step:
        text = "".join(ET.parse(path).getroot().itertext())
        assert "01-naive" in text
        assert "02-asgi" in text
    throughput = "".join(ET.parse(written[0]).getroot().itertext())
    # 30 to 3,000 requests/s spans two orders of magnitude: a linear axis would hide 30.
    assert "requests per second (log scale)" in throughput
    assert "mixed-open" not in throughput, "an arrival rate is not a throughput"
    queries = "".join(ET.parse(written[2]).getroot().itertext())
    assert "mixed-open" not in queries
    # A step's own chart: its throughput beside the step before's, each bar labelled.
    second = "".join(ET.parse(tmp_path / report.STEP_CHARTS / "02-asgi.svg").getroot().itertext())
    assert "Step 02-asgi against 01-naive" in second
    for step in result["steps"]:
        assert report.number(step["scenarios"]["list"]["requests_per_second"]) in second
    assert "mixed-open" not in second


def test_charts_are_reproducible(result, tmp_path):
    first = [p.read_bytes() for p in report.charts(result, tmp_path / "a")]
    second = [p.read_bytes() for p in report.charts(result, tmp_path / "b")]
    assert first == second


K6_SUMMARY = {
    "scenario": "list",
    "model": "closed",
    "duration_ms": 5012.3,
    "requests": 640,
    "requests_per_second": 127.7,
    "iterations": 640,
    "dropped_iterations": 0,
    "latency_ms": {"avg": 60.1, "p50": 55.2, "p95": 92.4, "p99": 103.0, "max": 140.2},
    "error_rate": 0.0,
    "errors": 0,
    "checks_failed": 0,
}


def test_a_k6_summary_becomes_a_scenario_entry():
    entry = workload.measured(K6_SUMMARY, 5.0)
    assert entry["requests"] == 640
    assert entry["requests_per_second"] == 127.7
    assert entry["latency_ms"]["p95"] == 92.4
    assert entry["queries_per_request"] is None
    assert entry["error_kinds"] == dict.fromkeys(workload.ERROR_KINDS, 0)


def test_the_kinds_of_error_are_kept_and_summed_over_the_repeats():
    failing = {**K6_SUMMARY, "errors": 9, "unavailable": 5, "server_errors": 1, "unanswered": 2}
    runs = [workload.measured(failing, 5.0), workload.measured(K6_SUMMARY, 5.0)]
    assert workload.combined(runs)["error_kinds"] == {
        "unavailable": 5,
        "server_errors": 1,
        "unanswered": 2,
    }


def probed(path: str, *queries: tuple[str, float, dict | None]) -> dict:
    return {
        "method": "GET",
        "path": path,
        "queries": [{"sql": sql, "time_ms": ms, "plan": plan} for sql, ms, plan in queries],
    }


def test_the_main_query_is_the_costliest_of_the_slowest_request():
    """A page-number search spends its time in the COUNT, not in the page it counts."""
    limit = {"Node Type": "Limit", "Plans": [{"Node Type": "Seq Scan", "Relation Name": "t"}]}
    count = {"Node Type": "Aggregate", "Plans": [{"Node Type": "Seq Scan", "Relation Name": "t"}]}
    quick = probed("/quick", ("SELECT 1 LIMIT 20", 0.5, limit))
    slow = probed(
        "/slow",
        ("SELECT COUNT(*) FROM t WHERE x LIKE '%a%'", 600.0, count),
        ("SELECT * FROM t WHERE x LIKE '%a%' LIMIT 20", 2.5, limit),
    )
    found = untimed.main_query([quick, slow])
    assert found["path"] == "/slow"
    assert found["sql"].startswith("SELECT COUNT(*)")
    assert found["outline"] == "Aggregate > Seq Scan(t)"
    assert found["request_time_ms"] == 602.5
    assert untimed.main_query([probed("/none")]) is None


def test_every_probed_query_is_kept_with_its_time_and_statement():
    requests = [
        probed("/a", ("SELECT * FROM address WHERE id = 7", 0.1, None), ("SELECT 'x'", 0.2, None)),
        probed("/b", ("SELECT * FROM address WHERE id = 9", 0.3, None)),
    ]
    kept = untimed.probed_requests(requests)
    assert kept["statements"] == ["SELECT * FROM address WHERE id = ?", "SELECT ?"]
    assert [r["queries"] for r in kept["requests"]] == [[[0, 0.1], [1, 0.2]], [[0, 0.3]]]


def test_a_breakdown_groups_an_n_plus_one_and_shares_the_time():
    queries = [{"statement": "page", "time_ms": 6.0}]
    queries += [{"statement": "address", "time_ms": 0.2}] * 20
    page, lookups = probe.breakdown(queries)
    assert (page["count"], lookups["count"]) == (1, 20)
    assert page["share"] == pytest.approx(0.6)
    assert lookups["share"] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SCENARIOS": "list,teleport"}, "teleport"),
        ({"DURATION": "soon"}, "DURATION"),
        ({"VUS": "0"}, "VUS"),
    ],
)
def test_bad_settings_are_explained(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=message):
        run.Settings.from_env()


def test_repeats_default_to_one_and_must_be_a_whole_number(monkeypatch):
    monkeypatch.delenv("REPEATS", raising=False)
    assert run.Settings.from_env().repeats == 1
    monkeypatch.setenv("REPEATS", "3")
    assert run.Settings.from_env().repeats == 3
    monkeypatch.setenv("REPEATS", "2.5")
    with pytest.raises(SystemExit, match="REPEATS"):
        run.Settings.from_env()


def test_settings_take_durations_with_or_without_a_unit(monkeypatch):
    monkeypatch.setenv("DURATION", "7s")
    monkeypatch.setenv("SCENARIOS", "search, list")
    settings = run.Settings.from_env()
    assert settings.duration_s == 7.0
    assert settings.scenarios == ["search", "list"]


def test_scenario_requests_are_built_from_terms_alone():
    terms = {
        kind: {"hot": [f"{kind}-hot"], "cold": [f"{kind}-cold"]}
        for kind in ("last_names", "first_names", "cities", "customer_ids")
    }
    terms["ids"] = {"hot": [1], "cold": [2]}
    # Every country is hot, the commonest first (bench/database.py sample_terms).
    terms["countries"] = {"hot": ["Common", "Rare"], "cold": []}
    built = probe.scenario_requests(terms)
    assert built == probe.scenario_requests(terms)
    assert set(built) == set(workload.SCENARIOS) - {"mixed", "mixed-reads"}
    assert "/api/customers/1/" in built["detail"]
    assert f"{probe.LIST}?country=rare" in built["filter"]


def drawn(svg: bytes) -> str:
    """An SVG as drawn, less what another machine's floating point changes: coordinates
    past three decimals (one CPU writes 391.454687 where another writes 391.454688), and
    the clip-path ids matplotlib hashes from those coordinates."""
    ids: dict[str, str] = {}
    text = re.sub(
        r"\bp[0-9a-f]{10}\b", lambda m: ids.setdefault(m.group(), f"clip{len(ids)}"), svg.decode()
    )
    return re.sub(r"-?\d+\.\d+", lambda m: f"{float(m.group()):.3f}", text)


def test_drawn_ignores_the_last_decimals_and_nothing_else():
    one = b'<path d="M 391.454687 4.5" clip-path="url(#pd5cabf49bc)"/>'
    other = b'<path d="M 391.454688 4.5" clip-path="url(#p0a0fd8eecc)"/>'
    assert drawn(one) == drawn(other)
    assert drawn(one) != drawn(one.replace(b"391.45", b"392.45"))


def test_the_published_result_validates_and_its_charts_are_current(tmp_path):
    """media/ is drawn from the published run, never edited by hand."""
    published = results.load(results.published())
    for path in report.charts(published, tmp_path):
        committed = report.MEDIA_DIR / path.relative_to(tmp_path)
        assert drawn(committed.read_bytes()) == drawn(path.read_bytes()), (
            f"run `make report RESULTS=published`: {path.name}"
        )


def test_one_column_list_renders_a_markdown_and_a_terminal_table():
    columns = [tables.Column("step", width=8), tables.Column("req/s", ">", 7)]
    rows = [["01-naive", "5.3"], ["02-asgi", "1,204.0"]]
    assert tables.markdown(columns, rows).splitlines() == [
        "| step | req/s |",
        "|---|--:|",
        "| 01-naive | 5.3 |",
        "| 02-asgi | 1,204.0 |",
    ]
    assert [*tables.text_header(columns), *(tables.text_line(columns, r) for r in rows)] == [
        "step       req/s",
        "----------------",
        "01-naive     5.3",
        "02-asgi  1,204.0",
    ]


def test_a_changed_result_or_chart_does_not_make_a_run_dirty_and_changed_code_does(
    tmp_path, monkeypatch
):
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    for name in ("bench/run.py", "docs/results/names.json", "media/ladder.svg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("one\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    monkeypatch.setattr(results.paths, "ROOT", tmp_path)
    assert results.git_revision()[1] is False
    (tmp_path / "docs/results/names.json").write_text("two\n")
    (tmp_path / "media/ladder.svg").write_text("two\n")
    assert results.git_revision()[1] is False
    (tmp_path / "bench/run.py").write_text("two\n")
    assert results.git_revision()[1] is True
