"""SQL a page shows with its output is run again, and must still print that output.

An example is a ```sql block of one SELECT followed by a ``-- output`` line. Each runs
on a small migrated clone of the step whose page shows it, so an example cannot drift
from the configuration the step really creates.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from bench import paths, steps
from tests.datasets import SMALL

EXAMPLE = re.compile(r"```sql\n(SELECT [^`]+?;)\n-- ([^\n]+)\n```")


def examples() -> list[tuple[str, str, str]]:
    found = []
    for page in sorted((paths.ROOT / "docs" / "steps").glob("*.md")):
        for match in EXAMPLE.finditer(page.read_text()):
            found.append((page.stem, match.group(1), match.group(2)))
    return found


def test_the_pattern_finds_the_examples():
    assert any(slug == "06-fts" for slug, _, _ in examples())


@pytest.fixture(scope="module")
def urls(servers) -> dict[str, str]:
    """A migrated database per step that shows examples, built once."""
    wanted = {slug for slug, _, _ in examples()}
    return {slug: SMALL.step_url(servers.database_url, steps.select(slug)) for slug in wanted}


@pytest.mark.parametrize(
    ("slug", "sql", "output"), examples(), ids=[f"{s}:{q[:40]}" for s, q, _ in examples()]
)
def test_example_prints_what_the_page_says(urls, slug: str, sql: str, output: str):
    with psycopg.connect(urls[slug]) as conn:
        (value,) = conn.execute(sql).fetchone()
    assert str(value) == output, f"docs/steps/{slug}.md"
