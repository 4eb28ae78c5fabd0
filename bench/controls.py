"""Controls: a step with one factor changed, measured beside the ladder (``CONTROLS=1``).

A control is not a ladder step. Its ``step.toml`` entry names the one factor it changes
(``isolates``) and how: settings its server reads (``environment``), another server
(``server``), the step's code with every view made sync (``code = "sync"``) and the pins
that needs (``requirements``). The harness builds it as a project of its own under
``.cache/controls/<slug>/`` (the step's folder, then the change) and serves and measures
it as it does a step, on the step's database, in the same rounds.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench import paths
from bench.steps import CACHE_DIRS, Step, StepError

CONTROLS_DIR = paths.CACHE_DIR / "controls"

# The step's code with every view made sync, rule by rule: what async Django needs and
# sync Django does without. Applied to the app's modules (``crm/``), nothing else.
DESYNC = (
    # A sync unit of work called from an async view runs in the view itself.
    (re.compile(r"await sync_to_async\((?P<call>[\w.]+)\)\("), r"\g<call>("),
    (re.compile(r"^from asgiref\.sync import sync_to_async\n", re.M), ""),
    (re.compile(r"\basync def "), "def "),
    (re.compile(r"\basync for "), "for "),
    (re.compile(r"\bawait "), ""),
    # The async ORM's methods are the sync ones with an "a" in front.
    (re.compile(r"\.a(get|count|create|delete|exists|first|last|update|aggregate)\("), r".\1("),
)


def desync(source: str) -> str:
    """``source`` with every async view, call and ORM method made sync."""
    for pattern, replacement in DESYNC:
        source = pattern.sub(replacement, source)
    return source


@dataclass(frozen=True)
class Control:
    slug: str
    title: str
    isolates: str
    step: Step
    server: str
    environment: dict[str, str]
    code: str | None
    requirements: tuple[str, ...]

    @property
    def path(self) -> Path:
        return CONTROLS_DIR / self.slug

    def as_step(self) -> Step:
        """The control as a step the harness can serve: its own folder and server."""
        return dataclasses.replace(self.step, slug=self.slug, server=self.server, path=self.path)


def of(step: Step) -> list[Control]:
    """The controls ``step`` declares."""
    return [
        Control(
            slug=entry["slug"],
            title=entry["title"],
            isolates=entry["isolates"],
            step=step,
            server=entry.get("server", step.server),
            environment=dict(entry.get("environment", {})),
            code=entry.get("code"),
            requirements=tuple(entry.get("requirements", ())),
        )
        for entry in step.controls
    ]


def declared(selected: list[Step]) -> list[Control]:
    """Every control of the ``selected`` steps, in ladder order."""
    found = [control for step in selected for control in of(step)]
    taken = {step.slug for step in selected}
    for control in found:
        if control.slug in taken:
            raise StepError(f"{control.step.slug}: control {control.slug!r} is named twice")
        taken.add(control.slug)
    return found


def build(control: Control) -> Step:
    """Make the control's folder from its step's, with its change; return it as a step.

    Made again every time, so that it always follows the step's code."""
    if control.path.exists():
        shutil.rmtree(control.path)
    shutil.copytree(control.step.path, control.path, ignore=shutil.ignore_patterns(*CACHE_DIRS))
    if control.code == "sync":
        for module in sorted((control.path / "crm").rglob("*.py")):
            module.write_text(desync(module.read_text()))
    if control.requirements:
        requirements = control.path / "requirements.txt"
        extra = "".join(f"{pin}\n" for pin in control.requirements)
        requirements.write_text(requirements.read_text() + extra)
    return control.as_step()
