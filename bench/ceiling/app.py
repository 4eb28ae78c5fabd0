"""The ceiling: the last step's SQL and JSON with no framework at all.

A bare ASGI callable on the same uvicorn, the same worker count, the same psycopg pool
settings and the same database as the last step. It sends the exact statements that
step's ORM sends (``tests/bench/test_ceiling.py`` compares them with its probe) and
writes the same bytes, links and signed cursors included. What it cannot do is
everything else: no validation beyond what its three answers need, no middleware, no
cache. Its req/s is what this machine can serve for these queries from Python, so a
step's req/s over it says how much of that the step's framework and code keep.

It answers only what the ceiling scenarios send: the default listing's first and later
pages, search, and detail. Anything else is a 400 or a 404 that says so.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from urllib.parse import parse_qs, urlencode

from psycopg import AsyncClientCursor
from psycopg_pool import AsyncConnectionPool

# --8<-- [start:sql]
# The last step's ORM query, column for column: a customer with its address and
# relationship joined, in the default ordering (-created, then -id).
SELECT = (
    'SELECT "app_user"."id", "app_user"."customer_id", "app_user"."first_name",'
    ' "app_user"."last_name", "app_user"."gender", "app_user"."phone_number",'
    ' "app_user"."birthday", "app_user"."created", "app_user"."last_updated",'
    ' "app_user"."address_id", "address"."id", "address"."street",'
    ' "address"."street_number", "address"."city_code", "address"."city",'
    ' "address"."country", "customer_relationship"."id", "customer_relationship"."points",'
    ' "customer_relationship"."last_activity" FROM "app_user"'
    ' LEFT OUTER JOIN "address" ON ("app_user"."address_id" = "address"."id")'
    ' LEFT OUTER JOIN "customer_relationship"'
    ' ON ("app_user"."id" = "customer_relationship"."appuser_id")'
)
MATCHES = (
    '"app_user"."search_vector" @@ (last_word_prefix(websearch_to_tsquery(%s::regconfig, %s)))'
)
AFTER = '("app_user"."created", "app_user"."id") < (%s, %s)'
ORDER = ' ORDER BY "app_user"."created" DESC, "app_user"."id" DESC LIMIT %s'
DETAIL = SELECT + ' WHERE "app_user"."id" = %s LIMIT %s'
# Django's .get() reads up to this many rows to report "more than one".
GET_LIMIT = 21
SEARCH_CONFIG = "crm_search"
# --8<-- [end:sql]

ORDERING = "-created"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# The listing's filters (crm.domain.listing.Filters): the cursor's binding digests them all.
FILTERS = (
    "search", "first_name", "last_name", "city", "country", "customer_id", "gender",
    "birthday_after", "birthday_before", "created_after", "created_before",
    "points_min", "points_max", "has_address",
)  # fmt: skip
ANSWERED = {"search", "page_size", "cursor"}
CURSOR_SALT = "crm.pagination.cursor"
SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-local-only-key-set-SECRET_KEY-in-production")


class BadRequest(Exception):
    """A 400 in the contract's shape: ``detail`` names the field."""

    def __init__(self, field: str, message: str):
        self.body = {
            "detail": f"{field}: {message}",
            "errors": [{"field": field, "message": message}],
        }


# --- the cursor: django.core.signing.Signer.sign_object, as the step signs it -----------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signature(value: str) -> str:
    # salted_hmac: the key is sha256(salt + "signer" + secret), then HMAC-SHA256.
    key = hashlib.sha256((CURSOR_SALT + "signer" + SECRET_KEY).encode()).digest()
    return b64(hmac.new(key, value.encode(), hashlib.sha256).digest())


def sign(payload: dict) -> str:
    value = b64(json.dumps(payload, separators=(",", ":")).encode("latin-1"))
    return f"{value}:{signature(value)}"


def unsign(token: str) -> dict:
    value, _, given = token.rpartition(":")
    if not hmac.compare_digest(given.encode(), signature(value).encode()):
        raise BadRequest("cursor", "Invalid cursor: follow the next or previous link as given.")
    return json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))


def binding(search: str | None, page_size: int) -> str:
    shape = dict.fromkeys(FILTERS)
    shape.update(ordering=ORDERING, page_size=page_size, search=search.lower() if search else None)
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


# --- rows to the step's JSON --------------------------------------------------------------


def iso(value):
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    return value.isoformat() if value is not None else None


def customer(row: tuple) -> dict:
    (
        id_,
        customer_id,
        first,
        last,
        gender,
        phone,
        birthday,
        created,
        updated,
        _,
        address_id,
        street,
        number,
        city_code,
        city,
        country,
        relationship_id,
        points,
        last_activity,
    ) = row
    return {
        "id": id_,
        "customer_id": customer_id,
        "first_name": first,
        "last_name": last,
        "gender": gender,
        "phone_number": phone,
        "birthday": iso(birthday),
        "created": iso(created),
        "last_updated": iso(updated),
        "address": None
        if address_id is None
        else {
            "street": street,
            "street_number": number,
            "city_code": city_code,
            "city": city,
            "country": country,
        },
        "relationship": None
        if relationship_id is None
        else {"points": points, "last_activity": iso(last_activity)},
    }


def render(body) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# --- the three answers -------------------------------------------------------------------


def listing(query: dict[str, list[str]]) -> tuple[str | None, int, tuple | None]:
    unknown = sorted(set(query) - ANSWERED)
    if unknown:
        raise BadRequest(unknown[0], "The ceiling answers search, page_size and cursor only.")
    search = query.get("search", [""])[-1].strip() or None
    raw_size = query.get("page_size", [""])[-1] or str(DEFAULT_PAGE_SIZE)
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        raise BadRequest("page_size", f"Enter a whole number from 1 to {MAX_PAGE_SIZE}.")
    page_size = int(raw_size)
    start = None
    if "cursor" in query:
        payload = unsign(query["cursor"][-1])
        if payload.get("q") != binding(search, page_size) or payload.get("b"):
            raise BadRequest("cursor", "The ceiling follows next links of this listing only.")
        try:
            start = (dt.datetime.fromisoformat(payload["k"]), int(payload["i"]))
        except (KeyError, TypeError, ValueError):
            raise BadRequest("cursor", "Invalid cursor.") from None
    return search, page_size, start


# --8<-- [start:list]
async def customer_list(pool, scope, query: dict[str, list[str]]) -> bytes:
    search, page_size, start = listing(query)
    where, params = [], []
    if search:
        where.append(MATCHES)
        params += [SEARCH_CONFIG, search]
    if start:
        where.append(AFTER)
        params += list(start)
    sql = SELECT + (" WHERE " + " AND ".join(where) if where else "") + ORDER
    async with pool.connection() as conn:
        rows = await (await conn.execute(sql, [*params, page_size + 1])).fetchall()
    results = [customer(row) for row in rows[:page_size]]
    next_link = None
    if len(rows) > page_size:
        last = rows[page_size - 1]
        token = sign(
            {"k": last[7].isoformat(), "i": last[0], "b": 0, "q": binding(search, page_size)}
        )
        next_link = link(scope, query, token)
    previous = (
        link(scope, query, sign_previous(rows[0], search, page_size)) if start and rows else None
    )
    return render({"next": next_link, "previous": previous, "results": results})


# --8<-- [end:list]


def sign_previous(first: tuple, search: str | None, page_size: int) -> str:
    return sign({"k": first[7].isoformat(), "i": first[0], "b": 1, "q": binding(search, page_size)})


def link(scope, query: dict[str, list[str]], token: str) -> str:
    host = dict(scope["headers"]).get(b"host", b"").decode()
    shown = {**query, "cursor": [token]}
    return f"http://{host}{scope['path']}?{urlencode(sorted(shown.items()), doseq=True)}"


async def customer_detail(pool, id_: int) -> bytes | None:
    async with pool.connection() as conn:
        row = await (await conn.execute(DETAIL, [id_, GET_LIMIT])).fetchone()
    return render(customer(row)) if row else None


# --- ASGI -------------------------------------------------------------------------------


def make_pool() -> AsyncConnectionPool:
    # The last step's pool: 2 to DB_POOL_MAX_SIZE connections, 5 s to get one, each
    # checked as it is handed out. Django's psycopg backend binds parameters client-side
    # (AsyncClientCursor), so the server receives the same statement text; it also runs
    # every session in UTC.
    return AsyncConnectionPool(
        os.environ["DATABASE_URL"],
        min_size=2,
        max_size=int(os.environ.get("DB_POOL_MAX_SIZE", "20")),
        timeout=5,
        check=AsyncConnectionPool.check_connection,
        kwargs={"cursor_factory": AsyncClientCursor, "options": "-c TimeZone=UTC"},
        open=False,
    )


async def send(respond, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await respond({"type": "http.response.start", "status": status, "headers": headers})
    await respond({"type": "http.response.body", "body": body})


async def lifespan(receive, respond, state: dict) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state["pool"] = make_pool()
            await state["pool"].open(wait=True)
            await respond({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state["pool"].close()
            await respond({"type": "lifespan.shutdown.complete"})
            return


STATE: dict = {}
NOT_FOUND = render({"detail": "Not found."})


async def app(scope, receive, respond) -> None:
    if scope["type"] == "lifespan":
        return await lifespan(receive, respond, STATE)
    pool, path = STATE["pool"], scope["path"]
    if scope["method"] != "GET":
        return await send(respond, 405, render({"detail": "Method not allowed"}))
    try:
        if path == "/api/customers/":
            query = parse_qs(scope["query_string"].decode(), keep_blank_values=True)
            return await send(respond, 200, await customer_list(pool, scope, query))
        tail = path.removeprefix("/api/customers/").removesuffix("/")
        if path.startswith("/api/customers/") and path.endswith("/") and tail.isdigit():
            body = await customer_detail(pool, int(tail))
            return await send(respond, 200, body) if body else await send(respond, 404, NOT_FOUND)
        if path == "/api/health/":
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
            return await send(respond, 200, render({"status": "ok", "database": "ok"}))
    except BadRequest as exc:
        return await send(respond, 400, render(exc.body))
    await send(respond, 404, NOT_FOUND)
