"""Health, the OpenAPI document and Swagger UI."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import httpx

from bench import serve
from tests.contract.conftest import LIST, ORDERINGS, Target


def test_health(target: Target):
    response = target.http.get("/api/health/")
    assert response.status_code == 200
    cache = {"cache": "ok"} if "redis" in target.step.services else {}
    assert response.json() == {"status": "ok", "database": "ok", **cache}


def test_health_is_503_when_the_database_is_down(target: Target):
    # Port 9 (discard) on loopback: nothing listens, so every connection is refused.
    unreachable = "postgresql://postgres@127.0.0.1:9/crm_nowhere"
    with serve.running(target.step, unreachable, healthy=False) as base_url:
        response = httpx.get(f"{base_url}/api/health/", timeout=30)
    assert response.status_code == 503
    assert response.json()["status"] != "ok"


def test_openapi_document(target: Target):
    response = target.http.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert "/api/customers/" in paths
    assert any(re.fullmatch(r"/api/customers/\{[a-z_]+\}/", p) for p in paths)
    listing = {p["name"] for p in paths["/api/customers/"]["get"]["parameters"]}
    assert {"search", "ordering", "page_size", "first_name", "city", "has_address"} <= listing
    assert {"points_min", "points_max", "birthday_after", "created_before"} <= listing
    # The listing's own token, and not the other kind's (DESIGN §4).
    token, other = ("page", "cursor") if target.step.pagination == "page" else ("cursor", "page")
    assert token in listing
    assert other not in listing


def test_swagger_ui_loads_with_its_assets(target: Target):
    page = target.http.get("/api/docs/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "swagger-ui" in page.text
    scripts = re.findall(r'src="([^"]+\.js)"', page.text)
    assert scripts, "Swagger UI page references no script"
    for src in scripts:
        # Served by the step itself: offline, behind a firewall, the page still works.
        assert src.startswith("/") or src.startswith(target.base_url), src
        asset = target.http.get(src)
        assert asset.status_code == 200, src


def test_a_burst_of_concurrent_requests_is_served(target: Target):
    """More requests at once than PostgreSQL accepts connections: every one is answered.

    None may be refused or fail with PostgreSQL's "too many clients"; the excess has to
    queue. The step runs with a pool wait no burst reaches (conftest.POOL_WAIT): a slow
    machine takes longer than the default 5 s to drain 250 of step 02's N+1 pages.
    """
    (max_connections,) = target.sql("SELECT current_setting('max_connections')::int")[0]
    burst = max_connections + 50

    async def fire(base_url: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as c:
            # Small pages in every ordering: no two neighbours run the same query, and no
            # page numbers, which only steps 01 to 04 take.
            requests = [
                c.get(LIST, params={"page_size": 5, "ordering": ORDERINGS[i % len(ORDERINGS)]})
                for i in range(burst)
            ]
            return await asyncio.gather(*requests)

    statuses = Counter(response.status_code for response in asyncio.run(fire(target.base_url)))
    assert statuses == {200: burst}
