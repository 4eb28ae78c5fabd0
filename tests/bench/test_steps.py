"""step.toml parsing, step selection and the server command built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import steps, workload

TOML = """number = {number}
slug = "{slug}"
title = "Title"
summary = "Summary"
server = "{server}"
pagination = "page"
search = "substring"
services = {services}
symptom = "Slow"
shows = ["list"]
"""


def make(root: Path, slug: str, server: str = "gunicorn", services: str = '["postgres"]') -> Path:
    folder = root / slug
    folder.mkdir()
    (folder / "step.toml").write_text(
        TOML.format(number=int(slug[:2]), slug=slug, server=server, services=services)
    )
    return folder


@pytest.fixture
def ladder(tmp_path: Path) -> Path:
    make(tmp_path, "01-naive")
    make(tmp_path, "02-asgi", server="uvicorn")
    make(tmp_path, "03-select-related", services='["postgres", "redis"]')
    return tmp_path


@pytest.mark.parametrize("selector", ["3", "03", "03-select-related", 3, " 3 "])
def test_every_way_of_naming_a_step(ladder: Path, selector):
    assert steps.select(selector, ladder).slug == "03-select-related"


def test_unknown_step_lists_the_known_ones(ladder: Path):
    with pytest.raises(steps.StepError, match="01-naive, 02-asgi, 03-select-related"):
        steps.select("9", ladder)


def test_select_many(ladder: Path):
    assert [s.number for s in steps.select_many("1,3", ladder)] == [1, 3]
    assert [s.number for s in steps.select_many("", ladder)] == [1, 2, 3]
    assert [s.number for s in steps.select_many("all", ladder)] == [1, 2, 3]


def test_a_gap_in_the_numbers_is_an_error(tmp_path: Path):
    make(tmp_path, "01-naive")
    make(tmp_path, "03-select-related")
    with pytest.raises(steps.StepError, match="without gaps"):
        steps.discover(tmp_path)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("server", '"daphne"', "server: 'daphne' is not one of \\['gunicorn', 'uvicorn'\\]"),
        ("pagination", '"infinite-scroll"', "pagination: 'infinite-scroll' is not one of"),
        ("search", '"regex"', "search: 'regex' is not one of"),
        ("services", '["redis"]', "services: .* does not contain items matching"),
        ("services", '["postgres", "kafka"]', "services.1: 'kafka' is not one of"),
        ("slug", '"02-other"', "slug: '02-other' must equal the folder name"),
        ("number", '"one"', "number: 'one' is not of type 'integer'"),
        ("title", '""', "title: '' should be non-empty"),
        ("summary", '"S"\nsumary = "typo"', "'sumary' was unexpected"),
    ],
)
def test_invalid_step_toml_is_explained(tmp_path: Path, field: str, value: str, message: str):
    folder = make(tmp_path, "01-naive")
    lines = [
        f"{field} = {value}" if line.startswith(f"{field} =") else line
        for line in (folder / "step.toml").read_text().splitlines()
    ]
    (folder / "step.toml").write_text("\n".join(lines))
    with pytest.raises(steps.StepError, match=message) as error:
        steps.load(folder)
    assert str(folder / "step.toml") in str(error.value)


@pytest.mark.parametrize("field", ["symptom", "shows"])
def test_a_step_after_the_first_names_what_it_fixes(tmp_path: Path, field: str):
    folder = make(tmp_path, "02-asgi", server="uvicorn")
    toml = folder / "step.toml"
    toml.write_text(
        "\n".join(line for line in toml.read_text().splitlines() if not line.startswith(field))
    )
    with pytest.raises(steps.StepError, match=f"{field}: '{field}' is a required property"):
        steps.load(folder)


def test_the_real_steps_say_what_they_fix_in_scenarios_the_workload_has():

    ladder = steps.discover()
    assert not ladder[0].shows
    for step in ladder[1:]:
        assert step.symptom.endswith("."), step.slug
        assert set(step.shows) <= set(workload.SCENARIOS), step.slug


def test_worker_counts_follow_each_servers_docs():
    assert steps.workers("gunicorn", cores=2) == 5
    assert steps.workers("uvicorn", cores=2) == 2
    assert steps.workers("gunicorn", cores=8) == 17


def test_server_commands(ladder: Path):
    gunicorn = steps.server_command(steps.select(1, ladder), "py", "127.0.0.1", 8001, cores=2)
    assert gunicorn[:4] == ["py", "-m", "gunicorn", "config.wsgi:application"]
    assert gunicorn[gunicorn.index("--workers") + 1] == "5"
    assert gunicorn[gunicorn.index("--bind") + 1] == "127.0.0.1:8001"
    uvicorn = steps.server_command(steps.select(2, ladder), "py", "0.0.0.0", 8000, cores=2)
    assert uvicorn[:4] == ["py", "-m", "uvicorn", "config.asgi:application"]
    assert uvicorn[uvicorn.index("--workers") + 1] == "2"


def test_the_real_steps_load():
    found = steps.discover()
    assert found[0].slug == "01-naive"
    assert found[0].server == "gunicorn"
    assert found[0].database_name() == "crm_step_01"
    assert found[0].database_name("crm_test") == "crm_test_step_01"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"tests/test_a.py"', "timed_tests: 'tests/test_a.py' is not of type 'array'"),
        ('["tests/a.py"]', "timed_tests.0: 'tests/a.py' does not match"),
    ],
)
def test_timed_tests_must_name_test_files(tmp_path: Path, value: str, message: str):
    folder = make(tmp_path, "01-naive")
    toml = folder / "step.toml"
    toml.write_text(toml.read_text() + f"timed_tests = {value}\n")
    with pytest.raises(steps.StepError, match=message):
        steps.load(folder)
    toml.write_text(toml.read_text().replace(value, '["tests/test_a.py"]'))
    assert steps.load(folder).timed_tests == ("tests/test_a.py",)


@pytest.mark.parametrize("step", steps.discover(), ids=lambda s: s.slug)
def test_the_timed_tests_of_the_real_steps_are_there(step):
    # Checked here, not as a step loads: a step's image has no tests/ (docker/entrypoint.py).
    assert [name for name in step.timed_tests if not (step.path / name).is_file()] == []


@pytest.mark.parametrize(
    ("cores", "max_connections"), [(1, 100), (2, 100), (8, 100), (2, 200), (64, 200)]
)
def test_two_servers_with_every_pool_full_stay_within_max_connections(cores, max_connections):
    """PostgreSQL's "too many clients" never reaches a client: the harness sizes each
    worker's pool (DB_POOL_MAX_SIZE) from the server's max_connections."""
    count = steps.workers("uvicorn", cores)
    size = steps.pool_size(count, max_connections)
    assert 1 <= size <= steps.POOL_MAX_SIZE
    assert 2 * count * size + steps.RESERVED_CONNECTIONS <= max_connections


def test_a_server_too_small_for_the_workers_is_a_clear_error():
    with pytest.raises(steps.StepError, match="raise max_connections or set DB_POOL_MAX_SIZE"):
        steps.pool_size(64, 100)
