"""Every environment variable is read in bench/variables.py and listed in README.md."""

from __future__ import annotations

import re

import pytest

from bench import paths, variables

README = (paths.ROOT / "README.md").read_text()
# Passing the environment on to a child process, or a script inside a step's venv
# naming its settings module: not a read of a setting.
PASSED_ON = re.compile(
    r"\*\*os\.environ|os\.environ\.copy\(\)|os\.environ if env is None|dict\(os\.environ"
    r"|os\.environ\.items\(\)|os\.environ\.setdefault\(\"DJANGO_SETTINGS_MODULE\""
)


def test_the_readme_lists_every_variable_as_the_code_defines_it():
    listed = dict(re.findall(r"^\| `([A-Z_]+)` \| (?:`([^`]*)`|—) \|", README, re.M))
    assert listed == {v.name: v.default for v in variables.VARIABLES.values()}


def test_no_command_reads_the_environment_but_through_variables():
    readers = []
    for path in sorted((paths.ROOT / "bench").glob("*.py")):
        if path.name == "variables.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "os.environ" in PASSED_ON.sub("", line):
                readers.append(f"{path.name}:{number}: {line.strip()}")
    assert readers == []


def test_an_unknown_variable_is_a_mistake_not_an_empty_value():
    with pytest.raises(KeyError, match=r"bench/variables\.py"):
        variables.given("CUSTOMER")


@pytest.mark.parametrize(
    ("raw", "message"), [("many", "must be a number"), ("0", "must be more than 0")]
)
def test_a_number_that_is_not_one_is_refused_by_name(raw, message):
    with pytest.raises(SystemExit, match=f"VUS {message}"):
        variables.number("VUS", {"VUS": raw}, int)


@pytest.mark.parametrize(
    ("raw", "message"), [("most", "must be a number"), ("1.5", "must be from 0 to 1")]
)
def test_a_share_out_of_bounds_is_refused_by_name(raw, message):
    with pytest.raises(SystemExit, match=f"SPREAD {message}"):
        variables.share("SPREAD", {"SPREAD": raw})


def test_a_share_may_be_nothing_or_everything():
    assert variables.share("SPREAD", {}) == 0
    assert variables.share("SPREAD", {"SPREAD": "1"}) == 1


def test_a_flag_reads_as_a_person_writes_it():
    assert variables.flag("FRESH", {"FRESH": "yes"})
    assert not variables.flag("FRESH", {"FRESH": "off"})
    assert variables.flag("DETAILS", {})
