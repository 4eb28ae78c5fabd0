"""The command line: how CUSTOMERS / SEED are resolved, and errors a person can act on."""

from __future__ import annotations

import argparse

import pytest

from bench import cli, database, serve, steps


def namespace(customers=None, seed=None, reuse=True) -> argparse.Namespace:
    return argparse.Namespace(customers=customers, seed=seed, reuse_dataset=reuse)


def test_serve_reuses_the_seeded_data_set():
    args = namespace()
    cli._resolve_dataset(args, (3_000_000, 42))
    assert (args.customers, args.seed) == (3_000_000, 42)


def test_given_values_win():
    args = namespace(customers=500)
    cli._resolve_dataset(args, (3_000_000, 42))
    assert (args.customers, args.seed) == (500, 42)


def test_defaults_without_a_seeded_base_or_for_seed_itself():
    args = namespace()
    cli._resolve_dataset(args, None)
    assert (args.customers, args.seed) == (database.DEFAULT_CUSTOMERS, database.DEFAULT_SEED)
    args = namespace(reuse=False)
    cli._resolve_dataset(args, (3_000_000, 42))
    assert args.customers == database.DEFAULT_CUSTOMERS


@pytest.mark.parametrize(
    ("value", "message"), [("many", "must be a number"), ("0", "must be more than 0")]
)
def test_bad_numbers_in_the_environment_are_explained(monkeypatch, value, message):
    monkeypatch.setenv("CUSTOMERS", value)
    with pytest.raises(SystemExit, match=f"CUSTOMERS {message}"):
        cli._int_env("CUSTOMERS")


def test_thousands_separators_are_accepted(monkeypatch):
    monkeypatch.setenv("CUSTOMERS", "3_000_000")
    assert cli._int_env("CUSTOMERS") == 3_000_000


def test_an_unknown_step_is_a_clear_error(capsys):
    assert cli.main(["serve", "42"]) == 2
    assert "no step '42'; the steps are: 01-naive" in capsys.readouterr().err


def test_a_step_whose_server_is_not_installed_is_skipped_in_one_line(capsys):
    present = steps.discover()
    fleet = [step for step in present if "pgbouncer" in step.services]
    assert fleet
    lacking = {"pgbouncer": "PgBouncer is not installed: apt-get install pgbouncer"}
    kept = serve.installed(present, lacking.get)
    assert kept == [step for step in present if step not in fleet]
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        f"[bench] skipping {step.slug}: PgBouncer is not installed: apt-get install pgbouncer"
        for step in fleet
    ]
    assert serve.installed(present, lambda name: None) == present
