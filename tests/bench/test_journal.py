"""A long run stops and goes on: finished cells are kept, and only for the same run."""

from __future__ import annotations

import pytest

from bench import journal, run

IDENTITY = {"steps": ["01-naive"], "customers": 1000, "seed": 1, "settings": {"repeats": 3}}


@pytest.fixture(autouse=True)
def directory(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "DIRECTORY", tmp_path)
    return tmp_path


def test_the_same_run_goes_on_with_what_it_finished():
    first = journal.Journal.open(IDENTITY)
    assert first.begin_sitting() == 0
    first.keep_cell("01-naive", "list", 1, {"requests": 10})
    first.keep_step("01-naive", {"probed": {}})

    again = journal.Journal.open(IDENTITY)
    assert again.begin_sitting() == 1
    assert again.cell("01-naive", "list", 1) == {"requests": 10}
    assert again.cell("01-naive", "list", 2) is None
    assert again.step("01-naive") == {"probed": {}}
    assert again.state["sittings"] == 2
    assert again.state["started"] == first.state["started"]


def test_other_settings_or_fresh_start_over():
    kept = journal.Journal.open(IDENTITY)
    kept.keep_cell("01-naive", "list", 1, {"requests": 10})
    other = journal.Journal.open({**IDENTITY, "settings": {"repeats": 5}})
    assert other.cell("01-naive", "list", 1) is None
    assert journal.Journal.open(IDENTITY, fresh=True).cell("01-naive", "list", 1) is None


def test_a_finished_run_leaves_no_journal(directory):
    kept = journal.Journal.open(IDENTITY)
    kept.keep_cell("01-naive", "list", 1, {"requests": 10})
    assert list(directory.iterdir())
    kept.discard()
    assert not list(directory.iterdir())
    assert journal.Journal.open(IDENTITY).cell("01-naive", "list", 1) is None


def test_a_killed_sitting_still_counts_its_time():
    kept = journal.Journal.open(IDENTITY)
    kept.keep_cell("01-naive", "list", 1, {})
    assert journal.Journal.open(IDENTITY).state["elapsed_s"] > 0


def test_presets_fill_only_what_the_environment_leaves_unset(monkeypatch):
    monkeypatch.delenv("DURATION", raising=False)
    monkeypatch.setenv("REPEATS", "5")
    quick = run.Settings.from_env(run.preset_env("quick"))
    full = run.Settings.from_env(run.preset_env("publication"))
    assert (quick.repeats, quick.details) == (5, False)
    assert (full.repeats, full.details) == (5, True)
    assert quick.duration_s == float(run.PRESETS["quick"]["DURATION"]) < full.duration_s
    assert run.preset_env("publication")["CUSTOMERS"] == "1000000"
    with pytest.raises(SystemExit, match="unknown preset"):
        run.preset_env("fast")


def test_a_resumed_run_credits_the_code_it_started_with(monkeypatch):
    monkeypatch.setattr(journal.results, "git_revision", lambda: ("aaa", False))
    journal.Journal.open(IDENTITY).keep_cell("01-naive", "list", 1, {})
    # Docs were edited and committed while the run was stopped; bench/ did not change.
    monkeypatch.setattr(journal.results, "git_revision", lambda: ("bbb", True))
    resumed = journal.Journal.open(IDENTITY)
    assert (resumed.state["git_revision"], resumed.state["git_dirty"]) == ("aaa", False)
