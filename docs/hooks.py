"""MkDocs hooks: every number, diff and plan on the site is rendered at build time.

Pages hold placeholders such as ``{{ numbers 04-indexes }}``; the renderers in
``docs/renderers/`` replace them from the run ``docs/results/names.json`` names
``published`` (``make bench-full``) and the step folders themselves, so nothing on the
site is typed by hand or can go stale. An unknown placeholder, a step without a page or
a step missing from the result file fails the build. Each renderers module holds the
placeholders of one subject and lists them in its ``RENDERERS``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "docs"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from renderers import (  # noqa: E402
    ceiling,
    code,
    controls,
    cpu,
    fleets,
    glossary,
    goals,
    hops,
    method,
    numbers,
    plans,
    reliability,
    replica,
    scale,
    tables,
    workshop,
)
from renderers.common import STATE, NotMeasured, awaiting, note  # noqa: E402

from bench import results, steps  # noqa: E402

PLACEHOLDER = re.compile(r"\{\{\s*(?P<name>[a-z_]+)(?:\s+(?P<arg>[\w.-]+(?:\s+[\w.-]+)*))?\s*\}\}")
RENDERERS = {
    name: render
    for module in (
        numbers,
        plans,
        cpu,
        goals,
        code,
        controls,
        hops,
        method,
        ceiling,
        fleets,
        scale,
        reliability,
        replica,
        workshop,
    )
    for name, render in module.RENDERERS.items()
}


def on_config(config):
    STATE["result"] = results.load(results.published())
    STATE["steps"] = steps.discover()
    measured = {step["slug"] for step in STATE["result"]["steps"]}
    # A new step lands before the publication run that measures it: its page says so.
    # Only the newest steps may wait; a step missing between measured ones is a run
    # that left it out.
    last_measured = max(step.number for step in STATE["steps"] if step.slug in measured)
    for step in STATE["steps"]:
        page = Path(config["docs_dir"]) / "steps" / f"{step.slug}.md"
        if not page.is_file():
            raise PluginError(f"step {step.slug} has no page: write {page}")
        if step.slug not in measured and step.number < last_measured:
            raise PluginError(
                f"step {step.slug} is not in the published run: run `make bench-full`"
            )
        exercise = Path(config["docs_dir"]) / "workshop" / f"{step.slug}.md"
        if step.number > 1 and not exercise.is_file():
            raise PluginError(f"step {step.slug} has no workshop exercise: write {exercise}")
    return config


def on_files(files, config):
    # The charts live in media/ at the repository root; publish them with the site.
    for chart in sorted((ROOT / "media").glob("**/*.svg")):
        files.append(
            File(
                chart.relative_to(ROOT).as_posix(),
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


def on_page_markdown(markdown, page, config, files):
    unmeasured: set[str] = set()

    def replace(match: re.Match) -> str:
        name, arg = match.group("name"), match.group("arg")
        render = RENDERERS.get(name)
        if render is None:
            raise PluginError(f"{page.file.src_uri}: unknown placeholder {match.group(0)}")
        try:
            return render(arg, page.file.src_uri)
        except NotMeasured as exc:
            slug = exc.args[0]
            # A figure of a step newer than the run, on its own page or exercise: said
            # once on the page, where its first figure would be. Anything else missing
            # from the run is an error; a renderer over every step says it per row.
            if slug not in awaiting() or (arg or "").split()[:1] != [slug]:
                raise PluginError(
                    f"{page.file.src_uri}: {match.group(0)}: {slug} is not in the published run"
                ) from exc
            if slug in unmeasured:
                return ""
            unmeasured.add(slug)
            return note(
                "Not measured yet",
                f"{slug} is newer than the published run: the next `make bench-full`"
                " measures it, and this page shows its figures then.",
            )
        except (KeyError, ValueError, steps.StepError) as exc:
            raise PluginError(f"{page.file.src_uri}: {match.group(0)}: {exc}") from exc

    rendered = PLACEHOLDER.sub(replace, code.fold_long_listings(markdown))
    return glossary.link_first_uses(rendered, page.file.src_uri)


def on_page_content(html, page, config, files):
    # On a phone a row of a dozen numbers cannot fit: the stylesheet stacks each row's
    # cells under one another, each named by its column (stylesheets/extra.css).
    return tables.label_cells(html)
