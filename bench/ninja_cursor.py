"""What django-ninja's own CursorPagination does on our data, for the keyset step's page.

Not part of any step's API: this script mounts ninja's ``CursorPagination`` on a
throwaway NinjaAPI inside a cursor step's environment, orders by ``first_name`` (ties
broken by id) and walks ``next`` through the most common first name, where hundreds of
customers share the value. ninja's cursor is the first ordering field's value plus an
offset into its ties, capped by NINJA_PAGINATION_MAX_OFFSET (default 100). Each page's
query is EXPLAINed with ANALYZE, so the page shows how its cost grows with the offset
and what happens past the cap.

The harness side (``run``) starts this file as a script in the step's virtualenv and
working directory, as ``bench.probe`` does.
"""

from __future__ import annotations

import json
from pathlib import Path

PAGE_SIZE = 20
MAX_PAGES = 12


class NinjaCursorError(RuntimeError):
    """The script failed inside the step; the message carries its stderr."""


def run(step, database_url: str) -> dict:
    """``{"first_name", "ties", "pages": [{"offset", "status", "time_ms", "buffers",
    "outline"}]}``; a failed page also has its ``error``."""
    from bench import probe, serve

    done = serve.run_script(step, Path(__file__), database_url)
    if done.returncode != 0:
        raise NinjaCursorError(f"{step.slug}: ninja cursor probe failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout)
    for page in found["pages"]:
        plan = page.pop("plan", None)
        page["outline"] = probe.outline(plan) if plan else None
    return found


def _main() -> None:  # runs inside the step's virtualenv, cwd = the step folder
    import base64
    import os
    import sys
    from urllib.parse import parse_qs, urlencode, urlsplit

    sys.path.insert(0, os.getcwd())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count
    from django.test.utils import CaptureQueriesContext
    from ninja import NinjaAPI, Schema
    from ninja.pagination import CursorPagination, paginate
    from ninja.testing import TestClient

    from crm.models import Customer

    class Row(Schema):
        id: int
        first_name: str

    api = NinjaAPI(urls_namespace="ninja-cursor-probe")

    @api.get("/customers", response=list[Row])
    @paginate(CursorPagination, ordering=("first_name", "id"), page_size=PAGE_SIZE)
    def listing(request):
        return Customer.objects.all()

    common = (
        Customer.objects.values("first_name")
        .annotate(n=Count("id"))
        .order_by("-n", "first_name")
        .first()
    )
    # A client may start anywhere: ninja's cursor is plain base64, "p=<value>".
    start = base64.b64encode(urlencode({"p": common["first_name"]}).encode()).decode()
    client = TestClient(api)
    pages, url = [], f"/customers?cursor={start}"
    for _ in range(MAX_PAGES):
        offset = 0
        cursor = parse_qs(urlsplit(url).query).get("cursor")
        if cursor:
            decoded = parse_qs(base64.b64decode(cursor[0]).decode())
            offset = int(decoded.get("o", ["0"])[0])
        with CaptureQueriesContext(connection) as captured:
            try:
                response = client.get(url)
                status = response.status_code
            except Exception as exc:  # ninja's TestClient raises what a server turns into a 500
                status, response = 500, None
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        page = {"offset": offset, "status": status, "time_ms": None, "buffers": None}
        selects = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
        if selects:
            with connection.cursor() as db:
                db.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {selects[-1]}")
                explained = db.fetchone()[0][0]
            plan = explained["Plan"]
            page["time_ms"] = round(explained["Execution Time"], 3)
            page["buffers"] = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
            page["plan"] = plan
        if response is None:
            page["error"] = error
        pages.append(page)
        if status != 200 or not response.json()["next"]:
            break
        url = "/customers?" + urlsplit(response.json()["next"]).query
    json.dump({"first_name": common["first_name"], "ties": common["n"], "pages": pages}, sys.stdout)


if __name__ == "__main__":
    _main()
