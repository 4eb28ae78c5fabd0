"""The seeder: deterministic, the shape DESIGN §3 describes, constraints rebuilt."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from bench import database, paths, seed
from bench.services import with_database

CUSTOMERS = 3_000


def table_digests(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(
                f"SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t"
            ).fetchone()[0]
            for table in seed.TABLES
        }


@pytest.fixture(scope="module")
def seeded(servers) -> str:
    return database.prepare_base(servers.database_url, CUSTOMERS, 11, prefix="crm_test_seed")


def test_vocabulary_is_deterministic_and_distinct():
    first, again, other = seed.vocabulary(1), seed.vocabulary(1), seed.vocabulary(2)
    assert first == again
    assert first != other
    assert len(set(first.last_names)) == len(first.last_names) > 500
    assert len(first.cities) == len(first.city_codes) == len(first.countries)


def test_vocabulary_does_not_depend_on_the_process():
    # Set iteration order varies with PYTHONHASHSEED; the vocabulary must not.
    script = "from bench import seed; print(repr(seed.vocabulary(3)))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(hash_seed)},
            capture_output=True,
            text=True,
            check=True,
            cwd=paths.ROOT,
        ).stdout
        for hash_seed in (1, 2)
    }
    assert len(outputs) == 1


def test_same_size_and_seed_give_identical_tables(servers, seeded):
    digests = table_digests(seeded)
    url = with_database(servers.database_url, "crm_test_seed_base")
    seed.load(url, CUSTOMERS, 11, log=lambda _: None)
    assert table_digests(url) == digests


def test_another_seed_gives_other_data(servers, seeded):
    other = database.prepare_base(servers.database_url, CUSTOMERS, 12, prefix="crm_test_seed2")
    try:
        assert table_digests(other) != table_digests(seeded)
    finally:
        database.drop_all(servers.database_url, "crm_test_seed2")


def test_shape_of_the_data(seeded):
    with psycopg.connect(seeded) as conn:

        def one(query: str):
            return conn.execute(query).fetchone()[0]

        assert one("SELECT count(*) FROM app_user") == CUSTOMERS
        assert one("SELECT count(*) FROM address") == CUSTOMERS // 2
        without_address = one("SELECT count(*) FROM app_user WHERE address_id IS NULL")
        assert 0.05 * CUSTOMERS < without_address < 0.15 * CUSTOMERS
        shared = one("SELECT count(*) FROM (SELECT address_id FROM app_user"
                     " WHERE address_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) s")  # fmt: skip
        assert shared > CUSTOMERS // 10
        relationships = one("SELECT count(*) FROM customer_relationship")
        assert 0.95 * CUSTOMERS < relationships <= CUSTOMERS
        assert one("SELECT count(DISTINCT appuser_id) FROM customer_relationship") == relationships
        assert one("SELECT min(points) FROM customer_relationship") >= 0
        genders = {row[0] for row in conn.execute("SELECT DISTINCT gender FROM app_user")}
        assert genders == {"male", "female", "other", "undefined"}
        # Skew: the most common last name is far above the median one.
        top, median = conn.execute(
            "SELECT max(n), percentile_disc(0.5) WITHIN GROUP (ORDER BY n)"
            " FROM (SELECT count(*) n FROM app_user GROUP BY last_name) s"
        ).fetchone()
        assert top > 10 * median


def test_constraints_and_indexes_are_rebuilt(seeded):
    with psycopg.connect(seeded) as conn:
        constraints = {
            row[0]
            for row in conn.execute(
                "SELECT contype::text || ':' || conrelid::regclass::text FROM pg_constraint"
                " WHERE conrelid::regclass::text = ANY(%s)",
                [list(seed.TABLES)],
            )
        }
        assert {"p:address", "p:app_user", "p:customer_relationship"} <= constraints
        assert {"u:app_user", "u:customer_relationship"} <= constraints
        assert {"f:app_user", "f:customer_relationship"} <= constraints
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO app_user (customer_id, first_name, last_name, gender,"
                         " created, last_updated) SELECT customer_id, 'x', 'y', 'male', now(),"
                         " now() FROM app_user LIMIT 1")  # fmt: skip


def test_identity_sequences_continue_after_the_seeded_ids(seeded):
    with psycopg.connect(seeded) as conn:
        new_id = conn.execute(
            "INSERT INTO address (street, street_number, city_code, city, country)"
            " VALUES ('s', '1', 'c', 'c', 'c') RETURNING id"
        ).fetchone()[0]
        conn.rollback()
    assert new_id == CUSTOMERS // 2 + 1


def test_terms_are_sampled_from_the_data(seeded):
    terms = database.sample_terms(seeded)
    assert terms == database.sample_terms(seeded)
    assert len(terms["last_names"]["hot"]) == database.HOT
    assert terms["last_names"]["cold"]
    with psycopg.connect(seeded) as conn:
        for customer_id in terms["customer_ids"]["hot"]:
            assert conn.execute(
                "SELECT 1 FROM app_user WHERE customer_id = %s", [customer_id]
            ).fetchone()
        hottest = terms["last_names"]["hot"][0]
        coldest = terms["last_names"]["cold"][-1]
        count = "SELECT count(*) FROM app_user WHERE last_name = %s"
        assert (
            conn.execute(count, [hottest]).fetchone()[0]
            > conn.execute(count, [coldest]).fetchone()[0]
        )
