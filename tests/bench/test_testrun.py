"""make test's summary: what the repository's suites spent on each step."""

from __future__ import annotations

from pathlib import Path

from bench import testrun

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.contract.test_reading" name="test_a[01-naive]" time="2.5"/>
<testcase classname="tests.contract.test_reading" name="test_b[last_name-02-asgi]" time="1.0"/>
<testcase classname="tests.contract.test_reading" name="test_a[02-asgi]" time="0.5"/>
<testcase classname="tests.bench.test_steps" name="test_select_many" time="0.25"/>
<testcase classname="tests.steps.test_keyset" name="test_c[01-naive-03-select-related]" time="4"/>
</testsuite></testsuites>
"""


def test_the_repository_suites_time_is_split_by_the_step_each_test_names(tmp_path: Path):
    report = tmp_path / "repository.xml"
    report.write_text(REPORT)
    spent = testrun.per_step(report, ["01-naive", "02-asgi", "03-select-related"])
    assert spent == {"01-naive": 2.5, "02-asgi": 1.5, "03-select-related": 4.0, "shared": 0.25}


def test_a_suite_that_wrote_no_report_spent_nothing(tmp_path: Path):
    assert testrun.per_step(tmp_path / "missing.xml", ["01-naive"]) == {
        "01-naive": 0.0,
        "shared": 0.0,
    }
