"""make measure-wal: both WAL levels measured on one server, which is left as it was."""

from __future__ import annotations

import pytest

from bench import run, services, wal


@pytest.fixture(scope="module")
def measured(servers) -> dict:
    if not servers.embedded_postgres:
        pytest.skip("the measurement restarts the embedded PostgreSQL")
    settings = run.Settings.from_env({"DURATION": "1", "WARMUP": "1", "SCENARIOS": wal.SCENARIO})
    return wal.measure(2_000, 5, 1, settings, log=lambda _: None)


def test_each_level_seeds_and_writes_in_turn(measured):
    assert [entry["level"] for entry in measured["rounds"]] == list(wal.LEVELS)
    for entry in measured["rounds"]:
        assert entry["seed_s"] > 0
        assert entry["write_rps"] > 0


def test_each_round_ran_on_the_level_it_names_and_counted_its_wal(measured):
    for entry in measured["rounds"]:
        assert entry["wal_level"] == entry["level"]
        # Under minimal too: the catalog, and a small table's pages, are WAL-logged.
        assert entry["seed_wal_bytes"] > 0


def test_the_server_is_left_with_replica_wal(measured, servers):
    found = services.server_settings(servers.database_url)
    assert found["wal_level"] == services.PG_SETTINGS["wal_level"] == "replica"


def test_the_summary_of_one_round_is_that_rounds_figures(measured):
    shown = wal.summary(measured)
    for entry in measured["rounds"]:
        for name, (middle, low, high) in shown[entry["level"]].items():
            assert middle == low == high == entry[name], (entry["level"], name)
