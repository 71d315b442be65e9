"""Alert queries cannot change the data source: every write is refused and reported.

Each case runs a writing statement as an alert query against a scratch table holding two rows,
then looks at the table from outside sqlsentinel: same columns, same rows, still there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from sqlalchemy import inspect

from sqlsentinel.database.engines import get_engine
from sqlsentinel.executor.query import run_query
from sqlsentinel.models import QueryResult, Status

if TYPE_CHECKING:
    from tests.conftest import DataSource

WROTE = "tried to write"

COMMON_WRITES = {
    "insert": "INSERT INTO {t} VALUES (3, 'c')",
    "update": "UPDATE {t} SET name = 'z'",
    "delete": "DELETE FROM {t}",
    "drop": "DROP TABLE {t}",
    "create": "CREATE TABLE {t}_new (id INT)",
    "create as select": "CREATE TABLE {t}_new AS SELECT 'OK' AS status",
    "insert returning": "INSERT INTO {t} VALUES (3, 'c') RETURNING 'OK' AS status",
    "delete returning": "DELETE FROM {t} RETURNING 'OK' AS status",
    "create temporary": "CREATE TEMPORARY TABLE {t}_tmp AS SELECT 'OK' AS status",
}

DIALECT_WRITES = {
    "postgres": {
        "truncate": "TRUNCATE {t}",
        "delete in a CTE": "WITH d AS (DELETE FROM {t} RETURNING 1) SELECT 'OK' AS status",
        "update in a CTE": (
            "WITH u AS (UPDATE {t} SET name = 'z' RETURNING id) "
            "SELECT 'OK' AS status, COUNT(*) AS n FROM u"
        ),
        "alter": "ALTER TABLE {t} ADD COLUMN extra INT",
        "select into": "SELECT 'OK' AS status INTO {t}_new",
    },
    "mysql": {
        # DDL commits implicitly on MySQL/MariaDB: a read-only transaction alone would not stop it
        "truncate": "TRUNCATE TABLE {t}",
        "alter": "ALTER TABLE {t} ADD COLUMN extra INT",
        "rename": "RENAME TABLE {t} TO {t}_new",
        "replace": "REPLACE INTO {t} VALUES (1, 'z')",
    },
    "sqlite": {
        "alter": "ALTER TABLE {t} ADD COLUMN extra INT",
        "insert or replace": "INSERT OR REPLACE INTO {t} VALUES (1, 'z')",
        "create index": "CREATE INDEX {t}_idx ON {t} (name)",
    },
}

MULTI_STATEMENTS = {
    "then drop": "SELECT 'OK' AS status; DROP TABLE {t}",
    "commit then drop": "SELECT 'OK' AS status; COMMIT; DROP TABLE {t}",
    "commit then delete": "SELECT 'OK' AS status; COMMIT; DELETE FROM {t}",
    "drop then select": "DROP TABLE {t}; SELECT 'OK' AS status",
}


def snapshot(source: DataSource, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Return the table's columns and rows, read outside sqlsentinel."""
    with source.engine.connect() as conn:
        result = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id")
        snap = list(result.keys()), [tuple(row) for row in result]
        conn.rollback()
    return snap


def table_exists(source: DataSource, name: str) -> bool:
    return inspect(source.engine).has_table(name)


@pytest.fixture
def people(data_source: DataSource) -> str:
    """A two-row table; a table named after it that a failed test let through is dropped too."""
    table = data_source.table("id INT, name VARCHAR(20)", "1, 'a'", "2, 'b'")
    data_source.created.append(f"{table}_new")
    return table


def run_write(source: DataSource, sql: str) -> QueryResult:
    result = run_query(source.engine, sql, timeout=10)
    assert result.status is Status.ERROR, (sql, result)
    return result


def assert_unchanged(source: DataSource, table: str) -> None:
    assert snapshot(source, table) == (["id", "name"], [(1, "a"), (2, "b")])
    assert not table_exists(source, f"{table}_new")


@pytest.mark.parametrize("case", sorted(COMMON_WRITES))
def test_a_writing_query_is_refused_and_leaves_the_data_unchanged(
    data_source: DataSource, people: str, case: str
) -> None:
    result = run_write(data_source, COMMON_WRITES[case].format(t=people))

    assert WROTE in (result.error or "")
    assert_unchanged(data_source, people)


@pytest.mark.parametrize(
    ("data_source", "case"),
    [(kind, case) for kind, cases in DIALECT_WRITES.items() for case in cases],
    indirect=["data_source"],
)
def test_a_dialect_specific_write_is_refused_and_leaves_the_data_unchanged(
    data_source: DataSource, people: str, case: str
) -> None:
    result = run_write(data_source, DIALECT_WRITES[data_source.kind][case].format(t=people))

    assert WROTE in (result.error or "")
    assert_unchanged(data_source, people)


@pytest.mark.parametrize("case", sorted(MULTI_STATEMENTS))
def test_a_string_of_several_statements_runs_none_of_them(
    data_source: DataSource, people: str, case: str
) -> None:
    result = run_write(data_source, MULTI_STATEMENTS[case].format(t=people))

    if data_source.kind == "mysql":  # PyMySQL sends one statement; the server sees bad syntax
        assert "error 1064" in (result.error or "")
    else:
        assert "more than one statement" in (result.error or "")
    assert_unchanged(data_source, people)


def test_a_refused_write_leaves_the_engine_writable_for_other_users(
    data_source: DataSource, people: str
) -> None:
    run_write(data_source, f"DELETE FROM {people}")

    data_source.execute(f"INSERT INTO {people} VALUES (3, 'c')")

    assert data_source.scalar(f"SELECT COUNT(*) FROM {people}") == 3


@pytest.mark.parametrize("data_source", ["sqlite"], indirect=True)
def test_sqlite_refuses_to_attach_another_database(data_source: DataSource, tmp_path: Path) -> None:
    other = tmp_path / "other.db"

    result = run_write(data_source, f"ATTACH DATABASE '{other}' AS other")

    assert "tried to change the connection" in (result.error or "")
    assert not other.exists()


@pytest.mark.parametrize("data_source", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "pragma", ["PRAGMA query_only = OFF", "PRAGMA query_only = 0", "PRAGMA user_version = 7"]
)
def test_sqlite_refuses_a_pragma_that_sets_a_value(
    data_source: DataSource, people: str, pragma: str
) -> None:
    result = run_write(data_source, pragma)

    assert "tried to change the connection" in (result.error or "")
    assert data_source.scalar("PRAGMA user_version") == 0
    assert data_source.scalar("PRAGMA query_only") == 0
    assert_unchanged(data_source, people)


@pytest.mark.parametrize("data_source", ["sqlite"], indirect=True)
def test_sqlite_refuses_vacuum_into_a_new_file(data_source: DataSource, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"

    run_write(data_source, f"VACUUM INTO '{copy}'")

    assert not copy.exists()


@pytest.mark.parametrize("data_source", ["sqlite"], indirect=True)
def test_sqlite_still_reads_pragmas(data_source: DataSource) -> None:
    result = run_query(
        data_source.engine, "SELECT 'OK' AS status, query_only FROM pragma_query_only"
    )

    assert result.status is Status.OK, result.error
    assert result.context == {"query_only": 1}  # read inside the alert's read-only session


@pytest.fixture
def postgres_table(postgres_url: str) -> Iterator[str]:
    engine = get_engine(postgres_url)
    name = f"t_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id INT, name VARCHAR(20))")
        conn.exec_driver_sql(f"INSERT INTO {name} VALUES (1, 'a'), (2, 'b')")
        conn.commit()
    yield name
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        conn.commit()


def test_postgres_without_pipeline_support_still_runs_one_statement_only(
    postgres_url: str, postgres_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old libpq (< 14) has no pipeline mode; the prepared-statement path must hold too."""
    monkeypatch.setattr(psycopg.Pipeline, "is_supported", classmethod(lambda cls: False))
    engine = get_engine(postgres_url)

    refused = run_query(engine, f"SELECT 'OK' AS status; COMMIT; DROP TABLE {postgres_table}")
    allowed = run_query(
        engine,
        f"SELECT 'OK' AS status, COUNT(*) AS n FROM {postgres_table} WHERE name LIKE 'a%'",
    )

    assert refused.status is Status.ERROR
    assert "more than one statement" in (refused.error or "")
    assert allowed.status is Status.OK, allowed.error
    assert allowed.context == {"n": 1}
