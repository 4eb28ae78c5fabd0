"""Keyset steps (05 on): every page of every ordering is an index range that stops early.

The pages are reached the way a client reaches them, by following `next` through the
step's own API (``bench.probe``), and each page's one query is EXPLAINed with ANALYZE
on a seeded table: the first page, the 50th, and one in the middle of the table (and of
one country's customers), for every ordering in both directions, with and without the
workload's filters.

The whole walk is made on the first keyset step under test, where keyset pagination
arrives. The first step whose filters read other columns (step.toml ``filters``: step 09
reads the customer's own copies) walks its filtered listings in full, and of the
unfiltered ones only the first pages: those must be the very statements the first step
sent. Every later step walks the first pages of every walk: it must send the very
statements the first step of its kind sent, page for page, and get plans that pass the
same checks. The same statement on the same rows reaches the same deep pages, so a step
keeps what an earlier one proved without walking 7,000 pages again (the CI budget,
README.md).
"""

from __future__ import annotations

import pytest

from bench import probe, steps
from bench.seed import LOCALES
from tests.datasets import PLANNED

PAGE = 20
DEEP = 50
# page_size 100 walked this far lands in the middle of the table.
MIDDLE_PAGE_SIZE = 100
MIDDLE = PLANNED.customers // 2 // MIDDLE_PAGE_SIZE
COUNTRY_MIDDLE = PLANNED.customers // 8 // 2 // PAGE
# The most rows a page may sort: a selective filter's matches, never the table.
SMALL_SORT = PLANNED.customers // 100
KEYSET = [step for step in steps.under_test() if step.number >= 5]
pytestmark = pytest.mark.skipif(not KEYSET, reason="no keyset step yet")
# The first keyset step of each kind of filters, walked in full; the others follow it.
FIRSTS = {step.filters: step for step in reversed(KEYSET)}
WALKED = sorted(FIRSTS.values(), key=lambda step: step.number)
LATER = [step for step in KEYSET if step not in WALKED]
# Steps whose filters read the customer's own row, served with the order (step 09).
OWN_ROW = [step for step in WALKED if step.filters == "own-row"]
# The pages a later step walks of each walk: the first and the two that follow it.
KEPT_PAGES = 3
# The walks no filter touches: walked in full once, on the first keyset step.
UNFILTERED = ("none", "middle")
ORDERINGS = [f"{sign}{key}" for key in probe.ORDERINGS for sign in ("", "-")]


def filters(terms: dict) -> dict[str, str]:
    """The workload's kinds of filter: a name prefix, a rare country, a points range."""
    return {
        "none": "",
        "last_name": f"&last_name={terms['last_names']['hot'][0][:3]}",
        "country": f"&country={LOCALES[-1][1].lower()}",
        "points": "&points_min=40000",
    }


def walk(
    servers, step: steps.Step, most_pages: int | None = None, unfiltered_pages: int | None = None
) -> dict[tuple[str, str], list]:
    """(ordering, filter) -> every page walked, each with its one query's plan; with
    ``most_pages``, only that many pages of each walk, with ``unfiltered_pages``, of
    each unfiltered one."""
    url = PLANNED.step_url(servers.database_url, step)
    terms = PLANNED.terms()
    walks, names = [], []
    for ordering in ORDERINGS:
        for name, query in filters(terms).items():
            path = f"{probe.LIST}?ordering={ordering}&page_size={PAGE}{query}"
            walks.append({"walk": path, "pages": DEEP - 1})
            names.append((ordering, name))
        middle = f"{probe.LIST}?ordering={ordering}&page_size={MIDDLE_PAGE_SIZE}"
        walks.append({"walk": middle, "pages": MIDDLE})
        names.append((ordering, "middle"))
        # The middle of a filtered listing too: one country is about an eighth of it,
        # walked with the page size the workload uses.
        country = f"{probe.LIST}?ordering={ordering}&page_size={PAGE}{filters(terms)['country']}"
        walks.append({"walk": country, "pages": COUNTRY_MIDDLE})
        names.append((ordering, "middle of a country"))
        # A large page of one country: planned as an index walk only while PostgreSQL
        # knows how many customers a country holds (the statistics of migration 0003).
        large = f"{middle}{filters(terms)['country']}"
        walks.append({"walk": large, "pages": 0})
        names.append((ordering, "a country, a large page"))
    for pages, capped in ((most_pages, None), (unfiltered_pages, UNFILTERED)):
        if pages is not None:
            walks = [
                {**w, "pages": min(w["pages"], pages - 1)}
                if capped is None or kind in capped
                else w
                for w, (_, kind) in zip(walks, names, strict=True)
            ]
    found: dict[tuple[str, str], list[dict]] = {}
    # Buffers and rows, not times, are judged here: the walks may share the cores.
    for result in probe.run_split(step, url, walks, analyze=True):
        assert result["status"] == 200, result["path"]
        found.setdefault(names[result["request"]], []).append(result)
    return found


@pytest.fixture(scope="module")
def walks(servers):
    """The whole walks of a step, made once per module."""
    made: dict[str, dict] = {}

    def of(step: steps.Step) -> dict[tuple[str, str], list[dict]]:
        if step.slug not in made:
            unfiltered = None if step == WALKED[0] else KEPT_PAGES
            made[step.slug] = walk(servers, step, unfiltered_pages=unfiltered)
        return made[step.slug]

    return of


@pytest.fixture(scope="module", params=WALKED, ids=lambda step: step.slug)
def walked(request, walks) -> dict[tuple[str, str], list[dict]]:
    return walks(request.param)


@pytest.fixture(scope="module")
def walked_first(walks) -> dict[tuple[str, str], list[dict]]:
    """The first keyset step's walks, the only ones its unfiltered listings walk whole."""
    return walks(WALKED[0])


def only_query(page: dict) -> dict:
    assert len(page["queries"]) == 1, [q["sql"][:80] for q in page["queries"]]
    return page["queries"][0]


def sorted_rows(plan: dict) -> int:
    """The most rows any Sort node of the plan had to sort."""
    return max(
        (
            sum(c.get("Actual Rows", 0) * c.get("Actual Loops", 1) for c in n.get("Plans", []))
            for n in probe.nodes(plan)
            if n["Node Type"] in ("Sort", "Incremental Sort")
        ),
        default=0,
    )


def reads(plan: dict) -> int:
    return plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)


def assert_an_index_range(page: dict) -> None:
    """No page scans the customer table, counts, skips, or sorts more than two pages."""
    query = only_query(page)
    plan, where = query["plan"], (page["path"], probe.outline(query["plan"]))
    size = MIDDLE_PAGE_SIZE if f"page_size={MIDDLE_PAGE_SIZE}" in page["path"] else PAGE
    assert plan["Node Type"] == "Limit", where
    assert plan["Actual Rows"] <= size + 1, where
    assert "app_user" not in probe.seq_scans(plan), where
    assert "OFFSET" not in query["sql"], where
    assert "COUNT(" not in query["sql"], where
    # The NULL segments are merged with a sort of at most two pages of rows. A selective
    # filter may be served by its own index and a sort of its few matches instead; a
    # sort of a large part of the table never.
    assert sorted_rows(plan) <= max(2 * (size + 1), SMALL_SORT), where


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_every_page_is_one_index_range_that_stops_with_the_page(walked, ordering: str):
    for (wanted, _), pages in walked.items():
        if wanted == ordering:
            for page in pages:
                assert_an_index_range(page)


@pytest.mark.parametrize("step", LATER, ids=lambda step: step.slug)
def test_a_later_step_sends_the_first_ones_statements_and_plans_pass_the_same_checks(
    walks, servers, step
):
    first = {name: pages[:KEPT_PAGES] for name, pages in walks(FIRSTS[step.filters]).items()}
    later = walk(servers, step, KEPT_PAGES)
    assert set(later) == set(first)
    for name, pages in later.items():
        sent = [[query["sql"] for query in page["queries"]] for page in pages]
        assert sent == [[query["sql"] for query in page["queries"]] for page in first[name]], name
        for page in pages:
            assert_an_index_range(page)


@pytest.mark.parametrize("step", WALKED[1:], ids=lambda step: step.slug)
def test_a_new_kind_of_filters_sends_the_first_steps_unfiltered_statements(walks, step):
    first, own = walks(WALKED[0]), walks(step)
    for name in [name for name in own if name[1] in UNFILTERED]:
        sent = [[query["sql"] for query in page["queries"]] for page in own[name]]
        assert len(sent) == KEPT_PAGES, name
        expected = [[query["sql"] for query in page["queries"]] for page in first[name]]
        assert sent == expected[:KEPT_PAGES], name


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_the_walk_reaches_page_50_and_the_middle(walked_first, walked, ordering: str):
    assert len(walked_first[(ordering, "none")]) == DEEP
    assert len(walked_first[(ordering, "middle")]) == MIDDLE + 1
    assert len(walked[(ordering, "middle of a country")]) == COUNTRY_MIDDLE + 1


@pytest.mark.parametrize("ordering", ORDERINGS)
def test_page_50_reads_what_page_1_reads(walked_first, ordering: str):
    """An OFFSET reads every page before it; a keyset reads its own. Buffers, not time."""
    pages = walked_first[(ordering, "none")]
    first, deep = (reads(only_query(page)["plan"]) for page in (pages[0], pages[-1]))
    assert deep <= 2 * first, (ordering, first, deep)


@pytest.mark.parametrize("step", OWN_ROW, ids=lambda step: step.slug)
@pytest.mark.parametrize("ordering", ["-created", "created"])
def test_a_filtered_page_50_reads_what_its_page_1_reads(walks, step, ordering: str):
    """Once a place is served with the default order (step 09), page 50 of a country's
    listing reads at most a fifth more than its page 1, as a range of one index does.

    Under another order a filter is tested row by row along that order's index: a cost
    that does not grow with depth, but varies with the rows passed on the way (the NULL
    segment of a key, a run of other countries), which the walk's checks bound instead.
    """
    pages = walks(step)[(ordering, "country")]
    assert len(pages) == DEEP, ordering
    first, deep = (reads(only_query(page)["plan"]) for page in (pages[0], pages[-1]))
    assert deep <= 1.2 * first, (ordering, first, deep)
