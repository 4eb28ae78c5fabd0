"""Steps whose filters read the customer's own row (step 09 on): every filter the probe
sends, alone or combined, under every ordering in both directions, is served by plans
that read a bounded part of the table.

Each first page is EXPLAINed with ANALYZE on a seeded table, from the SQL the step
really issues (``bench.probe``). Rows and buffers are judged, never times: the probes
share the cores. A page may walk an index and test each row, or fetch a filter's
matches and sort them; either is bounded here, so that no pair falls back to reading
the table in the order's order, as steps 05-08 did for a filter on another table.
"""

from __future__ import annotations

import pytest

from bench import probe, steps
from tests.datasets import PLANNED

OWN_ROW = [step for step in steps.under_test() if step.filters == "own-row"]
pytestmark = pytest.mark.skipif(not OWN_ROW, reason="no step with own-row filters yet")
# What a page may read of app_user: a tenth of the table, where a listing that
# walked its order's index for a filter that matches no one read all of it.
MOST_ROWS = PLANNED.customers // 10
# What a page may sort: a selective filter's matches, never a large part of the table.
MOST_SORTED = PLANNED.customers // 50
# Buffers of a page, whatever its plan: the rows above, as pages of the table and index.
MOST_BUFFERS = MOST_ROWS


@pytest.fixture(scope="module", params=OWN_ROW, ids=lambda step: step.slug)
def pages(request, servers) -> list[dict]:
    step = request.param
    url = PLANNED.step_url(servers.database_url, step)
    found = probe.run_split(step, url, probe.filter_orderings(PLANNED.terms()), analyze=True)
    assert all(page["status"] == 200 for page in found), [
        (page["path"], page["status"]) for page in found if page["status"] != 200
    ]
    return found


def plan_of(page: dict) -> dict:
    queries = probe.page_queries(page["queries"])
    assert len(queries) == 1, (page["path"], [q["sql"][:80] for q in page["queries"]])
    return queries[0]["plan"]


def customer_rows_read(plan: dict) -> int:
    """Rows every scan of app_user produced or passed over, loops included."""
    return sum(
        (n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)) * n.get("Actual Loops", 1)
        for n in probe.nodes(plan)
        if n.get("Relation Name") == "app_user"
    )


def rows_sorted(plan: dict) -> int:
    return max(
        (
            sum(c.get("Actual Rows", 0) * c.get("Actual Loops", 1) for c in n.get("Plans", []))
            for n in probe.nodes(plan)
            if n["Node Type"] in ("Sort", "Incremental Sort")
        ),
        default=0,
    )


def test_every_ordering_of_every_filter_is_probed(pages):
    assert len(pages) == len(probe.filter_orderings(PLANNED.terms()))
    assert {page["path"].rsplit("ordering=", 1)[1] for page in pages} == {
        f"{sign}{key}" for key in probe.ORDERINGS for sign in ("", "-")
    }


def test_no_page_scans_the_customer_table(pages):
    for page in pages:
        plan = plan_of(page)
        assert "app_user" not in probe.seq_scans(plan), (page["path"], probe.outline(plan))


def test_no_page_walks_most_of_the_table_for_its_matches(pages):
    walked = {page["path"]: customer_rows_read(plan_of(page)) for page in pages}
    assert {path: rows for path, rows in walked.items() if rows > MOST_ROWS} == {}


def test_no_page_sorts_more_than_a_selective_filters_matches(pages):
    sorted_ = {page["path"]: rows_sorted(plan_of(page)) for page in pages}
    assert {path: rows for path, rows in sorted_.items() if rows > MOST_SORTED} == {}


def test_every_page_reads_a_bounded_number_of_buffers(pages):
    read = {
        page["path"]: plan_of(page).get("Shared Hit Blocks", 0)
        + plan_of(page).get("Shared Read Blocks", 0)
        for page in pages
    }
    assert {path: buffers for path, buffers in read.items() if buffers > MOST_BUFFERS} == {}
