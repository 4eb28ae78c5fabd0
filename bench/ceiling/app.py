"""The ceiling: the last step's SQL, JSON and cache with no framework at all.

A bare ASGI callable on the same uvicorn, the same worker count, the same psycopg pool
settings and the same database as the last step. It sends the exact statements that
step's ORM sends (``tests/bench/test_ceiling.py`` compares them with its probe) and
writes the same bytes, links and signed cursors included. It caches where the step
caches, as the step does: the rendered body in the same Redis, keyed alike, stored with
the version it was read under and answered only while that version is current, one MGET
a hit. What it cannot do is everything else: no validation beyond what its answers need,
no middleware, no framework. Its req/s is what this machine can serve for these answers
from Python, so a step's req/s over it says how much of that the step's framework and
code keep.

It answers what the read scenarios send: listings under any filter and ordering of the
contract with their next pages, search, and detail. Anything else is a 400 or a 404
that says so.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import pickle
from urllib.parse import parse_qs, urlencode

from psycopg import AsyncClientCursor
from psycopg_pool import AsyncConnectionPool

# --8<-- [start:sql]
# The last step's ORM query, column for column: a customer with its address and
# relationship joined.
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
DETAIL = SELECT + ' WHERE "app_user"."id" = %s LIMIT %s'
# Django's .get() reads up to this many rows to report "more than one".
GET_LIMIT = 21
SEARCH_CONFIG = "crm_search"
MATCHES = "@@ (last_word_prefix(websearch_to_tsquery(%s::regconfig, %s)))"
# A nullable ordering sorts by its key: the column, or past every value for NULL.
NULL_KEYS = {"birthday": "('infinity')::date", "points": "2147483648"}
# A name prefix of this many letters is matched on its first letters' index.
PREFIX = 3
# --8<-- [end:sql]

ORDERINGS = ("created", "first_name", "last_name", "birthday", "points", "customer_id")
DEFAULT_ORDERING = "-created"
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# The listing's filters (crm.domain.listing.Filters), in its order: the cursor's binding
# and the cache key digest them all.
TEXTS = ("search", "first_name", "last_name", "city", "country", "customer_id", "gender")
DATES = ("birthday_after", "birthday_before", "created_after", "created_before")
NUMBERS = ("points_min", "points_max")
FILTERS = (*TEXTS, *DATES, *NUMBERS, "has_address")
# Matched case-insensitively, so listed in lower case in a key.
FOLDED = ("search", "first_name", "last_name", "city", "country")
GENDERS = ("male", "female", "other", "undefined")
ANSWERED = {*FILTERS, "ordering", "page_size", "cursor"}
CURSOR_SALT = "crm.pagination.cursor"
SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-local-only-key-set-SECRET_KEY-in-production")
INT32_MAX = 2**31 - 1


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


# --- what a listing asks for ---------------------------------------------------------------


class Listing:
    """A listing request: its filters, ordering, page size and where it starts."""

    def __init__(self, query: dict[str, list[str]]):
        unknown = sorted(set(query) - ANSWERED)
        if unknown:
            raise BadRequest(unknown[0], "The ceiling does not take this parameter.")
        # A blank parameter is no parameter, as the step's schema has it; text is trimmed.
        given = {k: v[-1].strip() for k, v in query.items() if k != "cursor" and v[-1].strip()}
        self.filters: dict = dict.fromkeys(FILTERS)
        for name in TEXTS:
            self.filters[name] = given.get(name)
        if self.filters["gender"] not in (None, *GENDERS):
            raise BadRequest("gender", f"Enter one of {', '.join(GENDERS)}.")
        for name in DATES:
            if name in given:
                try:
                    self.filters[name] = dt.date.fromisoformat(given[name])
                except ValueError:
                    raise BadRequest(name, "Enter a date as YYYY-MM-DD.") from None
        for name in NUMBERS:
            if name in given:
                if not given[name].isdigit() or int(given[name]) > INT32_MAX:
                    raise BadRequest(name, f"Enter a whole number from 0 to {INT32_MAX}.")
                self.filters[name] = int(given[name])
        if "has_address" in given:
            if given["has_address"] not in ("true", "false"):
                raise BadRequest("has_address", "Enter true or false.")
            self.filters["has_address"] = given["has_address"] == "true"
        self.ordering = given.get("ordering", DEFAULT_ORDERING)
        if self.ordering.lstrip("-") not in ORDERINGS:
            raise BadRequest("ordering", f"Enter one of {', '.join(ORDERINGS)}, or -one.")
        raw_size = given.get("page_size", str(DEFAULT_PAGE_SIZE))
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
            raise BadRequest("page_size", f"Enter a whole number from 1 to {MAX_PAGE_SIZE}.")
        self.page_size = int(raw_size)
        self.cursor = query["cursor"][-1] if "cursor" in query else None
        self.start = None
        if self.cursor is not None:
            payload = unsign(self.cursor)
            if payload.get("q") != self.binding() or payload.get("b"):
                raise BadRequest("cursor", "The ceiling follows next links of this listing only.")
            self.start = (self.parse_key(payload.get("k")), int(payload["i"]))

    @property
    def key(self) -> str:
        return self.ordering.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.ordering.startswith("-")

    def parse_key(self, value):
        if value is None:
            return None
        try:
            if self.key == "created":
                return dt.datetime.fromisoformat(value)
            if self.key == "birthday":
                return dt.date.fromisoformat(value)
            return int(value) if self.key == "points" else str(value)
        except (TypeError, ValueError):
            raise BadRequest("cursor", "Invalid cursor.") from None

    def canonical(self) -> dict:
        """crm.domain.listing.Listing.canonical: equal for every spelling of a listing."""
        shape = {"ordering": self.ordering, "page_size": self.page_size}
        for name, value in self.filters.items():
            if name in FOLDED and value is not None:
                value = value.lower()
            shape[name] = value.isoformat() if isinstance(value, dt.date) else value
        return shape

    def binding(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def filtered(self) -> bool:
        return any(value is not None for name, value in self.filters.items() if name != "search")


# --- the step's SQL for a listing ------------------------------------------------------------


def like(prefix: str) -> str:
    """Django's istartswith pattern: LIKE's wildcards escaped, then %."""
    return prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def sort_key(alias: str, name: str) -> str:
    column = f'"{alias}"."{name}"'
    return f"COALESCE({column}, {NULL_KEYS[name]})" if name in NULL_KEYS else column


def conditions(listing: Listing, alias: str) -> tuple[list[str], list]:
    """crm.infrastructure.filters.filter_customers, condition for condition, in its order."""
    f, where, params = listing.filters, [], []

    def column(name: str) -> str:
        return f'"{alias}"."{name}"'

    for name, sql in (
        ("city", f"UPPER({column('address_city')}::text) = UPPER(%s)"),
        ("country", f"UPPER({column('address_country')}::text) = UPPER(%s)"),
        ("customer_id", f"{column('customer_id')} = %s"),
        ("gender", f"{column('gender')} = %s"),
    ):
        if f[name] is not None:
            where.append(sql)
            params.append(f[name])
    for name in ("first_name", "last_name"):
        prefix = f[name]
        if prefix is None:
            continue
        if len(prefix) >= PREFIX:
            where.append(f"LEFT(UPPER({column(name)}), {PREFIX}) = (LEFT(UPPER(%s), {PREFIX}))")
            params.append(prefix)
        if len(prefix) < PREFIX or not (len(prefix) == PREFIX and prefix.isascii()):
            where.append(f"UPPER({column(name)}::text) LIKE UPPER(%s)")
            params.append(like(prefix))
    for name, low, high in (
        ("birthday", f["birthday_after"], f["birthday_before"]),
        ("points", f["points_min"], f["points_max"]),
    ):
        if listing.key == name:
            key = sort_key(alias, name)
            if low is not None:
                where += [f"{key} >= %s", f"{key} < {NULL_KEYS[name]}"]
                params.append(low)
            if high is not None:
                where.append(f"{key} <= %s")
                params.append(high)
        else:
            for bound, operator in ((low, ">="), (high, "<=")):
                if bound is not None:
                    where.append(f"{column(name)} {operator} %s")
                    params.append(bound)
    if f["created_after"] is not None:
        where.append(f"{column('created')} >= %s")
        params.append(start_of_day(f["created_after"]))
    if f["created_before"] is not None and f["created_before"] != dt.date.max:
        where.append(f"{column('created')} < %s")
        params.append(start_of_day(f["created_before"] + dt.timedelta(days=1)))
    if f["has_address"] is not None:
        where.append(f"{column('address_id')} IS {'NOT ' if f['has_address'] else ''}NULL")
    if f["search"] is not None:
        where.append(f"{column('search_vector')} {MATCHES}")
        params += [SEARCH_CONFIG, f["search"]]
    if listing.start is not None:
        value, id_ = listing.start
        operator = "<" if listing.descending else ">"
        if value is None:
            bound, bound_params = f"({NULL_KEYS[listing.key]}, %s)", [id_]
        else:
            bound, bound_params = "(%s, %s)", [value, id_]
        where.append(f"({sort_key(alias, listing.key)}, {column('id')}) {operator} {bound}")
        params += bound_params
    return where, params


def order(listing: Listing, alias: str) -> str:
    way = "DESC" if listing.descending else "ASC"
    return f'ORDER BY {sort_key(alias, listing.key)} {way}, "{alias}"."id" {way}'


# --8<-- [start:list]
def page_sql(listing: Listing) -> tuple[str, list]:
    """The step's page query (crm.infrastructure.repository.OrmCustomerRepository.page):
    a filtered page is chosen on app_user alone, then joined; any other is read joined."""
    limit = listing.page_size + 1
    if listing.filtered:
        where, params = conditions(listing, "U0")
        chosen = (
            'SELECT "U0"."id" AS "pk" FROM "app_user" "U0"'
            f" WHERE {' AND '.join(where)} {order(listing, 'U0')} LIMIT %s"
        )
        sql = f'{SELECT} WHERE "app_user"."id" IN ({chosen}) {order(listing, "app_user")} LIMIT %s'
        return sql, [*params, limit, limit]
    where, params = conditions(listing, "app_user")
    filtering = f" WHERE {' AND '.join(where)}" if where else ""
    return f"{SELECT}{filtering} {order(listing, 'app_user')} LIMIT %s", [*params, limit]


# --8<-- [end:list]

# --- rows to the step's JSON ---------------------------------------------------------------


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


# Where each ordering's key is in a row (crm.infrastructure.repository.key_of).
KEY_COLUMN = {
    "created": 7,
    "first_name": 2,
    "last_name": 3,
    "birthday": 6,
    "points": 17,
    "customer_id": 1,
}


def position(listing: Listing, row: tuple, backwards: bool) -> str:
    key = row[KEY_COLUMN[listing.key]]
    key = key.isoformat() if hasattr(key, "isoformat") else key
    return sign({"k": key, "i": row[0], "b": int(backwards), "q": listing.binding()})


def render(body) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def link(scope, query: dict[str, list[str]], token: str) -> str:
    host = dict(scope["headers"]).get(b"host", b"").decode()
    shown = {**query, "cursor": [token]}
    return f"http://{host}{scope['path']}?{urlencode(sorted(shown.items()), doseq=True)}"


async def customer_list(pool, scope, query: dict[str, list[str]], listing: Listing) -> bytes:
    sql, params = page_sql(listing)
    async with pool.connection() as conn:
        rows = await (await conn.execute(sql, params)).fetchall()
    shown = rows[: listing.page_size]
    next_link = None
    if len(rows) > listing.page_size:
        next_link = link(scope, query, position(listing, shown[-1], False))
    previous = None
    if listing.start is not None and shown:
        previous = link(scope, query, position(listing, shown[0], True))
    results = [customer(row) for row in shown]
    return render({"next": next_link, "previous": previous, "results": results})


async def customer_detail(pool, id_: int) -> bytes | None:
    async with pool.connection() as conn:
        row = await (await conn.execute(DETAIL, [id_, GET_LIMIT])).fetchone()
    return render(customer(row)) if row else None


# --- the cache: crm.infrastructure.cache, on redis-py directly -------------------------------

# The step's entries live a backstop of TIMEOUT seconds; writes invalidate them first.
TIMEOUT = 300
LIST_GENERATION = "list:generation"


class Cache:
    """The step's response cache: an entry is ``(version, body)``, pickled as
    django-async-redis stores it, answered only while its version is current. Keys are
    the step's, under a prefix of the ceiling's own, so that it never answers from what
    the step stored."""

    def __init__(self, url: str, database: str, connections: int):
        from redis.asyncio import BlockingConnectionPool, Redis

        pool = BlockingConnectionPool.from_url(url, max_connections=connections, timeout=0.5)
        self.redis = Redis(connection_pool=pool, socket_timeout=0.5)
        self.prefix = f"ceiling:{database}:1:"

    async def cached(self, version: str, name: str, answer) -> tuple[bytes | None, bool]:
        from redis.exceptions import RedisError

        version, name = self.prefix + version, self.prefix + name
        try:
            current, entry = await self.redis.mget(version, name)
        except (RedisError, OSError, TimeoutError):
            return await answer(), False
        current = int(current) if current is not None else 0
        if entry is not None:
            stored_under, body = pickle.loads(entry)
            if stored_under == current:
                return body, True
        body = await answer()
        if body is not None:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await self.redis.set(name, pickle.dumps((current, body)), ex=TIMEOUT)
        return body, False

    async def listing(self, shape: dict, answer):
        text = json.dumps(shape, sort_keys=True, default=str)
        name = "list:" + hashlib.sha256(text.encode()).hexdigest()
        return await self.cached(LIST_GENERATION, name, answer)

    async def customer(self, id_: int, answer):
        return await self.cached(f"customer:{id_}:version", f"customer:{id_}", answer)

    async def close(self) -> None:
        await self.redis.aclose()


class NoCache:
    """The ceiling of a last step that caches nothing."""

    async def listing(self, shape: dict, answer):
        return await answer(), None

    async def customer(self, id_: int, answer):
        return await answer(), None

    async def close(self) -> None:
        pass


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


def make_cache():
    url = os.environ.get("REDIS_URL")
    if not url:
        return NoCache()
    database = os.environ["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]
    return Cache(url, database, int(os.environ.get("DB_POOL_MAX_SIZE", "20")))


async def send(respond, status: int, body: bytes, hit: bool | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if hit is not None:
        headers.append((b"x-cache", b"hit" if hit else b"miss"))
    await respond({"type": "http.response.start", "status": status, "headers": headers})
    await respond({"type": "http.response.body", "body": body})


async def lifespan(receive, respond, state: dict) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            state["pool"] = make_pool()
            state["cache"] = make_cache()
            await state["pool"].open(wait=True)
            await respond({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await state["pool"].close()
            await state["cache"].close()
            await respond({"type": "lifespan.shutdown.complete"})
            return


STATE: dict = {}
NOT_FOUND = render({"detail": "Not found."})


async def app(scope, receive, respond) -> None:
    if scope["type"] == "lifespan":
        return await lifespan(receive, respond, STATE)
    pool, cache, path = STATE["pool"], STATE["cache"], scope["path"]
    if scope["method"] != "GET":
        return await send(respond, 405, render({"detail": "Method not allowed"}))
    try:
        if path == "/api/customers/":
            query = parse_qs(scope["query_string"].decode(), keep_blank_values=True)
            listing = Listing(query)
            host = dict(scope["headers"]).get(b"host", b"").decode()
            # The page's links are absolute: the host is part of the key, as in the step.
            shape = {**listing.canonical(), "cursor": listing.cursor, "origin": f"http://{host}"}
            body, hit = await cache.listing(
                shape, lambda: customer_list(pool, scope, query, listing)
            )
            return await send(respond, 200, body, hit)
        tail = path.removeprefix("/api/customers/").removesuffix("/")
        if path.startswith("/api/customers/") and path.endswith("/") and tail.isdigit():
            body, hit = await cache.customer(int(tail), lambda: customer_detail(pool, int(tail)))
            if body is None:
                return await send(respond, 404, NOT_FOUND)
            return await send(respond, 200, body, hit)
        if path == "/api/health/":
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
            return await send(respond, 200, render({"status": "ok", "database": "ok"}))
    except BadRequest as exc:
        return await send(respond, 400, render(exc.body))
    await send(respond, 404, NOT_FOUND)
