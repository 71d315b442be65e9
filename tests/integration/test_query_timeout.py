"""Timeouts on real databases: the server stops a slow query, the client guard backs it up,
and the pooled connection comes back as it was — no timeout and no read-only mode left behind.

Durations are measured with ``time.monotonic``; nothing here sleeps in Python.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, event

from sqlsentinel.database.engines import get_engine, resolve_url
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
            "sql_select_limit": "SELECT @@session.sql_select_limit",
        }
    else:
        statements = {"query_only": "PRAGMA query_only", "busy_timeout": "PRAGMA busy_timeout"}
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


def test_an_answer_after_the_timeout_is_a_timeout_that_does_not_claim_a_cancel(
    data_source: DataSource,
) -> None:
    """The server answered, so nothing was cancelled; but the answer came too late to count.

    The clock is injected: every reading is two seconds after the previous one.
    """
    engine = single_connection_pool(data_source)
    ticks = itertools.count(0.0, 2.0)
    run_query(engine, "SELECT 'OK' AS status")  # open the pooled connection

    with counting_new_connections(engine) as opened:
        result = run_query(
            engine, "SELECT 'OK' AS status", timeout=TIMEOUT, clock=lambda: next(ticks)
        )

    assert result.status is Status.TIMEOUT
    assert result.error == (
        "the query took longer than its timeout of 1s (it answered after 2.0s, too late to "
        "count); make it faster or raise the alert's 'timeout:'"
    )
    assert opened == []  # nothing was cancelled: the connection is in a known state, and kept


def test_a_query_the_server_stopped_says_it_was_cancelled(data_source: DataSource) -> None:
    result = run_query(data_source.engine, SLOW[data_source.kind], timeout=0.2)

    assert result.status is Status.TIMEOUT
    assert result.error == (
        "the query ran longer than its timeout of 0.2s and was cancelled; make it faster or "
        "raise the alert's 'timeout:'"
    )


@pytest.fixture
def locked_sqlite(tmp_path: Path) -> Iterator[str]:
    """A SQLite database another connection holds with BEGIN EXCLUSIVE; yields its URL."""
    path = tmp_path / "locked.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (id INT)")
    setup.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield f"sqlite:///{path}"
    finally:
        holder.rollback()
        holder.close()


def test_a_locked_sqlite_database_is_waited_for_no_longer_than_the_timeout(
    locked_sqlite: str,
) -> None:
    engine = get_engine(locked_sqlite)
    with engine.connect() as conn:  # the pooled connection, as the next user will get it
        default_busy_timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()

    result, wall = elapsed(lambda: run_query(engine, "SELECT 'OK' AS status FROM t", timeout=0.5))

    assert result.status is Status.ERROR
    assert (result.error or "").startswith(
        "the database is locked by another connection; the query waited for it up to its "
        "timeout of 0.5s"
    )
    assert 0.45 <= wall < 1.5  # sqlite3 alone waits 5 s
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == default_busy_timeout
