"""The project's own databases: one seeded base, one clone per step.

``{prefix}_base`` is created with step 01's migrations and seeded once. The base is
copied (``CREATE DATABASE … TEMPLATE``) and migrated once per distinct set of step
migrations, ``{prefix}_migrated_<digest>``; each step gets ``{prefix}_step_NN``, a copy
of the one with its migrations. The default prefix is ``crm``; the test suite uses
``crm_test`` so that it never disturbs a seeded benchmark database.

Every database the harness creates carries a ``COMMENT`` with a marker and a
fingerprint. A database without the marker is not ours: the harness refuses to
touch it. A database whose fingerprint differs (other size, seed, seeder or
migrations) is rebuilt; one whose fingerprint matches is reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

from bench import paths, seed, venvs
from bench.services import with_database
from bench.steps import LOCAL_MODE, Step, discover

MARK = "crm-bench"
BUILDING = f"{MARK}:building"
DEFAULT_CUSTOMERS = 100_000
DEFAULT_SEED = 42


class DatabaseError(RuntimeError):
    """A database the harness may not or cannot prepare; the message says why."""


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def migrations_digest(step: Step) -> str:
    return _digest(*(p.name.encode() + p.read_bytes() for p in step.migrations))


def base_fingerprint(customers: int, seed_value: int) -> str:
    first = discover()[0]
    seeder = Path(seed.__file__).read_bytes()
    return _digest(f"{customers}:{seed_value}".encode(), seeder, migrations_digest(first).encode())


# How a migrated template is finished (prepare_template); a change rebuilds every one.
TEMPLATE_FINISH = "vacuum-full-analyze"


def step_fingerprint(base: str, step: Step) -> str:
    return _digest(base.encode(), migrations_digest(step).encode(), TEMPLATE_FINISH.encode())


def _comment(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute(
        "SELECT coalesce(shobj_description(oid, 'pg_database'), '')"
        " FROM pg_database WHERE datname = %s",
        [name],
    ).fetchone()
    return None if row is None else row[0]


def _set_comment(conn: psycopg.Connection, name: str, text: str) -> None:
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(text))
    )


def _drop_owned(conn: psycopg.Connection, name: str) -> None:
    comment = _comment(conn, name)
    if comment is None:
        return
    if not comment.startswith(MARK):
        raise DatabaseError(
            f"database {name!r} exists but was not created by this harness; "
            "refusing to drop it. Rename it or choose another server."
        )
    conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _locale_clause(conn: psycopg.Connection) -> sql.Composable:
    # The same byte-order collation on every server, so sorts and their plans match.
    if conn.info.server_version >= 170000:
        return sql.SQL("LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8' LOCALE 'C'")
    return sql.SQL("LOCALE 'C'")


def _create(conn: psycopg.Connection, name: str, template: str | None = None) -> None:
    if template:
        # FILE_COPY copies the files instead of WAL-logging every block: much faster
        # for a seeded template of a gigabyte or more.
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    else:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' {}").format(
            sql.Identifier(name), _locale_clause(conn)
        )
    conn.execute(statement)
    _set_comment(conn, name, BUILDING)


# A migration quiet for this long is reported with what PostgreSQL is doing meanwhile;
# one that took at least REPORT_AFTER_S is named with its time when it is done.
PROGRESS_EVERY_S = 10.0
REPORT_AFTER_S = 1.0
APPLYING = re.compile(r"Applying (\S+)\.\.\.")


def activity(url: str) -> str:
    """What the database's other sessions are doing, in a line: the statement, and for
    an index build its phase and how far it is (pg_stat_progress_create_index)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT left(regexp_replace(a.query, '\\s+', ' ', 'g'), 90), p.phase,"
            " p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total"
            " FROM pg_stat_activity a"
            " LEFT JOIN pg_stat_progress_create_index p ON p.pid = a.pid"
            " WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()"
            " AND a.state = 'active' ORDER BY a.query_start LIMIT 1"
        ).fetchone()
    if row is None:
        return "between statements"
    query, phase, blocks_done, blocks_total, tuples_done, tuples_total = row
    if phase is None:
        return query
    done, total = (blocks_done, blocks_total) if blocks_total else (tuples_done, tuples_total)
    share = f" {100 * done / total:.0f}%" if total else ""
    return f"{query} ({phase}{share})"


def checkpoint(url: str, log=print) -> None:
    """Write every changed buffer to disk now (CHECKPOINT), so that the I/O of what just
    ran is not paid by what runs next. A role without the right to says so and goes on."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            log("[db] CHECKPOINT refused (needs superuser or pg_checkpoint); going on without")


def migrate(step: Step, url: str, log=print) -> None:
    """``manage.py migrate``, saying which migration runs and, while one is quiet for
    PROGRESS_EVERY_S, which statement and how far an index build has come."""
    python = venvs.ensure(step)
    env = {**os.environ, **LOCAL_MODE, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [python, "manage.py", "migrate", "--noinput", "-v", "1"],
        cwd=step.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    chunks: queue.Queue[bytes] = queue.Queue()

    def read() -> None:
        # Chunks, not lines: Django flushes "Applying x..." and adds " OK" when it is done.
        while chunk := os.read(process.stdout.fileno(), 4096):
            chunks.put(chunk)
        chunks.put(b"")

    def done(migration: str | None, since: float) -> None:
        if migration and (took := time.monotonic() - since) >= REPORT_AFTER_S:
            log(f"[db]   {migration}: {took:.1f}s")

    threading.Thread(target=read, daemon=True).start()
    output, seen, current, since = "", 0, None, time.monotonic()
    while True:
        try:
            chunk = chunks.get(timeout=PROGRESS_EVERY_S)
        except queue.Empty:
            took = time.monotonic() - since
            log(f"[db]   {current or 'migrate'}: {took:.0f}s so far; {activity(url)}")
            continue
        if not chunk:
            break
        output += chunk.decode(errors="replace")
        for found in APPLYING.finditer(output, seen):
            done(current, since)
            current, since, seen = found.group(1), time.monotonic(), found.end()
    if process.wait() != 0:
        raise DatabaseError(f"migrating {step.slug} failed:\n{output}")
    done(current, since)


def prepare_base(
    admin_url: str,
    customers: int = DEFAULT_CUSTOMERS,
    seed_value: int = DEFAULT_SEED,
    prefix: str = "crm",
    log=print,
) -> str:
    """Return the URL of a seeded base database, building it only when needed."""
    name = f"{prefix}_base"
    fingerprint = base_fingerprint(customers, seed_value)
    wanted = f"{MARK}:{fingerprint} customers={customers} seed={seed_value}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if _comment(conn, name) == wanted:
            log(f"[db] {name}: reusing ({customers:,} customers, seed {seed_value})")
            _ensure_terms(with_database(admin_url, name), fingerprint, customers, seed_value, log)
            return with_database(admin_url, name)
        _drop_owned(conn, name)
        _create(conn, name)
    url = with_database(admin_url, name)
    first = discover()[0]
    log(f"[db] {name}: migrating with {first.slug}")
    migrate(first, url, log)
    seed.load(url, customers, seed_value, log=log)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _set_comment(conn, name, wanted)
    _ensure_terms(url, fingerprint, customers, seed_value, log)
    return url


def current_dataset(admin_url: str, prefix: str = "crm") -> tuple[int, int] | None:
    """(customers, seed) of the seeded base database, if there is one."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        comment = _comment(conn, f"{prefix}_base") or ""
    match = re.fullmatch(rf"{MARK}:\w+ customers=(\d+) seed=(\d+)", comment)
    return (int(match.group(1)), int(match.group(2))) if match else None


def step_mark(step: Step, customers: int, seed_value: int) -> str:
    """The comment a database migrated with ``step``'s migrations carries: a step's
    copy and the template it is copied from carry the same one."""
    return f"{MARK}:{step_fingerprint(base_fingerprint(customers, seed_value), step)}"


def template_name(step: Step, prefix: str = "crm") -> str:
    return f"{prefix}_migrated_{migrations_digest(step)[:12]}"


def _migration_files(step: Step) -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for path in step.migrations]


def extends(step: Step) -> Step | None:
    """The step with the most migrations that are all, byte for byte, the first of
    ``step``'s, and fewer of them; none when only the base's (step 01's) are."""
    mine = _migration_files(step)
    floor = len(discover()[0].migrations)
    prefixes = [
        other
        for other in discover()
        if floor < len(other.migrations) < len(mine)
        and mine[: len(other.migrations)] == _migration_files(other)
    ]
    return max(prefixes, key=lambda other: len(other.migrations), default=None)


def prepare_template(
    admin_url: str,
    step: Step,
    customers: int = DEFAULT_CUSTOMERS,
    seed_value: int = DEFAULT_SEED,
    prefix: str = "crm",
    log=print,
) -> str:
    """The name of the seeded base migrated with ``step``'s migrations, built once.

    Steps whose migrations are the same (01 to 03, 06 to 08) share it, and each step's
    database is a file copy of it: seconds, where migrating again would rewrite a table
    of a million rows. A step whose migrations extend another step's starts from that
    step's template and runs only its own (09 from 06's). It is never served, so no
    connection blocks a copy.
    """
    name = template_name(step, prefix)
    wanted = step_mark(step, customers, seed_value)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if _comment(conn, name) == wanted:
            return name
    # Migrations a step shares with an earlier step's template are not run again: at 1M
    # customers step 09's would rewrite app_user three times before its own migration.
    extended = extends(step)
    source = (
        prepare_template(admin_url, extended, customers, seed_value, prefix, log)
        if extended
        else f"{prefix}_base"
    )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _drop_owned(conn, name)
        _create(conn, name, template=source)
    url = with_database(admin_url, name)
    log(
        f"[db] {name}: migrating with {step.slug}"
        + (f", from {extended.slug}'s {source}" if extended else "")
    )
    started = time.perf_counter()
    migrate(step, url, log)
    with psycopg.connect(url, autocommit=True) as conn:
        # A migration that fills a new column (steps 05 and 09) updates most rows: the
        # table and every index it already had end up twice their size, half of it dead,
        # and autovacuum would clean that up during some later step's timed run. Every
        # template is compacted the same way, so each step starts from the state a
        # maintained database is in, whatever its migrations rewrote.
        conn.execute(
            sql.SQL("VACUUM (FULL) {}").format(
                sql.SQL(", ").join(sql.Identifier(table) for table in seed.TABLES)
            )
        )
        # The indexes a step's migrations add start without statistics (an expression
        # index has none until ANALYZE); the planner would guess, and the bench would
        # measure plans no maintained database runs. Copies keep these statistics.
        conn.execute("ANALYZE")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _set_comment(conn, name, wanted)
    log(f"[db] {name}: migrated, compacted and analysed in {time.perf_counter() - started:.1f}s")
    return name


def prepare_step(
    admin_url: str,
    step: Step,
    customers: int = DEFAULT_CUSTOMERS,
    seed_value: int = DEFAULT_SEED,
    prefix: str = "crm",
    fresh: bool = False,
    log=print,
    copy: str = "",
) -> str:
    """Return the URL of the step's database: a copy of the seeded base migrated with
    the step's migrations (``prepare_template``).

    ``fresh`` copies again even when the existing copy is current (tests that write).
    ``copy`` names a second copy of the same template, for writers that must not touch
    what the step's own copy holds.
    """
    prepare_base(admin_url, customers, seed_value, prefix, log)
    name = step.database_name(prefix) + (f"_{copy}" if copy else "")
    wanted = step_mark(step, customers, seed_value)
    url = with_database(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not fresh and _comment(conn, name) == wanted:
            log(f"[db] {name}: reusing")
            return url
    template = prepare_template(admin_url, step, customers, seed_value, prefix, log)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        _drop_owned(conn, name)
        started = time.perf_counter()
        _create(conn, name, template=template)
        _set_comment(conn, name, wanted)
    log(f"[db] {name}: cloned from {template} in {time.perf_counter() - started:.1f}s")
    return url


def _owned(conn: psycopg.Connection, prefix: str) -> list[str]:
    """The databases of ``prefix`` that this harness created."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
            [f"{prefix}\\_%"],
        )
    ]
    return [name for name in names if (_comment(conn, name) or "").startswith(MARK)]


def drop_all(admin_url: str, prefix: str = "crm") -> list[str]:
    """Drop every database of ``prefix`` that this harness created."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        dropped = _owned(conn, prefix)
        for name in dropped:
            _drop_owned(conn, name)
    return dropped


def disk_used(admin_url: str, prefix: str = "crm") -> int:
    """Bytes on disk of every database of ``prefix`` that this harness created."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return sum(
            conn.execute("SELECT pg_database_size(%s)", [name]).fetchone()[0]
            for name in _owned(conn, prefix)
        )


# --- term files for the workload ----------------------------------------------------

HOT = 20
COLD = 200
TERM_KINDS = {"last_names", "first_names", "cities", "countries", "ids", "customer_ids"}


def terms_path(fingerprint: str) -> Path:
    return paths.SEED_DIR / f"terms-{fingerprint}.json"


def _ensure_terms(url: str, fingerprint: str, customers: int, seed_value: int, log) -> Path:
    target = terms_path(fingerprint)
    # A file written before a kind of term was added is written again.
    if target.exists() and json.loads(target.read_text()).keys() >= TERM_KINDS:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "fingerprint": fingerprint,
        "customers": customers,
        "seed": seed_value,
        **sample_terms(url),
    }
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    log(f"[seed] term files written to {target}")
    return target


def _hot_cold(conn: psycopg.Connection, query: str) -> dict[str, list]:
    """The most frequent values (hot) and an even sample of the rest (cold)."""
    values = [row[0] for row in conn.execute(query)]
    hot, rest = values[:HOT], values[HOT:]
    step = max(1, len(rest) // COLD)
    return {"hot": hot, "cold": rest[::step][:COLD]}


def sample_terms(url: str) -> dict:
    """Terms the workload draws from, sampled deterministically from the seeded data."""
    with psycopg.connect(url) as conn:
        total = conn.execute("SELECT count(*) FROM app_user").fetchone()[0]
        every = max(1, total // (HOT + COLD))
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM app_user WHERE id %% %s = 0 ORDER BY id LIMIT %s",
                [every, HOT + COLD],
            )
        ]
        customer_ids = [
            row[0]
            for row in conn.execute(
                "SELECT customer_id FROM app_user WHERE id = ANY(%s) ORDER BY id", [ids]
            )
        ]
        return {
            "last_names": _hot_cold(
                conn, "SELECT last_name FROM app_user GROUP BY 1 ORDER BY count(*) DESC, 1"
            ),
            "first_names": _hot_cold(
                conn, "SELECT first_name FROM app_user GROUP BY 1 ORDER BY count(*) DESC, 1"
            ),
            "cities": _hot_cold(
                conn,
                "SELECT city FROM app_user JOIN address ON address.id = address_id"
                " GROUP BY 1 ORDER BY count(*) DESC, 1",
            ),
            # Eight countries, all of them hot: the commonest first.
            "countries": _hot_cold(
                conn,
                "SELECT country FROM app_user JOIN address ON address.id = address_id"
                " GROUP BY 1 ORDER BY count(*) DESC, 1",
            ),
            "ids": {"hot": ids[:HOT], "cold": ids[HOT:]},
            "customer_ids": {"hot": customer_ids[:HOT], "cold": customer_ids[HOT:]},
        }


# --- what a step's schema weighs on disk -------------------------------------------------


def storage(url: str) -> dict:
    """Bytes of the customer tables (heap and TOAST) and of each of their indexes."""
    with psycopg.connect(url) as conn:
        tables = dict(
            conn.execute(
                "SELECT relname, pg_table_size(oid) FROM pg_class"
                " WHERE relkind = 'r' AND relname = ANY(%s) ORDER BY 1",
                [list(seed.TABLES)],
            )
        )
        indexes = {
            name: {"table": table, "bytes": size}
            for name, table, size in conn.execute(
                "SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text,"
                " pg_relation_size(i.indexrelid) FROM pg_index i"
                " WHERE i.indrelid::regclass::text = ANY(%s) ORDER BY 2, 1",
                [list(seed.TABLES)],
            )
        }
    return {"tables": tables, "indexes": indexes}


# --- the data's shape, recorded with every result ---------------------------------------


def distribution(url: str) -> dict:
    """How the seeded rows are spread, so that prose about the data is rendered, not typed.

    Shares are fractions of all customers; ``customers_per_address`` is how many customers
    share one address row on average.
    """
    with psycopg.connect(url) as conn:
        total, with_address, with_relationship, no_birthday, no_phone = conn.execute(
            "SELECT count(*), count(address_id),"
            " count(*) FILTER (WHERE EXISTS (SELECT FROM customer_relationship r"
            "                                WHERE r.appuser_id = app_user.id)),"
            " count(*) FILTER (WHERE birthday IS NULL),"
            " count(*) FILTER (WHERE phone_number IS NULL)"
            " FROM app_user"
        ).fetchone()
        (addresses,) = conn.execute(
            "SELECT count(DISTINCT address_id) FROM app_user WHERE address_id IS NOT NULL"
        ).fetchone()
        genders = dict(
            conn.execute("SELECT gender, count(*) FROM app_user GROUP BY 1 ORDER BY 2 DESC, 1")
        )
    total = max(total, 1)
    return {
        "gender": {name: round(count / total, 4) for name, count in genders.items()},
        "with_address": round(with_address / total, 4),
        "with_relationship": round(with_relationship / total, 4),
        "without_birthday": round(no_birthday / total, 4),
        "without_phone_number": round(no_phone / total, 4),
        "customers_per_address": round(with_address / addresses, 2) if addresses else None,
    }
