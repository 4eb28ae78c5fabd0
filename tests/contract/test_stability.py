"""Walking a listing while others write: OFFSET pages shift, keyset pages do not.

A reader walks the newest customers page by page while a writer adds customers between
two pages. New customers sort first, before everything the reader has seen.
"""

from __future__ import annotations

from collections import Counter

from tests.contract.conftest import LIST, Target, new_customer

PAGE_SIZE = 50
PAGES = 6
INSERTS_PER_PAGE = 5


def walk_while_inserting(target: Target) -> tuple[list[int], list[int]]:
    """The ids the reader saw, and the ids of the customers that existed before."""
    before = [
        row[0] for row in target.sql("SELECT id FROM app_user ORDER BY created DESC, id DESC")
    ]
    seen, created = [], []
    response = target.http.get(LIST, params={"page_size": PAGE_SIZE})
    try:
        for _ in range(PAGES):
            assert response.status_code == 200, response.text
            body = response.json()
            seen += [c["id"] for c in body["results"]]
            for _ in range(INSERTS_PER_PAGE):
                made = target.http.post(LIST, json=new_customer())
                assert made.status_code == 201, made.text
                created.append(made.json()["id"])
            if not body["next"]:
                break
            response = target.http.get(body["next"])
    finally:
        for pk in created:
            target.http.delete(f"{LIST}{pk}/")
    return seen, before


def test_a_walk_during_inserts(target: Target):
    seen, before = walk_while_inserting(target)
    existing = set(before)
    shown = [pk for pk in seen if pk in existing]
    repeated = sorted(pk for pk, times in Counter(shown).items() if times > 1)
    if target.step.pagination == "cursor":
        # Every existing customer exactly once, in order, none skipped.
        assert shown == before[: len(shown)]
        assert not repeated
    else:
        # Each insert pushes the rows one place down: the next OFFSET page starts with
        # rows the reader already has. This is the flaw the keyset step removes.
        assert len(repeated) == INSERTS_PER_PAGE * (PAGES - 1)
