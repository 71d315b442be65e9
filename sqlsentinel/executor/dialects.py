"""Make a connection read-only and time-bounded, the way each database allows it.

One :class:`QuerySession` per supported database knows how to start a read-only, time-
bounded transaction (``begin``), run the alert query and fetch at most two rows of it
(``fetch``), put the pooled connection back as it was (``end``), cancel a running query from
another thread (``cancel``, the client-side guard), and recognise its own errors
(``classify``).

==========  ==================================  ===========================================
database    read-only                           timeout enforced by the server
==========  ==================================  ===========================================
PostgreSQL  ``SET TRANSACTION READ ONLY``       ``SET LOCAL statement_timeout``
MariaDB     ``START TRANSACTION READ ONLY``     ``SET SESSION max_statement_time``
MySQL       ``START TRANSACTION READ ONLY``     ``SET SESSION max_execution_time``
SQLite      ``PRAGMA query_only`` + authorizer  a progress handler; ``PRAGMA busy_timeout``
==========  ==================================  ===========================================

Each runs with exactly one driver — psycopg 3, PyMySQL, the standard library's sqlite3 — and
:func:`session_for` refuses any other database or driver
(:func:`sqlsentinel.database.engines.unsupported`): its queries could be kept neither
read-only nor within their time. Timeouts larger than a server accepts are clamped to its
maximum rather than failing every run.

MySQL and MariaDB end a transaction implicitly before DDL (``DROP TABLE``), so a read-only
*transaction* alone would let DDL through; the session's default access mode is made
read-only as well, which also covers the transaction the server opens after that implicit
commit.

A read-only transaction only holds if the query cannot end it. PostgreSQL's simple query
protocol runs every statement of ``SELECT 'OK' AS status; COMMIT; DROP TABLE t``, and the
``DROP`` would run after the ``COMMIT`` in a new, writable transaction. So on PostgreSQL the
alert query is sent with the extended protocol, which accepts exactly one statement. PyMySQL
does not enable multi-statements and sqlite3 refuses them.

A wrong query must not load a huge result to find out it has more than one row. PostgreSQL
streams it (psycopg's single-row mode, then a cancel after the second row); MariaDB/MySQL
cap it on the server with ``sql_select_limit = 2`` (a query's own ``LIMIT`` overrides that);
sqlite3 computes rows only as they are fetched.

Session state an alert query can create outside its transaction does not travel to the next
user of the pooled connection: ``end`` releases advisory locks (PostgreSQL
``pg_advisory_lock``, MariaDB/MySQL ``GET_LOCK``). MariaDB/MySQL user variables
(``SELECT @x := 1``) are not reset: PyMySQL cannot reset a connection.
"""

from __future__ import annotations

import abc
import enum
import sqlite3
import time
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from sqlsentinel.database.engines import unsupported
from sqlsentinel.errors import QueryError
from sqlsentinel.redact import redact_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "Failure",
    "Fetched",
    "MySQLSession",
    "PostgresSession",
    "QuerySession",
    "SQLiteSession",
    "session_for",
]

Fetched: TypeAlias = "tuple[list[str], Sequence[Sequence[Any]]]"
"""The column names of a result and its first rows (at most two)."""

CANCEL_TIMEOUT = 5.0
"""Seconds a cancel request may take before the guard gives up on it."""

_INT32_MAX = 2**31 - 1


class Failure(enum.Enum):
    """What a database error means for the alert."""

    TIMEOUT = "timeout"
    WRITE = "write"
    CONNECTION_CHANGE = "connection change"
    SEVERAL_STATEMENTS = "several statements"
    LOCKED = "locked"


def _dbapi(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _milliseconds(timeout: float, maximum: int) -> int:
    """Return ``timeout`` in whole milliseconds, at least 1 and at most ``maximum``."""
    return min(max(1, round(timeout * 1000)), maximum)


class QuerySession(abc.ABC):
    """How one database runs an alert query read-only and within its time; one per run."""

    server_timeout = True
    """Whether ``begin`` makes the server stop the query at the timeout; if not, the client
    guard cancels it at the timeout itself instead of a margin later."""

    @abc.abstractmethod
    def begin(self, conn: Connection, timeout: float) -> None:
        """Start the read-only, time-bounded transaction the alert query runs in."""

    def fetch(self, conn: Connection, sql: str) -> Fetched | None:
        """Run ``sql`` as written and return its columns and first two rows.

        Return ``None`` when the statement produced no result set. Driver errors propagate
        (SQLAlchemy-wrapped or raw) for ``classify``.
        """
        result = conn.exec_driver_sql(sql, execution_options={"no_parameters": True})
        try:
            if not result.returns_rows:
                return None
            return list(result.keys()), result.fetchmany(2)
        finally:
            result.close()

    @abc.abstractmethod
    def end(self, conn: Connection) -> None:
        """Undo what ``begin`` and the query changed on the connection (after the rollback)."""

    @abc.abstractmethod
    def cancel(self, engine: Engine, conn: Connection) -> None:
        """Cancel the query running on ``conn``; called from the guard's thread, bounded."""

    @abc.abstractmethod
    def classify(self, error: BaseException) -> Failure | None:
        """Return what a driver error means, if it is one we recognise."""


class PostgresSession(QuerySession):
    _MAX_TIMEOUT_MS = _INT32_MAX  # statement_timeout is an int4 of milliseconds

    def begin(self, conn: Connection, timeout: float) -> None:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        ms = _milliseconds(timeout, self._MAX_TIMEOUT_MS)
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")

    def fetch(self, conn: Connection, sql: str) -> Fetched | None:
        """Stream the result and stop after two rows.

        ``Cursor.stream`` always uses the extended protocol (one statement only) and, with no
        parameters, leaves ``%`` alone. Closing the stream early cancels the rest of the query
        and discards what was already sent, a row at a time.
        """
        import psycopg

        raw = _dbapi(conn)
        with psycopg.Cursor(raw) as cursor:  # the plain cursor, whatever the connection's factory
            stream = cast("Generator[tuple[Any, ...], None, None]", cursor.stream(sql))
            rows: list[tuple[Any, ...]] = []
            columns: list[str] = []
            try:
                for row in stream:
                    if not rows:
                        columns = [column.name for column in cursor.description or ()]
                    rows.append(row)
                    if len(rows) == 2:
                        break
            except (psycopg.ProgrammingError, psycopg.InternalError) as exc:
                if exc.sqlstate is None:  # psycopg's own: a command, an empty query, a COPY
                    return None
                raise
            finally:
                stream.close()
        if not rows:
            columns = _described_columns(raw)
        return columns, rows

    def end(self, conn: Connection) -> None:
        conn.exec_driver_sql("SELECT pg_advisory_unlock_all()")

    def cancel(self, engine: Engine, conn: Connection) -> None:
        raw = _dbapi(conn)
        if hasattr(raw, "cancel_safe"):  # psycopg >= 3.2
            raw.cancel_safe(timeout=CANCEL_TIMEOUT)
        else:
            raw.cancel()

    def classify(self, error: BaseException) -> Failure | None:
        state = getattr(error, "sqlstate", None)
        if state == "57014":  # query_canceled: statement_timeout or our cancel
            return Failure.TIMEOUT
        if state == "25006":  # read_only_sql_transaction
            return Failure.WRITE
        primary = getattr(getattr(error, "diag", None), "message_primary", None) or ""
        if state == "42601" and "multiple commands" in primary:  # the extended protocol's refusal
            return Failure.SEVERAL_STATEMENTS
        return None


def _described_columns(raw: Any) -> list[str]:
    """Return the columns of the statement just streamed, which returned no row.

    A stream that ends without a row does not keep the result's description; the unnamed
    statement it prepared is still on the server, so ask the server to describe it.
    """
    import psycopg

    described = raw.pgconn.describe_prepared(b"")
    if described.status != psycopg.pq.ExecStatus.COMMAND_OK:
        message = (described.error_message or b"").decode(raw.info.encoding, "replace")
        raise psycopg.OperationalError(message or "could not describe the query's result")
    return [
        (described.fname(i) or b"").decode(raw.info.encoding, "replace")
        for i in range(described.nfields)
    ]


def _is_mariadb(conn: Connection) -> bool:
    return bool(getattr(conn.dialect, "is_mariadb", False))


class MySQLSession(QuerySession):
    _MAX_STATEMENT_TIME = 31_536_000  # MariaDB's limit, in seconds (one year)
    _MAX_EXECUTION_TIME_MS = 2**32 - 1  # MySQL's limit, in milliseconds

    def begin(self, conn: Connection, timeout: float) -> None:
        if _is_mariadb(conn):
            limit = f"max_statement_time = {min(timeout, self._MAX_STATEMENT_TIME):.3f}"
        else:
            limit = f"max_execution_time = {_milliseconds(timeout, self._MAX_EXECUTION_TIME_MS)}"
        # Two rows are enough to tell "one" from "more than one"; PyMySQL would buffer them all.
        conn.exec_driver_sql(f"SET SESSION {limit}, SESSION sql_select_limit = 2")
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        conn.exec_driver_sql("START TRANSACTION READ ONLY")

    def end(self, conn: Connection) -> None:
        conn.exec_driver_sql("SET SESSION TRANSACTION READ WRITE")
        variable = "max_statement_time" if _is_mariadb(conn) else "max_execution_time"
        conn.exec_driver_sql(
            f"SET SESSION {variable} = DEFAULT, SESSION sql_select_limit = DEFAULT"
        )
        conn.exec_driver_sql("DO RELEASE_ALL_LOCKS()")

    def cancel(self, engine: Engine, conn: Connection) -> None:
        # A connection of its own, not one from the pool: the pool may be exhausted by the
        # very queries that need cancelling, and a checkout would wait for one of them.
        thread_id = int(_dbapi(conn).thread_id())
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        bounded = {"connect_timeout": 5, "read_timeout": 5, "write_timeout": 5}
        other = engine.dialect.connect(*cargs, **{**cparams, **bounded})
        try:
            cursor = other.cursor()
            cursor.execute(f"KILL QUERY {thread_id}")
            cursor.close()
        finally:
            other.close()

    def classify(self, error: BaseException) -> Failure | None:
        code = error.args[0] if error.args and isinstance(error.args[0], int) else None
        # 1969 MariaDB max_statement_time, 3024 MySQL max_execution_time, 1317 KILL QUERY
        if code in (1969, 3024, 1317):
            return Failure.TIMEOUT
        if code == 1792:  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
            return Failure.WRITE
        return None


class SQLiteSession(QuerySession):
    _CHECK_EVERY = 1000  # virtual-machine instructions between deadline checks
    _DENIED = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH})
    _DEFAULT_BUSY_TIMEOUT_MS = 5000  # the sqlite3 module's default (timeout=5.0)

    def __init__(self) -> None:
        self._deadline = 0.0
        self._busy_timeout = self._DEFAULT_BUSY_TIMEOUT_MS

    def begin(self, conn: Connection, timeout: float) -> None:
        raw = _dbapi(conn)
        # The progress handler does not run while SQLite waits for another connection's lock,
        # and interrupt() does not end that wait: only the busy timeout bounds it.
        previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        self._busy_timeout = previous if isinstance(previous, int) else self._busy_timeout
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {_milliseconds(timeout, _INT32_MAX)}")
        conn.exec_driver_sql("PRAGMA query_only = ON")
        self._deadline = time.monotonic() + timeout
        raw.set_progress_handler(self._progress, self._CHECK_EVERY)
        raw.set_authorizer(self._authorize)

    def end(self, conn: Connection) -> None:
        raw = _dbapi(conn)
        raw.set_authorizer(None)
        raw.set_progress_handler(None, 0)
        conn.exec_driver_sql("PRAGMA query_only = OFF")
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(self._busy_timeout)}")

    def cancel(self, engine: Engine, conn: Connection) -> None:
        _dbapi(conn).interrupt()

    def classify(self, error: BaseException) -> Failure | None:
        name = getattr(error, "sqlite_errorname", "")
        if name == "SQLITE_INTERRUPT":
            return Failure.TIMEOUT
        if name == "SQLITE_READONLY":
            return Failure.WRITE
        if name == "SQLITE_AUTH":
            return Failure.CONNECTION_CHANGE
        if name.startswith("SQLITE_BUSY") or "database is locked" in str(error):
            return Failure.LOCKED
        if isinstance(error, sqlite3.ProgrammingError) and "one statement at a time" in str(error):
            return Failure.SEVERAL_STATEMENTS
        return None

    def _progress(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
        # A PRAGMA with a value changes the connection (query_only = OFF would undo us).
        if action in self._DENIED or (action == sqlite3.SQLITE_PRAGMA and arg2 is not None):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


_SESSIONS: dict[str, type[QuerySession]] = {
    "postgresql": PostgresSession,
    "mysql": MySQLSession,
    "mariadb": MySQLSession,
    "sqlite": SQLiteSession,
}


def session_for(engine: Engine) -> QuerySession:
    """Return a fresh session for the engine's database, or raise ``QueryError``.

    An engine of any other database or driver is refused rather than run unprotected: it can
    come from a direct call, past the config's check.
    """
    dialect, driver = engine.dialect.name, engine.dialect.driver
    problem = unsupported(dialect, driver)
    if problem is not None:
        url = redact_url(engine.url.render_as_string(hide_password=False))
        raise QueryError(f"cannot run an alert query on {url}: {problem}")
    return _SESSIONS[dialect]()
