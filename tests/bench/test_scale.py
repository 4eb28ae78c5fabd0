"""make bench-scale: sizes read as people write them, and a small real run end to end."""

from __future__ import annotations

import json

import pytest

from bench import database, scale, services, steps, workload

# One page-number step and one cursor step: the deep page is reached both ways.
CHOSEN = [steps.select(4), steps.select(5)]
SIZES = [2_000, 3_000]
PREFIX = "crm_test_scale"


@pytest.mark.parametrize(
    ("raw", "sizes"),
    [
        ("10k,100k,1M,3M", [10_000, 100_000, 1_000_000, 3_000_000]),
        ("1M, 10k, 1m", [10_000, 1_000_000]),
        ("2500,1.5M", [2_500, 1_500_000]),
        ("", list(scale.SIZES)),
        (None, list(scale.SIZES)),
    ],
)
def test_sizes_are_read_as_written(raw, sizes):
    assert scale.sizes_from(raw) == sizes


@pytest.mark.parametrize("raw", ["ten", "10q", "500"])
def test_a_size_that_is_not_one_is_refused_by_name(raw):
    with pytest.raises(SystemExit, match=raw):
        scale.sizes_from(raw)


@pytest.mark.parametrize(
    ("size", "shown"), [(10_000, "10k"), (100_000, "100k"), (1_000_000, "1M"), (3_000_000, "3M")]
)
def test_labels(size, shown):
    assert scale.label(size) == shown


def test_the_settings_are_one_client_on_the_scale_scenarios():
    settings = scale.settings_from({"DURATION": "2", "VUS": "8", "SCENARIOS": "write"})
    assert (settings.vus, settings.duration_s) == (1, 2)
    assert settings.scenarios == list(scale.SCENARIOS)


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale") / "scale.json"
    settings = scale.settings_from({"DURATION": "1", "WARMUP": "1"})
    scale.scale(SIZES, 7, CHOSEN, settings, path, prefix=PREFIX)
    yield path, settings
    database.drop_all(services.ensure().database_url, PREFIX)


def test_every_step_answers_every_scenario_at_every_size(scaled):
    path, _ = scaled
    found = json.loads(path.read_text())
    assert [entry["customers"] for entry in found["sizes"]] == SIZES
    for entry in found["sizes"]:
        assert set(entry["steps"]) == {step.slug for step in CHOSEN}
        for slug, scenarios in entry["steps"].items():
            assert list(scenarios) == list(scale.SCENARIOS), slug
            for name, figure in scenarios.items():
                assert figure["requests"] > 0, (entry["label"], slug, name)
                assert figure["errors"] == 0, (entry["label"], slug, name)
                assert 0 < figure["p50_ms"] <= figure["p95_ms"], (entry["label"], slug, name)
                # Neither step caches: no response says hit or miss.
                assert figure["cache_hit_ratio"] is None, (entry["label"], slug, name)


def test_each_size_keeps_the_plan_and_buffers_of_each_planned_page(scaled):
    path, _ = scaled
    for entry in json.loads(path.read_text())["sizes"]:
        assert set(entry["plans"]) == {step.slug for step in CHOSEN}
        for slug, plans in entry["plans"].items():
            assert list(plans) == list(scale.PLANNED), slug
            for name, found in plans.items():
                assert found["plan"].startswith("Limit > "), (entry["label"], slug, name)
                assert found["buffers"] > 0, (entry["label"], slug, name)
        # Step 04 counts beside its page; step 05 sends the page query alone, and its
        # page 50, reached by its cursor, starts inside the ordering's index.
        page, cursor = entry["plans"][CHOSEN[0].slug], entry["plans"][CHOSEN[1].slug]
        assert page["list"]["queries"] == page["deep"]["queries"] == 2
        assert cursor["list"]["queries"] == cursor["deep"]["queries"] == 1
        assert "Index Scan" in cursor["deep"]["plan"]


def test_each_size_records_the_disk_its_databases_took(scaled):
    path, _ = scaled
    disk = [entry["disk_bytes"] for entry in json.loads(path.read_text())["sizes"]]
    # Every size holds a base, a template and a clone per step: more than one empty database.
    assert all(size > 3 * 7_000_000 for size in disk), disk
    assert disk[0] < disk[1], disk


def test_each_size_leaves_no_database_behind(scaled):
    assert not database.drop_all(services.ensure().database_url, PREFIX)


def test_a_second_run_keeps_the_sizes_measured(scaled, capsys):
    path, settings = scaled
    before = path.read_text()
    scale.scale(SIZES, 7, CHOSEN, settings, path, prefix=PREFIX)
    assert json.loads(path.read_text())["sizes"] == json.loads(before)["sizes"]
    assert capsys.readouterr().out.count("kept from the earlier run") == len(SIZES)


def test_one_log_log_chart_per_scenario(scaled, tmp_path):
    path, _ = scaled
    written = scale.charts(json.loads(path.read_text()), tmp_path)
    assert [chart.stem for chart in written] == list(scale.SCENARIOS)
    for chart in written:
        svg = chart.read_text()
        assert "log scale" in svg
        assert all(step.slug in svg for step in CHOSEN)


def test_the_deep_scenario_needs_its_page(scaled):
    """k6 refuses `deep` without DEEP_URL instead of measuring nothing."""
    settings = scale.settings_from({"DURATION": "1"})
    terms = database.terms_path(database.base_fingerprint(SIZES[0], 7))
    with pytest.raises(workload.BenchError, match="DEEP_URL"):
        workload.k6("http://127.0.0.1:9", terms, "deep", settings, 1)
