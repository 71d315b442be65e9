"""Timeouts on real databases: the server stops a slow query, the client guard backs it up,
and the pooled connection comes back as it was — no timeout and no read-only mode left behind.

Durations are measured with ``time.monotonic``; nothing here sleeps in Python.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, event

from sqlsentinel.database.engines import resolve_url
from sqlsentinel.executor.dialects import (
    MySQLSession,
    PostgresSession,
    QuerySession,
    SQLiteSession,
)
from sqlsentinel.executor.query import run_query
from sqlsentinel.models import Status

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from tests.conftest import DataSource

TIMEOUT = 1.0

SLOW = {
    "postgres": "SELECT pg_sleep(10) AS slept, 'OK' AS status",
    "mysql": "SELECT SLEEP(10) AS slept, 'OK' AS status",
    # about a billion rows of recursion: minutes of work, and no sleep function needed
    "sqlite": (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000) "
        "SELECT MAX(x) AS counted, 'OK' AS status FROM n"
    ),
}

# What identifies the server-side session, to show the same connection is used again.
BACKEND_ID = {
    "postgres": "SELECT pg_backend_pid() AS backend, 'OK' AS status",
    "mysql": "SELECT CONNECTION_ID() AS backend, 'OK' AS status",
    "sqlite": "SELECT 0 AS backend, 'OK' AS status",
}


def session_settings(source: DataSource) -> dict[str, object]:
    """Return the timeout and read-only settings of the next pooled connection."""
    if source.kind == "postgres":
        statements = {
            "statement_timeout": "SHOW statement_timeout",
            "transaction_read_only": "SHOW transaction_read_only",
            "default_transaction_read_only": "SHOW default_transaction_read_only",
        }
    elif source.kind == "mysql":
        statements = {
            "max_statement_time": "SELECT @@session.max_statement_time",
            "tx_read_only": "SELECT @@session.tx_read_only",
        }
    else:
        statements = {"query_only": "PRAGMA query_only"}
    return {name: source.scalar(sql) for name, sql in statements.items()}


@contextmanager
def counting_new_connections(engine: Engine) -> Iterator[list[object]]:
    """Record every DBAPI connection the engine opens inside the block."""
    opened: list[object] = []

    def on_connect(dbapi_connection: object, _record: object) -> None:
        opened.append(dbapi_connection)

    event.listen(engine, "connect", on_connect)
    try:
        yield opened
    finally:
        event.remove(engine, "connect", on_connect)


def single_connection_pool(source: DataSource) -> Engine:
    """Return the source's engine with its pool emptied, so it will hold one connection."""
    engine = source.engine
    engine.dispose()
    return engine


def elapsed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    value = action()
    return value, time.monotonic() - started


def test_a_slow_query_ends_as_timeout_within_two_seconds_and_its_connection_is_reused(
    data_source: DataSource,
) -> None:
    engine = single_connection_pool(data_source)
    before = run_query(engine, BACKEND_ID[data_source.kind])
    settings = session_settings(data_source)

    with counting_new_connections(engine) as opened:
        result, wall = elapsed(
            lambda: run_query(engine, SLOW[data_source.kind], timeout=timedelta(seconds=1))
        )
        after = run_query(engine, BACKEND_ID[data_source.kind])

    assert result.status is Status.TIMEOUT, result.error
    assert wall < 2.0
    assert result.duration >= TIMEOUT * 0.9
    assert "longer than its timeout of 1s" in (result.error or "")
    assert after.status is Status.OK
    # the database stopped the query, so the connection was rolled back and pooled, not dropped
    assert opened == []
    assert after.context == before.context
    assert session_settings(data_source) == settings


def test_the_server_timeout_and_read_only_mode_are_reset_after_the_query(
    data_source: DataSource,
) -> None:
    engine = single_connection_pool(data_source)
    table = data_source.table("id INT", "1")
    settings = session_settings(data_source)

    with counting_new_connections(engine) as opened:
        result = run_query(engine, f"SELECT 'OK' AS status, COUNT(*) AS n FROM {table}")
        assert session_settings(data_source) == settings
        data_source.execute(f"INSERT INTO {table} VALUES (2)")

    assert result.status is Status.OK
    assert opened == []  # the checks and the write used the connection the alert used
    assert data_source.scalar(f"SELECT COUNT(*) FROM {table}") == 2


def test_after_a_timeout_a_write_through_the_same_engine_succeeds(
    data_source: DataSource,
) -> None:
    engine = single_connection_pool(data_source)
    table = data_source.table("id INT", "1")

    result = run_query(engine, SLOW[data_source.kind], timeout=0.5)
    data_source.execute(f"INSERT INTO {table} VALUES (2)")

    assert result.status is Status.TIMEOUT
    assert data_source.scalar(f"SELECT COUNT(*) FROM {table}") == 2


def test_a_query_that_finishes_within_its_timeout_is_not_a_timeout(
    data_source: DataSource,
) -> None:
    quick = {
        "postgres": "SELECT pg_sleep(0.05) AS slept, 'OK' AS status",
        "mysql": "SELECT SLEEP(0.05) AS slept, 'OK' AS status",
        "sqlite": (
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000) "
            "SELECT MAX(x) AS counted, 'OK' AS status FROM n"
        ),
    }[data_source.kind]

    result = run_query(data_source.engine, quick, timeout=TIMEOUT)

    assert result.status is Status.OK, result.error


# The real sessions with the server-side timeout switched off again after ``begin``, so that
# only the client-side guard can stop the query.


class PostgresWithoutServerTimeout(PostgresSession):
    server_timeout = False

    def begin(self, conn: Connection, timeout: float) -> None:
        super().begin(conn, timeout)
        conn.exec_driver_sql("SET LOCAL statement_timeout = 0")


class MySQLWithoutServerTimeout(MySQLSession):
    server_timeout = False

    def begin(self, conn: Connection, timeout: float) -> None:
        super().begin(conn, timeout)
        conn.exec_driver_sql("SET SESSION max_statement_time = 0")


class SQLiteWithoutServerTimeout(SQLiteSession):
    server_timeout = False

    def begin(self, conn: Connection, timeout: float) -> None:
        super().begin(conn, timeout)
        conn.connection.driver_connection.set_progress_handler(None, 0)


WITHOUT_SERVER_TIMEOUT: dict[str, type[QuerySession]] = {
    "postgres": PostgresWithoutServerTimeout,
    "mysql": MySQLWithoutServerTimeout,
    "sqlite": SQLiteWithoutServerTimeout,
}


@pytest.fixture
def one_connection_engine(data_source: DataSource) -> Iterator[Engine]:
    """An engine whose pool holds one connection and never more: a guard that needed a
    second pooled connection to cancel the first would wait for it in vain."""
    engine = create_engine(
        resolve_url(data_source.url), pool_size=1, max_overflow=0, pool_timeout=3
    )
    yield engine
    engine.dispose()


def test_the_client_guard_alone_cancels_a_query_close_to_its_timeout(
    data_source: DataSource, one_connection_engine: Engine
) -> None:
    engine = one_connection_engine
    session = WITHOUT_SERVER_TIMEOUT[data_source.kind]()

    result, wall = elapsed(
        lambda: run_query(engine, SLOW[data_source.kind], timeout=TIMEOUT, session=session)
    )
    after = run_query(engine, BACKEND_ID[data_source.kind])

    assert result.status is Status.TIMEOUT, result.error
    assert TIMEOUT * 0.9 <= wall < TIMEOUT + 0.75
    assert after.status is Status.OK, after.error  # the pool gave out a working connection
    assert engine.pool.checkedout() == 0
