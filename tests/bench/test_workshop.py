"""The workshop: an exercise is the step before with the step's facts, and the checker
fails on it until the attendee has done the work.

That the checker passes on each step's own code ``make test`` shows in two ways: it
runs every step's own suite through the checker's first stage (``bench.testrun``), and
the proofs and the contract through the same ``steps.under_test()`` on every step. One
copy, step 04's, is also solved and checked through every stage here; ``make rehearse``
does that for every step.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import steps, venvs, workshop

LADDER = steps.discover()


def quiet(*args, **kwargs) -> None:
    pass


def files(path: Path) -> dict[str, bytes]:
    return workshop._files(path)


def test_an_exercise_is_the_step_before_with_the_steps_facts_and_tests(tmp_path: Path):
    keyset = steps.select("5")
    before = steps.select("4")
    copy = workshop.exercise(keyset, root=tmp_path)
    assert copy == tmp_path / keyset.slug
    assert files(copy / "crm") == files(before.path / "crm")
    assert files(copy / "config") == files(before.path / "config")
    for name in workshop.FROM_STEP:
        assert files(copy / name) == files(keyset.path / name), name
    judged = workshop.load(keyset, root=tmp_path)
    # Judged, served and cloned as step 05: its pagination, its venv, its database.
    assert (judged.number, judged.pagination) == (keyset.number, "cursor")
    assert venvs.path(judged) == venvs.path(keyset)
    assert venvs._fingerprint(judged) == venvs._fingerprint(keyset)
    assert judged.database_name() == keyset.database_name()
    assert judged.migrations != keyset.migrations


def test_an_exercise_never_overwrites_work_unless_told(tmp_path: Path):
    step = steps.select("3")
    copy = workshop.exercise(step, root=tmp_path)
    (copy / "crm" / "mine.py").write_text("work = 1\n")
    with pytest.raises(workshop.WorkshopError, match="RESET=1"):
        workshop.exercise(step, root=tmp_path)
    assert (copy / "crm" / "mine.py").is_file()
    workshop.exercise(step, root=tmp_path, reset=True)
    assert not (copy / "crm" / "mine.py").exists()


def test_the_first_step_has_no_exercise(tmp_path: Path):
    with pytest.raises(workshop.WorkshopError, match="make exercise STEP=2"):
        workshop.exercise(steps.select("1"), root=tmp_path)
    with pytest.raises(workshop.WorkshopError, match="the exercises are 02 to"):
        workshop.load(steps.select("1"), root=tmp_path)


def test_checking_a_missing_exercise_says_how_to_make_it(tmp_path: Path):
    with pytest.raises(workshop.WorkshopError, match="make exercise STEP=4"):
        workshop.load(steps.select("4"), root=tmp_path)


def test_the_checker_puts_back_tests_an_attendee_changed(tmp_path: Path):
    step = steps.select("3")
    copy = workshop.exercise(step, root=tmp_path)
    assert workshop.bring(step, copy) == []
    (copy / "tests" / "test_queries.py").write_text("def test_nothing():\n    pass\n")
    (copy / "tests" / "test_extra.py").write_text("def test_nothing():\n    pass\n")
    (copy / "pytest.ini").write_text("[pytest]\n")
    assert workshop.bring(step, copy) == ["pytest.ini", "tests"]
    assert files(copy / "tests") == files(step.path / "tests")
    assert files(copy / "pytest.ini") == files(step.path / "pytest.ini")


def test_the_step_suites_judge_one_folder_when_told(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(steps.UNDER_TEST, raising=False)
    assert [s.slug for s in steps.under_test()] == [s.slug for s in LADDER]
    copy = workshop.exercise(steps.select("6"), root=tmp_path)
    monkeypatch.setenv(steps.UNDER_TEST, str(copy))
    assert [s.path for s in steps.under_test()] == [copy]


def test_the_tests_an_exercise_is_about_run_first():
    keyset = steps.select("5")
    order = workshop.new_first(keyset)
    files = (keyset.path / "tests").glob("test_*.py")
    assert sorted(order) == sorted(path.relative_to(keyset.path).as_posix() for path in files)
    new = {"tests/test_pagination.py", "tests/test_points_copy.py"}
    assert set(order[:3]) >= new
    assert order.index("tests/test_async.py") > order.index("tests/test_pagination.py")


FAILING = """
import crm_missing_module  # noqa: F401
"""
JUDGED = """
import pytest


def test_a_list_page_costs_two_queries():
    queries = 3
    assert queries == 2, "a list page ran 3 queries"


@pytest.mark.parametrize("ordering", ["created", "-points"])
def test_every_ordering_is_served_by_an_index(ordering):
    assert ordering == "created"


def test_what_is_already_done():
    pass
"""


def test_unmet_expectations_are_read_from_a_real_report_in_plain_words(tmp_path: Path):
    (tmp_path / "test_judged.py").write_text(JUDGED)
    (tmp_path / "test_broken.py").write_text(FAILING)
    report = tmp_path / "report.xml"
    subprocess.run(
        [sys.executable, *workshop.PYTEST, f"--junitxml={report}"],
        cwd=tmp_path,
        capture_output=True,
    )
    found = workshop.unmet(report)
    assert len(found) == 3, found
    assert "test_broken.py cannot be loaded: ModuleNotFoundError" in found[0]
    assert found[1] == "a list page costs two queries: AssertionError: a list page ran 3 queries"
    assert found[2].startswith("every ordering is served by an index (-points): ")
    assert not any("already done" in line for line in found)


def test_a_stage_that_never_wrote_a_report_says_so(tmp_path: Path):
    assert workshop.unmet(tmp_path / "absent.xml") == [
        "the stage stopped before it judged anything: see its output above"
    ]


@pytest.mark.parametrize("step", LADDER[1:], ids=lambda s: s.slug)
def test_the_checker_fails_on_the_unmodified_copy(step: steps.Step, tmp_path: Path, servers):
    workshop.exercise(step, root=tmp_path)
    judged = workshop.load(step, root=tmp_path)
    outcomes = workshop.check(judged, servers, first_failure=True, quiet=True, log=quiet)
    assert not outcomes[-1].passed, [o.stage.name for o in outcomes]
    assert all(o.passed for o in outcomes[:-1])
    assert outcomes[-1].unmet, outcomes[-1].stage.name
    summary = workshop.summary(judged, outcomes, len(workshop.stages(judged, servers)))
    assert "Not met yet" in summary
    assert outcomes[-1].unmet[0] in summary


def explained(slug: str, servers) -> str:
    from bench import probe
    from tests.datasets import SMALL

    step = steps.select(slug)
    return probe.explain(step, SMALL.step_url(servers.database_url, step), LIST_OF_FIVE)


def test_explain_shows_the_n_plus_one_that_exercise_03_removes(servers):
    before, after = explained("02-asgi", servers), explained("03-select-related", servers)
    # A page of five: each customer's address and relationship looked up one by one,
    # grouped as one statement each (a customer may lack either).
    lookups = re.findall(
        r"^ +(\d+) x .*FROM \"(address|customer_relationship)\" WHERE", before, re.M
    )
    assert {table for _, table in lookups} == {"address", "customer_relationship"}
    assert all(1 <= int(count) <= 5 for count, _ in lookups), lookups
    assert sum(int(count) for count, _ in lookups) > 2, lookups
    assert "-> 200: 2 queries" in after
    for said in (before, after):
        assert "plan of the page query:" in said
        assert "COUNT(*)" in said


LIST_OF_FIVE = "/api/customers/?page_size=5"


def test_the_checker_passes_a_copy_solved_with_the_steps_own_code(tmp_path: Path, servers):
    """Every stage, end to end, on the step whose proof is the plans: the same copy that
    fails at the proofs as made passes all three once it holds step 04's code."""
    step = steps.select("4")
    copy = workshop.exercise(step, root=tmp_path)
    workshop.solve(step, copy)
    outcomes = workshop.check(workshop.load(step, root=tmp_path), servers, quiet=True, log=quiet)
    assert [o.stage.name for o in outcomes] == ["own-tests", "proofs", "contract"]
    assert all(o.passed for o in outcomes), [(o.stage.name, o.unmet[:3]) for o in outcomes]
