"""The workshop: rebuild a step from the one before it, and let a checker say what is
still missing.

``make exercise STEP=n`` copies step n-1 to ``workshop/NN-slug/`` and brings step n's
facts along: its ``step.toml`` (the copy is cloned, served and judged as step n), its
pinned requirements (it shares step n's virtualenv), its ``pytest.ini`` and its tests.
The attendee changes the code until ``make check STEP=n`` passes three stages:

1. step n's own tests, which pin its behaviour and its query counts;
2. the repository's proofs of step n's optimisation: plans, keyset walks, cache faults;
3. the contract suite, which every step passes.

The checker stops at the first stage that fails, since a later stage judges code that
an earlier one already found unfinished, and lists what is not met yet in plain words:
the tests' names are sentences.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from bench import database, paths, results, services, steps, variables, venvs
from bench.progress import clock

WORKSHOP_DIR = paths.ROOT / "workshop"
REPORTS = paths.REPORTS_DIR
RESULTS = WORKSHOP_DIR / "results"
# The dress rehearsal's record (make rehearse): the instructor notes' times.
REHEARSAL = results.RESULTS_DIR / "workshop.json"
# What an exercise takes from the step it builds, so that the copy is judged as that
# step; everything else is the step before, for the attendee to change.
FROM_STEP = (
    "step.toml",
    "requirements.txt",
    "requirements-test.txt",
    "pytest.ini",
    "tests",
    # Step 08's layer contracts, which its tests run: part of the task's statement.
    ".importlinter",
)
# The repository's tests that prove an optimisation rather than the contract; each
# skips itself on a step it does not concern.
PROOFS = (
    "tests/steps/test_plans.py",
    "tests/steps/test_filter_plans.py",
    "tests/steps/test_keyset_plans.py",
    "tests/steps/test_cache_faults.py",
    "tests/steps/test_cache_coherence.py",
    "tests/steps/test_transaction_pooling.py",
    "tests/steps/test_read_replica.py",
)
# A module that cannot be imported hides nothing else: the attendee sees every test.
PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors")


class WorkshopError(ValueError):
    """An exercise that cannot be made or checked; the message says what to do."""


def folder(step: steps.Step, root: Path = WORKSHOP_DIR) -> Path:
    return root / step.slug


def shown(path: Path) -> str:
    return str(path.relative_to(paths.ROOT)) if path.is_relative_to(paths.ROOT) else str(path)


def _files(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    if not path.is_dir():
        return {}
    return {
        found.relative_to(path).as_posix(): found.read_bytes()
        for found in sorted(path.rglob("*"))
        if found.is_file() and not set(found.parts) & set(steps.CACHE_DIRS)
    }


def bring(step: steps.Step, copy: Path) -> list[str]:
    """Put step n's facts and tests into ``copy``; return the names that had changed.

    The checker calls it too: a test edited until it passes proves nothing.
    """
    changed = []
    for name in FROM_STEP:
        source, target = step.path / name, copy / name
        if _files(source) == _files(target):
            continue
        changed.append(name)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        if not source.exists():
            continue
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns(*steps.CACHE_DIRS))
        else:
            shutil.copy2(source, target)
    return changed


def first_exercise(step: steps.Step) -> None:
    if step.number == 1:
        last = steps.discover()[-1].label
        raise WorkshopError(
            f"step 01 is where the ladder starts; the exercises are 02 to {last}: name one"
            " with STEP=n, as in make exercise STEP=2"
        )


def exercise(step: steps.Step, root: Path = WORKSHOP_DIR, reset: bool = False) -> Path:
    """Create the attendee's copy for building ``step``: step n-1's code, step n's facts."""
    first_exercise(step)
    before = steps.select(step.number - 1)
    copy = folder(step, root)
    if copy.exists():
        if not reset:
            raise WorkshopError(
                f"{shown(copy)} is there already and holds your work; RESET=1 starts it"
                f" again from {before.slug}"
            )
        shutil.rmtree(copy)
    shutil.copytree(before.path, copy, ignore=shutil.ignore_patterns(*steps.CACHE_DIRS))
    bring(step, copy)
    return copy


def solve(step: steps.Step, copy: Path) -> None:
    """Make ``copy`` what an attendee who finished would have: the step's own code."""
    shutil.rmtree(copy)
    shutil.copytree(step.path, copy, ignore=shutil.ignore_patterns(*steps.CACHE_DIRS))


def load(step: steps.Step, root: Path = WORKSHOP_DIR) -> steps.Step:
    """The attendee's copy of ``step``, as a step of its own."""
    first_exercise(step)
    copy = folder(step, root)
    if not copy.is_dir():
        raise WorkshopError(
            f"no exercise at {shown(copy)}: make exercise STEP={step.number} creates it"
        )
    return steps.load(copy)


@dataclass(frozen=True)
class Stage:
    name: str
    what: str
    command: list[str]
    cwd: Path
    env: dict[str, str]


def new_first(step: steps.Step) -> list[str]:
    """The step's test files, those new or changed since the step before it first: what
    an exercise is about is reported first, and a first failure is found soonest."""
    found = sorted(
        path.relative_to(step.path).as_posix() for path in (step.path / "tests").glob("test_*.py")
    )
    if step.number == 1:
        return found
    before = steps.select(step.number - 1).path

    def unchanged(name: str) -> bool:
        return (before / name).is_file() and (before / name).read_bytes() == (
            step.path / name
        ).read_bytes()

    return sorted(found, key=unchanged)


def own_tests(step: steps.Step, found: services.Services) -> Stage:
    """The step's own suite, in its own venv, as ``make test`` runs it."""
    return Stage(
        "own-tests",
        f"step {step.label}'s own tests: its behaviour and its query counts",
        [venvs.ensure(step), *PYTEST, *new_first(step)],
        step.path,
        {
            **os.environ,
            # pytest-django creates and drops test_crm_step_NN next to this name.
            "DATABASE_URL": services.with_database(found.database_url, step.database_name()),
            "REDIS_URL": found.redis_url or "",
        },
    )


def stages(step: steps.Step, found: services.Services) -> list[Stage]:
    judged = {**os.environ, steps.UNDER_TEST: str(step.path)}
    return [
        own_tests(step, found),
        Stage(
            "proofs",
            "the plans, walks and cache faults that prove the optimisation",
            [sys.executable, *PYTEST, *PROOFS],
            paths.ROOT,
            judged,
        ),
        Stage(
            "contract",
            "the API contract that every step keeps",
            [sys.executable, *PYTEST, "tests/contract"],
            paths.ROOT,
            judged,
        ),
    ]


PARAMETERS = re.compile(r"^(?P<name>[^\[]+)(?:\[(?P<params>.*)\])?$")


def sentence(case: ET.Element) -> str:
    """``test_a_detail_is_one_query[04-indexes]`` → ``a detail is one query (04-indexes)``."""
    match = PARAMETERS.match(case.get("name", ""))
    words = match.group("name").removeprefix("test_").replace("_", " ")
    return f"{words} ({match.group('params')})" if match.group("params") else words


def reason(problem: ET.Element, last: bool = False) -> str:
    """The line of a failure that says what went wrong: pytest marks it with ``E``; the
    first is the assertion, the last the error a module raised as it was imported."""
    lines = (problem.text or "").splitlines()
    raised = [line[1:].strip() for line in lines if line.startswith("E ") and line[1:].strip()]
    if raised:
        text = raised[-1] if last else raised[0]
    else:
        text = (problem.get("message") or "").split("\n", 1)[0]
    return text if len(text) <= 160 else text[:157] + "..."


def unmet(report: Path) -> list[str]:
    """Every expectation a JUnit report says is not met, in plain words."""
    if not report.is_file():
        return ["the stage stopped before it judged anything: see its output above"]
    found = []
    for case in ET.parse(report).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            continue
        if not case.get("classname"):
            module = case.get("name", "").replace(".", "/") + ".py"
            found.append(f"{module} cannot be loaded: {reason(problem, last=True)}")
        else:
            found.append(f"{sentence(case)}: {reason(problem)}")
    return found


@dataclass(frozen=True)
class Outcome:
    stage: Stage
    code: int
    unmet: list[str]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.code == 0


def check(
    step: steps.Step,
    found: services.Services,
    first_failure: bool = False,
    quiet: bool = False,
    log=print,
) -> list[Outcome]:
    """Run the stages on ``step`` (an attendee's copy or the step itself) until one
    fails; ``first_failure`` stops a stage at its first unmet expectation."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    planned = stages(step, found)
    outcomes = []
    for index, stage in enumerate(planned, 1):
        log(f"[check] {index}/{len(planned)} {stage.what}", flush=True)
        report = REPORTS / f"check-{step.slug}-{stage.name}.xml"
        report.unlink(missing_ok=True)
        started = time.perf_counter()
        done = subprocess.run(
            [*stage.command, f"--junitxml={report}", *(["-x"] if first_failure else [])],
            cwd=stage.cwd,
            env=stage.env,
            capture_output=quiet,
            text=True,
        )
        problems = unmet(report) if done.returncode else []
        if done.returncode and quiet and not report.is_file():
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:]
            problems = [f"the stage stopped before it judged anything: {' '.join(tail)}"]
        elif done.returncode and not problems:
            problems = [f"the stage failed with no failing test (pytest exit {done.returncode})"]
        outcome = Outcome(stage, done.returncode, problems, time.perf_counter() - started)
        outcomes.append(outcome)
        if not outcome.passed:
            break
    return outcomes


def summary(step: steps.Step, outcomes: list[Outcome], total: int) -> str:
    """What the attendee reads last: every stage's verdict, then what is not met yet."""
    lines = [""]
    for outcome in outcomes:
        verdict = "passed" if outcome.passed else "NOT YET"
        lines.append(f"  {verdict:<8} {outcome.stage.what} ({outcome.seconds:.0f} s)")
    if len(outcomes) < total:
        lines.append(f"  {'waiting':<8} {total - len(outcomes)} later stage(s), once this passes")
    failed = [o for o in outcomes if not o.passed]
    if not failed:
        lines.append(f"\nStep {step.label} is done: {shown(step.path)} passes every check.")
        return "\n".join(lines)
    lines.append(f"\nNot met yet in {shown(step.path)}:")
    lines += [f"  - {expectation}" for expectation in failed[0].unmet]
    return "\n".join(lines)


def main_exercise(step: steps.Step, reset: bool) -> int:
    copy = exercise(step, reset=reset)
    before = steps.select(step.number - 1)
    print(
        f"[exercise] {shown(copy)}: {before.slug}'s code with {step.slug}'s tests and facts\n\n"
        f"  Goal     {step.title}\n"
        f"  Check    make check STEP={step.number}\n"
        f"  Serve    make serve STEP={step.number} WORKSHOP=1\n"
        f"  Measure  make measure STEP={step.number} WORKSHOP=1 SCENARIOS={','.join(step.shows)}\n"
        f"  Page     http://127.0.0.1:8001/workshop/{step.slug}/ (make docs)\n",
        flush=True,
    )
    return 0


def main_check(step: steps.Step, solution: bool) -> int:
    judged = step if solution else load(step)
    if not solution:
        restored = bring(step, judged.path)
        if restored:
            print(f"[check] restored from {step.slug}: {', '.join(restored)}", flush=True)
    # The server the suites run on, as make test has it (services.NOT_DURABLE).
    variables.prefer("CRM_PG_DURABLE", "0")
    found = services.ensure(redis="redis" in judged.services)
    outcomes = check(judged, found)
    print(summary(judged, outcomes, len(stages(judged, found))), flush=True)
    return 0 if all(o.passed for o in outcomes) else 1


def record(outcomes: list[Outcome]) -> list[dict]:
    return [
        {
            "stage": o.stage.name,
            "passed": o.passed,
            "seconds": round(o.seconds, 1),
            "unmet": len(o.unmet),
        }
        for o in outcomes
    ]


def rehearse(selected: list[steps.Step], log=print) -> dict:
    """The set-up and a dress rehearsal in one: every exercise made, checked as made
    (it must fail), then solved with the step's own code and checked again (it must
    pass), timed.

    Running the stages builds every virtualenv and seeds every data set the checker
    uses, so the room's network is not needed on the day; ``make serve`` and ``make
    measure`` get the default data set seeded too. The copies live in a temporary
    folder: an attendee's ``workshop/`` is never touched.
    """
    started = time.perf_counter()
    # The code rehearsed is the code at the start, whatever changes while it runs.
    revision, dirty = results.git_revision()
    # The suites' server, as make check has it: the stages rehearsed are timed on it.
    variables.prefer("CRM_PG_DURABLE", "0")
    found = services.ensure(redis=True)
    seeding = time.perf_counter()
    # A data set seeded already (make seed CUSTOMERS=...) is the one make serve uses.
    existing = database.current_dataset(found.database_url)
    if existing is None:
        database.prepare_base(found.database_url, log=log)
    seeded_s = time.perf_counter() - seeding
    exercises = []
    with tempfile.TemporaryDirectory(prefix="crm-workshop-") as tmp:
        for index, step in enumerate(selected, 1):
            where = f"[rehearse] {step.slug} ({index}/{len(selected)})"
            made = time.perf_counter()
            copy = steps.load(exercise(step, Path(tmp)))
            made_s = time.perf_counter() - made
            log(f"{where}: checking the copy as made", flush=True)
            as_made = check(copy, found, quiet=True, log=log)
            log(f"{where}: checking the copy with the step's own code in it", flush=True)
            solve(step, copy.path)
            solved = check(copy, found, quiet=True, log=log)
            if all(o.passed for o in as_made):
                raise WorkshopError(f"{step.slug}: the checker passes an exercise nobody did")
            if not all(o.passed for o in solved):
                raise WorkshopError(
                    f"{step.slug}: the checker fails the step's own code:\n"
                    + summary(copy, solved, len(stages(copy, found)))
                )
            exercises.append(
                {
                    "slug": step.slug,
                    "exercise_s": round(made_s, 2),
                    "as_made": record(as_made),
                    "solved": record(solved),
                }
            )
            log(
                f"{where}: as made {sum(o.seconds for o in as_made):.0f} s (stops at"
                f" {as_made[-1].stage.name}), solved {sum(o.seconds for o in solved):.0f} s",
                flush=True,
            )
    return {
        "version": 1,
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": results.machine(),
        "git_revision": revision,
        "git_dirty": dirty,
        "base": {
            "customers": existing[0] if existing else database.DEFAULT_CUSTOMERS,
            "seconds": round(seeded_s, 1),
            "reused": existing is not None,
        },
        "exercises": exercises,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }


def main_rehearse(env: dict[str, str]) -> int:
    chosen = [s for s in steps.select_many(variables.given("STEPS", env)) if s.number > 1]
    print(
        f"[rehearse] {len(chosen)} exercise(s): {', '.join(s.label for s in chosen)};"
        " each made, checked as made, then solved with the step's own code and checked",
        flush=True,
    )
    found = rehearse(chosen)
    REHEARSAL.write_text(json.dumps(found, indent=1) + "\n")
    print(f"[rehearse] ready; times in {shown(REHEARSAL)}; took {clock(found['wall_time_s'])}")
    return 0
