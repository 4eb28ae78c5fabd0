"""The workshop: each exercise and its solution, and the instructor's rehearsal times."""

from __future__ import annotations

from bench import steps
from bench.tables import Column, markdown
from renderers.code import step_files
from renderers.common import (
    fmt_duration,
    link,
    note,
    optional_result,
    step_of,
    uncommitted,
)


def render_exercise(slug: str, src_uri: str) -> str:
    """The commands of one exercise, from creating the copy to checking it."""
    step = step_of(slug)
    n = step.number
    commands = [
        (f"make exercise STEP={n}", f"workshop/{slug}/: step {n - 1:02d}'s code, its tests"),
        (f"make check STEP={n}", "what is not met yet, in plain words"),
        (f"make serve STEP={n} WORKSHOP=1", "your copy on http://127.0.0.1:8000/"),
        (f"make measure STEP={n} WORKSHOP=1 SCENARIOS={','.join(step.shows)}", "k6 on it"),
    ]
    lines = [f"# {why}\n{command}" for command, why in commands]
    return "```sh\n" + "\n".join(lines) + "\n```"


def render_solution(slug: str, src_uri: str) -> str:
    step = step_of(slug)
    before = steps.select(str(step.number - 1))
    old, new = step_files(before), step_files(step)
    changed = [
        name
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name) and not name.startswith(tuple(workshop_given()))
    ]
    page = link(src_uri, f"steps/{slug}.md")
    listing = "\n".join(f"- `{name}`" for name in changed)
    return (
        f"Step {step.label}'s page explains the change and measures it: [{step.title}]({page});"
        f" its [diff]({page}#what-changed) opens file by file. The files an attendee changes:"
        f"\n\n{listing}"
    )


def workshop_given() -> tuple[str, ...]:
    """What ``make exercise`` brings from the step itself: not the attendee's work."""
    from bench import workshop

    return workshop.FROM_STEP


def rehearsal_result() -> dict | None:
    from bench import workshop

    return optional_result(workshop.REHEARSAL)


def stage_times(stages: list[dict]) -> str:
    return " + ".join(f"{stage['seconds']:.0f} s" for stage in stages)


def render_rehearsal(_: str | None, src_uri: str) -> str:
    """How long each workshop command took in the last ``make rehearse``."""

    found = rehearsal_result()
    if found is None:
        return note(
            "Not rehearsed yet",
            "`make rehearse` times every exercise and writes `docs/results/workshop.json`.",
        )
    titles = ["`make exercise`", "`make check` as made", "`make check` when done"]
    columns = [Column("exercise"), *(Column(title, ">") for title in titles)]
    rows = []
    for entry in found["exercises"]:
        made, solved = entry["as_made"], entry["solved"]
        page = link(src_uri, f"workshop/{entry['slug']}.md")
        made_in = entry["exercise_s"]
        rows.append(
            [
                f"[{entry['slug']}]({page})",
                "under a second" if made_in < 1 else fmt_duration(made_in),
                f"{sum(s['seconds'] for s in made):.0f} s, stops at {made[-1]['stage']}",
                f"{sum(s['seconds'] for s in solved):.0f} s ({stage_times(solved)})",
            ]
        )
    base = found["base"]
    seeded = (
        f"the {base['customers']:,} customers of `make serve` were seeded already"
        if base["reused"]
        else f"seeding the {base['customers']:,} customers of `make serve` took"
        f" {base['seconds']:.0f} s"
    )
    dirty = uncommitted(found)
    caption = (
        f"*`make rehearse` on {found['machine']['cores']} cores took"
        f" {fmt_duration(found['wall_time_s'])} in all; {seeded}. Stages: own tests + proofs"
        f" + contract. Made at `{found['git_revision'][:7]}`{dirty}.*"
    )
    return markdown(columns, rows) + f"\n\n{caption}"


RENDERERS = {
    "exercise": render_exercise,
    "rehearsal": render_rehearsal,
    "solution": render_solution,
}
