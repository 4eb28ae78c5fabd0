"""Deterministic, set-based seeding of the CRM tables.

Faker only builds the vocabularies (names, streets, cities). Rows are generated inside
PostgreSQL by ``INSERT … SELECT FROM generate_series``, each random choice taken from
``hashint8extended(row, seed)``: integer-only arithmetic over a hash that PostgreSQL
keeps stable across versions (hash partitioning depends on it). So the same
``customers`` and ``seed`` give byte-identical tables on any machine, and nothing
crosses the client connection row by row.

For speed the loader drops the tables' indexes and constraints, loads each table in a
transaction that first truncates it (under ``wal_level=minimal``, on a server of your
own, that skips WAL), and then rebuilds exactly the definitions it dropped, as read from
the catalog.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

TABLES = ("address", "app_user", "customer_relationship")
EPOCH = "2019-01-01 00:00:00+00"
CREATED_SPAN_SECONDS = 6 * 365 * 86400

# (Faker locale, country name, phone country code); earlier entries are more common.
LOCALES = [
    ("de_DE", "Germany", "49"),
    ("en_US", "United States", "1"),
    ("fr_FR", "France", "33"),
    ("en_GB", "United Kingdom", "44"),
    ("es_ES", "Spain", "34"),
    ("it_IT", "Italy", "39"),
    ("nl_NL", "Netherlands", "31"),
    ("pl_PL", "Poland", "48"),
]
CITIES_PER_LOCALE = 60
STREETS_PER_LOCALE = 400
NAMES_PER_LOCALE = 120


@dataclass(frozen=True)
class Vocabulary:
    first_names_male: list[str]
    first_names_female: list[str]
    last_names: list[str]
    streets: list[str]
    cities: list[str]
    city_codes: list[str]
    countries: list[str]
    phone_codes: list[str]


def vocabulary(seed: int) -> Vocabulary:
    """Names and places from Faker, in an order fixed by ``seed`` (front = most common)."""
    from faker import Faker

    male, female, last, streets = [], [], [], []
    cities, codes, countries, phones = [], [], [], []
    for offset, (locale, country, phone) in enumerate(LOCALES):
        fake = _stable(Faker(locale))
        fake.seed_instance(seed * 1000 + offset)
        male += _distinct(fake.first_name_male, NAMES_PER_LOCALE)
        female += _distinct(fake.first_name_female, NAMES_PER_LOCALE)
        last += _distinct(fake.last_name, NAMES_PER_LOCALE * 2)
        streets += _distinct(fake.street_name, STREETS_PER_LOCALE)
        for city in _distinct(fake.city, CITIES_PER_LOCALE):
            cities.append(city)
            codes.append(fake.postcode())
            countries.append(country)
            phones.append(phone)
    rng = random.Random(seed)
    city_order = list(range(len(cities)))
    rng.shuffle(city_order)
    return Vocabulary(
        first_names_male=_shuffled(_unique(male), rng),
        first_names_female=_shuffled(_unique(female), rng),
        last_names=_shuffled(_unique(last), rng),
        streets=_shuffled(_unique(streets), rng),
        cities=[cities[i] for i in city_order],
        city_codes=[codes[i] for i in city_order],
        countries=[countries[i] for i in city_order],
        phone_codes=[phones[i] for i in city_order],
    )


def _stable(fake):
    """Sort word lists that a locale built from a set.

    it_IT's cities come from ``list({...})``, whose order changes with PYTHONHASHSEED;
    a seeded draw from it would name other cities in every process.
    """
    for provider in fake.providers:
        for name, value in vars(type(provider)).items():
            if isinstance(value, list | set) and value and all(isinstance(v, str) for v in value):
                setattr(provider, name, sorted(value))
    return fake


def _distinct(make: Callable[[], str], count: int) -> list[str]:
    seen: dict[str, None] = {}
    for _ in range(count * 20):
        seen.setdefault(make(), None)
        if len(seen) == count:
            break
    return list(seen)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _shuffled(items: list[str], rng: random.Random) -> list[str]:
    items = sorted(items)
    rng.shuffle(items)
    return items


# --- SQL expressions over a 64-bit hash ---------------------------------------------


def _hash(key: int) -> str:
    return f"hashint8extended(g, %(seed)s::bigint * 64 + {key})"


def _positive(h: str) -> str:
    return f"({h} & 9223372036854775807)"


def uniform(h: str, size: str) -> str:
    """1-based index, uniform over ``size`` choices."""
    return f"(1 + mod({_positive(h)}, {size}))"


def skewed(h: str, size: str) -> str:
    """1-based index with a heavy head: the product of three uniform 20-bit draws.

    Integer-only so that every platform computes the same value; the head of the
    vocabulary gets most rows (the first 1% of choices takes ~16% of them).
    """
    a, b, c = (f"(({h} >> {shift}) & 1048575)" for shift in (0, 20, 40))
    return f"(1 + ((((({a} * {b}) >> 20) * {c}) >> 20) * {size} >> 20))"


def pick(vocabulary: str, h: str, draw=skewed) -> str:
    """One element of the vocabulary array passed as parameter ``vocabulary``."""
    array = f"%({vocabulary})s::text[]"
    return f"({array})[{draw(h, f'cardinality({array})')}]"


def percent(h: str) -> str:
    return f"mod({_positive(h)}, 100)"


ADDRESS_SQL = f"""
INSERT INTO address (id, street, street_number, city_code, city, country)
SELECT g,
       {pick("streets", _hash(1), uniform)},
       (mod({_positive(_hash(2))}, 250) + 1)::text
         || CASE WHEN {percent(_hash(3))} < 5 THEN 'a' ELSE '' END,
       (%(city_codes)s::text[])[c],
       (%(cities)s::text[])[c],
       (%(countries)s::text[])[c]
FROM (
  SELECT g, {skewed(_hash(4), "cardinality(%(cities)s::text[])")} AS c
  FROM generate_series(1, %(addresses)s::bigint) AS g
) AS rows
"""

CREATED = (
    f"(timestamptz '{EPOCH}'"
    f" + mod({_positive(_hash(20))}, {CREATED_SPAN_SECONDS}) * interval '1 second')"
)

APP_USER_SQL = f"""
INSERT INTO app_user (id, customer_id, first_name, last_name, gender, phone_number,
                      birthday, created, last_updated, address_id)
SELECT g,
       -- A bijection of g (multiplier coprime to 10^10): unique, but not in id order.
       'C' || lpad(mod(g * 2654435761, 10000000000)::text, 10, '0'),
       CASE WHEN gender = 'female' OR (gender IN ('other', 'undefined') AND mod(g, 2) = 0)
            THEN {pick("female", _hash(11))}
            ELSE {pick("male", _hash(11))}
       END,
       {pick("last_names", _hash(12))},
       gender,
       CASE WHEN {percent(_hash(13))} < 15 THEN NULL
            ELSE '+' || {pick("phone_codes", _hash(14), uniform)}
                 || ' ' || lpad(mod({_positive(_hash(15))}, 1000000000)::text, 9, '0')
       END,
       CASE WHEN {percent(_hash(16))} < 8 THEN NULL
            ELSE date '1940-01-01' + mod({_positive(_hash(17))}, 23000)::int
       END,
       {CREATED},
       {CREATED} + mod({_positive(_hash(21))}, 365 * 86400) * interval '1 second',
       CASE WHEN {percent(_hash(18))} < 10 THEN NULL
            ELSE {uniform(_hash(19), "%(addresses)s::bigint")}
       END
FROM (
  SELECT g,
         CASE WHEN p < 46 THEN 'male'
              WHEN p < 92 THEN 'female'
              WHEN p < 95 THEN 'other'
              ELSE 'undefined'
         END AS gender
  FROM (SELECT g, {percent(_hash(10))} AS p
        FROM generate_series(1, %(customers)s::bigint) AS g) AS draws
) AS rows
"""

RELATIONSHIP_SQL = f"""
INSERT INTO customer_relationship (id, appuser_id, points, created, last_activity)
SELECT g, g,
       CASE WHEN {percent(_hash(30))} < 3 THEN 0
            ELSE {skewed(_hash(31), "50000")}
       END,
       {CREATED},
       CASE WHEN {percent(_hash(32))} < 10 THEN NULL
            ELSE {CREATED} + mod({_positive(_hash(33))}, 400 * 86400) * interval '1 second'
       END
FROM generate_series(1, %(customers)s::bigint) AS g
WHERE {percent(_hash(34))} >= 1
"""


@dataclass(frozen=True)
class _Definition:
    table: str
    name: str
    sql: str
    kind: str  # "p" primary key, "u" unique, "f" foreign key, "i" plain index


def _definitions(conn: psycopg.Connection) -> list[_Definition]:
    constraints = conn.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
        FROM pg_constraint c
        WHERE c.conrelid = ANY(%s::regclass[]) AND c.contype IN ('p', 'u', 'f')
        """,
        [list(TABLES)],
    ).fetchall()
    indexes = conn.execute(
        """
        SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text,
               pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """,
        [list(TABLES)],
    ).fetchall()
    defs = [_Definition(t, n, s, k) for t, n, s, k in constraints]
    defs += [_Definition(t, n, s, "i") for t, n, s in indexes]
    return defs


def _drop(conn: psycopg.Connection, defs: list[_Definition]) -> None:
    with conn.transaction():
        for d in sorted(defs, key=lambda d: d.kind != "f"):  # foreign keys first
            if d.kind == "i":
                conn.execute(f'DROP INDEX "{d.name}"')
            else:
                conn.execute(f'ALTER TABLE "{d.table}" DROP CONSTRAINT "{d.name}"')


def _create_sql(d: _Definition) -> str:
    if d.kind == "i":
        return d.sql
    return f'ALTER TABLE "{d.table}" ADD CONSTRAINT "{d.name}" {d.sql}'


@dataclass
class SeedReport:
    customers: int
    addresses: int
    relationships: int
    seconds: float
    phases: dict[str, float]

    @property
    def rows(self) -> int:
        return self.customers + self.addresses + self.relationships


def load(url: str, customers: int, seed: int, log: Callable[[str], None] = print) -> SeedReport:
    """Fill the (migrated, empty or not) CRM tables of ``url`` with the seeded data set."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    started = time.perf_counter()
    phases: dict[str, float] = {}
    vocab = vocabulary(seed)
    addresses = max(1, (customers + 1) // 2)
    params = {
        "seed": seed,
        "customers": customers,
        "addresses": addresses,
        "male": vocab.first_names_male,
        "female": vocab.first_names_female,
        "last_names": vocab.last_names,
        "streets": vocab.streets,
        "cities": vocab.cities,
        "city_codes": vocab.city_codes,
        "countries": vocab.countries,
        "phone_codes": vocab.phone_codes,
    }
    mark = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        defs = _definitions(conn)
        _drop(conn, defs)
    phases["prepare"] = time.perf_counter() - mark
    log(f"[seed] generating {customers:,} customers, {addresses:,} addresses (seed {seed})")

    def fill(statements: list[tuple[str, str]]) -> None:
        with psycopg.connect(url) as conn:
            conn.execute("SET synchronous_commit = off")
            for table, sql in statements:
                t0 = time.perf_counter()
                with conn.transaction():
                    # Truncating in the loading transaction gives the table a new file,
                    # which lets a server with wal_level=minimal skip WAL for the load.
                    conn.execute(f'TRUNCATE "{table}"')
                    rowcount = conn.execute(sql, params).rowcount
                took = time.perf_counter() - t0
                rate = rowcount / took
                log(f"[seed]   {table}: {rowcount:,} rows in {took:.1f}s ({rate:,.0f} rows/s)")

    mark = time.perf_counter()
    # Two connections keep both cores busy: the customers on one, the rest on the other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [
            pool.submit(fill, [("app_user", APP_USER_SQL)]),
            pool.submit(
                fill, [("address", ADDRESS_SQL), ("customer_relationship", RELATIONSHIP_SQL)]
            ),
        ]
        for job in jobs:
            job.result()
    phases["load"] = time.perf_counter() - mark

    mark = time.perf_counter()
    log(f"[seed] rebuilding {len(defs)} indexes and constraints")

    def build(table: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for d in defs:
                if d.table == table and d.kind != "f":
                    conn.execute(_create_sql(d))
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f' (SELECT coalesce(max(id), 0) + 1 FROM "{table}"), false)'
            )

    with ThreadPoolExecutor(max_workers=2) as pool:
        for job in [
            pool.submit(build, t) for t in ("app_user", "address", "customer_relationship")
        ]:
            job.result()
    with psycopg.connect(url, autocommit=True) as conn:
        for d in defs:
            if d.kind == "f":
                conn.execute(_create_sql(d))
    phases["indexes"] = time.perf_counter() - mark

    mark = time.perf_counter()
    log("[seed] vacuum (freeze, analyze)")

    def vacuum(table: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            # Frozen tuples and a complete visibility map: every step's clone starts
            # from the same physical state, and index-only scans are possible at once.
            conn.execute(f'VACUUM (FREEZE, ANALYZE) "{table}"')

    with ThreadPoolExecutor(max_workers=2) as pool:
        for job in [pool.submit(vacuum, t) for t in TABLES]:
            job.result()
    phases["vacuum"] = time.perf_counter() - mark

    with psycopg.connect(url) as conn:
        counts = [conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in TABLES]
    seconds = time.perf_counter() - started
    report = SeedReport(
        customers=counts[1],
        addresses=counts[0],
        relationships=counts[2],
        seconds=seconds,
        phases=phases,
    )
    log(
        f"[seed] done: {report.rows:,} rows in {seconds:.1f}s"
        f" ({report.rows / seconds:,.0f} rows/s, {report.customers / seconds:,.0f} customers/s)"
    )
    return report
