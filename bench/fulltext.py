"""The full-text step's two roads not taken, measured on the benchmark's own data.

- **Relevance.** The contract keeps the requested ordering (default ``-created``), which
  a keyset can page through an index. Ordering by ``ts_rank`` instead must rank every
  match before it can return the first row. Both pages are read for the same terms.
- **Trigrams.** pg_trgm's GIN index answers the substring search of steps 01-05. A
  trigram index is built over the same text the vector holds, inside a transaction that
  is rolled back, and each term is searched both ways: how many customers each finds,
  and how long its first page takes.

Each query runs ``REPEATS`` times under EXPLAIN ANALYZE and keeps the median execution
time and the last plan. The harness side (``run``) starts this file as a script in the
step's virtualenv and working directory, as ``bench.probe`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

PAGE_SIZE = 20
REPEATS = 5


class FulltextError(RuntimeError):
    """The script failed inside the step; the message carries its stderr."""


def terms_of(terms: dict) -> list[dict]:
    """The probe's search terms (``bench.probe.scenario_requests``), and a word's middle."""
    last_name = terms["last_names"]["hot"][0]
    return [
        {"kind": "selective", "term": terms["customer_ids"]["cold"][0]},
        {"kind": "selective", "term": terms["last_names"]["cold"][-1]},
        {"kind": "broad", "term": terms["cities"]["hot"][0]},
        {"kind": "broad", "term": terms["first_names"]["hot"][0]},
        # What only a substring search finds: the inside of the most common last name.
        {"kind": "inside a word", "term": last_name[1:-1]},
    ]


def run(step, database_url: str, terms: dict) -> dict:
    """``{"index_bytes", "trigram": {"build_ms", "index_bytes"}, "terms": [{"kind",
    "term", "matches", "trigram_matches", "page", "ranked", "trigram"}]}``; each of the
    last three is ``{"time_ms", "outline"}``."""
    from bench import probe, serve

    job = json.dumps({"terms": terms_of(terms), "page_size": PAGE_SIZE, "repeats": REPEATS})
    done = serve.run_script(step, Path(__file__), database_url, stdin=job)
    if done.returncode != 0:
        raise FulltextError(f"{step.slug}: full-text probe failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout)
    for entry in found["terms"]:
        for name in ("page", "ranked", "trigram"):
            entry[name]["outline"] = probe.outline(entry[name].pop("plan"))
    return found


def _main() -> None:  # runs inside the step's virtualenv, cwd = the step folder
    import os
    import statistics
    import sys
    import time

    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.postgres.search import SearchRank
    from django.db import connection, transaction
    from django.db.models import F

    try:
        from crm.filters import TypedSearch
        from crm.selectors import customers
    except ImportError:  # 08-optimized: the same code, moved into its layers
        from crm.infrastructure.filters import TypedSearch
        from crm.infrastructure.repository import customers

    job = json.load(sys.stdin)
    limit = job["page_size"] + 1  # the keyset reads one row more to know of a next page

    def explained(sql: str, params) -> dict:
        times, plan = [], None
        with connection.cursor() as cursor:
            for _ in range(job["repeats"]):
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
                result = cursor.fetchone()[0][0]
                times.append(result["Execution Time"])
                plan = result["Plan"]
        return {"time_ms": round(statistics.median(times), 3), "plan": plan}

    def measure(queryset) -> dict:
        return explained(*queryset.query.sql_with_params())

    def scalar(sql: str, params=()):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    # Everything the vector holds, as one text: what a substring search looks through.
    text = (
        "(customer_id || ' ' || first_name || ' ' || last_name || ' '"
        " || coalesce(phone_number, '') || ' ' || coalesce(address_text, ''))"
    )
    found = {"index_bytes": scalar("SELECT pg_relation_size('app_user_search_idx')")}
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            started = time.perf_counter()
            cursor.execute(
                f"CREATE INDEX app_user_trigram_probe ON app_user USING gin ({text} gin_trgm_ops)"
            )
            build_ms = (time.perf_counter() - started) * 1000
            cursor.execute("ANALYZE app_user")
        found["trigram"] = {
            "build_ms": round(build_ms, 1),
            "index_bytes": scalar("SELECT pg_relation_size('app_user_trigram_probe')"),
        }
        measured = []
        for entry in job["terms"]:
            term = entry["term"]
            query = TypedSearch(term)
            matching = customers().filter(search_vector=query)
            newest = matching.order_by("-created", "-id")[:limit]
            ranked = matching.annotate(rank=SearchRank(F("search_vector"), query))
            like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            trigram_sql = (
                f"SELECT id FROM app_user WHERE {text} ILIKE %s ORDER BY created DESC, id DESC"
                f" LIMIT {limit}"
            )
            measured.append(
                {
                    **entry,
                    "matches": matching.count(),
                    "trigram_matches": scalar(
                        f"SELECT count(*) FROM app_user WHERE {text} ILIKE %s", [like]
                    ),
                    "page": measure(newest),
                    "ranked": measure(ranked.order_by("-rank", "-id")[:limit]),
                    "trigram": explained(trigram_sql, [like]),
                }
            )
        found["terms"] = measured
        # The trigram index and pg_trgm were never part of the step.
        transaction.set_rollback(True)
    json.dump(found, sys.stdout)


if __name__ == "__main__":
    _main()
