"""Only the databases and drivers sqlsentinel can keep read-only are used, from config or not.

``check_driver`` refuses the others when the config is read; ``run_query`` refuses an engine
of any other database or driver handed to it directly, before it runs anything.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from sqlsentinel.database.engines import check_driver, get_engine, resolve_url
from sqlsentinel.errors import ConfigError
from sqlsentinel.executor.query import run_query
from sqlsentinel.models import Status

WHERE = "data source 'warehouse'"


class OtherDatabase(SQLiteDialect_pysqlite):
    """SQLite under another name: a database sqlsentinel has no read-only session for."""

    name = "otherdb"


class OtherDriver(SQLiteDialect_pysqlite):
    """SQLite through a driver sqlsentinel does not know."""

    driver = "otherdriver"


registry.register("otherdb", __name__, "OtherDatabase")
registry.register("sqlite.otherdriver", __name__, "OtherDriver")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@db/x",
        "postgresql+psycopg://u@db/x",
        "postgres://u@db/x",
        "postgres+psycopg://u@db/x",
        "mysql://u@db/x",
        "mysql+pymysql://u@db/x",
        "mariadb://u@db/x",
        "mariadb+pymysql://u@db/x",
        "sqlite:///data.db",
        "sqlite+pysqlite:///data.db",
        "sqlite://",
    ],
)
def test_the_supported_databases_and_drivers_are_accepted(url: str) -> None:
    check_driver(url, where=WHERE)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("oracle://u@db/x", "'oracle' databases are not supported"),
        ("mssql+pyodbc://u@dsn", "'mssql' databases are not supported"),
        ("postgresql+psycopg2://u@db/x", "the driver 'psycopg2' is not supported"),
        ("postgresql+asyncpg://u@db/x", "the driver 'asyncpg' is not supported"),
        ("postgres+pg8000://u@db/x", "the driver 'pg8000' is not supported"),
        ("mysql+mysqldb://u@db/x", "the driver 'mysqldb' is not supported"),
        ("mariadb+mariadbconnector://u@db/x", "the driver 'mariadbconnector' is not supported"),
        ("sqlite+aiosqlite:///data.db", "the driver 'aiosqlite' is not supported"),
    ],
)
def test_any_other_database_or_driver_is_a_config_error_naming_the_supported_forms(
    url: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check_driver(url, where=WHERE)

    message = str(caught.value)
    assert message.startswith(f"{WHERE}: {problem}"), message
    if "databases are not supported" in problem:
        for form in ("sqlite:///", "postgresql://", "mysql://", "mariadb://"):
            assert form in message
    else:
        assert "without a driver" in message


def test_a_wrong_driver_names_the_one_sqlsentinel_uses() -> None:
    with pytest.raises(ConfigError, match=r"runs PostgreSQL with psycopg \(write postgresql://"):
        check_driver("postgresql+psycopg2://u@db/x", where=WHERE)


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        (
            "postgres://u:p@db:5432/x?sslmode=require",
            "postgresql+psycopg://u:p@db:5432/x?sslmode=require",
        ),
        ("postgres+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("postgresql://u@db/x", "postgresql+psycopg://u@db/x"),
        ("mariadb://u@db/x", "mariadb+pymysql://u@db/x"),
        ("sqlite:///data.db", "sqlite:///data.db"),
        ("postgresql+psycopg2://u@db/x", "postgresql+psycopg2://u@db/x"),
        ("postgres+pg8000://u@db/x", "postgresql+pg8000://u@db/x"),
    ],
)
def test_urls_without_a_driver_get_the_one_sqlsentinel_uses(url: str, resolved: str) -> None:
    assert resolve_url(url) == resolved


def test_a_heroku_style_postgres_url_runs_queries(postgres_url: str) -> None:
    url = postgres_url.replace("postgresql+psycopg://", "postgres://")

    result = run_query(get_engine(url), "SELECT 'OK' AS status")

    assert result.status is Status.OK, result.error


@pytest.mark.parametrize(
    ("scheme", "problem"),
    [
        ("otherdb", "'otherdb' databases are not supported"),
        ("sqlite+otherdriver", "the driver 'otherdriver' is not supported"),
    ],
)
def test_run_query_refuses_an_engine_it_cannot_keep_read_only_and_runs_nothing(
    tmp_path: Path, scheme: str, problem: str
) -> None:
    path = tmp_path / "data.db"
    sqlite3.connect(path).close()
    engine = create_engine(f"{scheme}:///{path}")
    try:
        result = run_query(engine, "CREATE TABLE written AS SELECT 'OK' AS status")
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()

    assert result.status is Status.ERROR
    assert result.error is not None
    assert result.error.startswith(f"cannot run an alert query on {scheme}:///{path}: {problem}")
    with sqlite3.connect(path) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []
