"""Make a connection read-only and time-bounded, the way each database allows it.

One :class:`QuerySession` per dialect knows four things: how to start a read-only, time-
bounded transaction (``begin``), how to put the pooled connection back as it was (``end``),
how to cancel a running query from another thread (``cancel``, the client-side guard), and
how to recognise its own timeout and read-only errors (``classify``).

=============  =================================  =========================================
dialect        read-only                          timeout enforced by the server
=============  =================================  =========================================
PostgreSQL     ``SET TRANSACTION READ ONLY``      ``SET LOCAL statement_timeout``
MariaDB        ``START TRANSACTION READ ONLY``    ``SET SESSION max_statement_time``
MySQL          ``START TRANSACTION READ ONLY``    ``SET SESSION max_execution_time``
SQLite         ``PRAGMA query_only`` + authorizer  a progress handler
other          never committed (rolled back)      client-side guard only
=============  =================================  =========================================

MySQL and MariaDB end a transaction implicitly before DDL (``DROP TABLE``), so a read-only
*transaction* alone would let DDL through; the session's default access mode is made
read-only as well, which also covers the transaction the server opens after that implicit
commit.

A read-only transaction only holds if the query cannot end it. PostgreSQL's simple query
protocol runs every statement of ``SELECT 'OK' AS status; COMMIT; DROP TABLE t``, and the
``DROP`` would run after the ``COMMIT`` in a new, writable transaction. So on PostgreSQL the
alert query is sent with the extended protocol (psycopg's pipeline mode), which accepts
exactly one statement. PyMySQL does not enable multi-statements and sqlite3 refuses them.
"""

from __future__ import annotations

import enum
import sqlite3
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["Failure", "QuerySession", "session_for"]


class Failure(enum.Enum):
    """What a database error means for the alert."""

    TIMEOUT = "timeout"
    WRITE = "write"
    CONNECTION_CHANGE = "connection change"
    SEVERAL_STATEMENTS = "several statements"


def _dbapi(conn: Connection) -> Any:
    return conn.connection.driver_connection


class QuerySession:
    """A dialect we know nothing special about: never commit, guard the time on the client."""

    server_timeout = False

    def begin(self, conn: Connection, timeout: float) -> None:
        """Start the read-only, time-bounded transaction the alert query runs in."""

    def end(self, conn: Connection) -> None:
        """Undo what ``begin`` changed on the connection (after the rollback)."""

    def cancel(self, engine: Engine, conn: Connection) -> None:
        """Cancel the query running on ``conn``; called from the guard's thread."""

    def classify(self, error: BaseException) -> Failure | None:
        """Return what a driver error means, if it is one we recognise."""
        return None


class PostgresSession(QuerySession):
    server_timeout = True

    def __init__(self) -> None:
        self._cursor_factory: Any = None

    def begin(self, conn: Connection, timeout: float) -> None:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
        raw = _dbapi(conn)
        self._cursor_factory = raw.cursor_factory
        raw.cursor_factory = _one_statement_cursor()

    def end(self, conn: Connection) -> None:
        if self._cursor_factory is not None:
            _dbapi(conn).cursor_factory = self._cursor_factory
            self._cursor_factory = None

    def cancel(self, engine: Engine, conn: Connection) -> None:
        raw = _dbapi(conn)
        getattr(raw, "cancel_safe", raw.cancel)()

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


def _one_statement_cursor() -> type[Any]:
    """Return a psycopg cursor class whose ``execute`` sends exactly one statement.

    Pipeline mode always uses the extended query protocol, which rejects a string holding
    several statements ("cannot insert multiple commands into a prepared statement") and,
    with no parameters, leaves ``%`` alone. With a libpq too old for pipelines (< 14), a
    prepared statement is the other way to the extended protocol.
    """
    global _OneStatementCursor
    if _OneStatementCursor is None:
        import psycopg

        class OneStatementCursor(psycopg.Cursor[Any]):
            def execute(
                self,
                query: Any,
                params: Any = None,
                *,
                prepare: bool | None = None,
                binary: bool | None = None,
            ) -> OneStatementCursor:
                if not psycopg.Pipeline.is_supported():
                    super().execute(query, params, prepare=True, binary=binary)
                    return self
                with self.connection.pipeline():
                    super().execute(query, params, prepare=prepare, binary=binary)
                return self

        _OneStatementCursor = OneStatementCursor
    return _OneStatementCursor


_OneStatementCursor: type[Any] | None = None


def _is_mariadb(conn: Connection) -> bool:
    return bool(getattr(conn.dialect, "is_mariadb", False))


class MySQLSession(QuerySession):
    server_timeout = True

    def begin(self, conn: Connection, timeout: float) -> None:
        if _is_mariadb(conn):
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {timeout:.3f}")
        else:
            conn.exec_driver_sql(
                f"SET SESSION max_execution_time = {max(1, round(timeout * 1000))}"
            )
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
        conn.exec_driver_sql("START TRANSACTION READ ONLY")

    def end(self, conn: Connection) -> None:
        conn.exec_driver_sql("SET SESSION TRANSACTION READ WRITE")
        variable = "max_statement_time" if _is_mariadb(conn) else "max_execution_time"
        conn.exec_driver_sql(f"SET SESSION {variable} = DEFAULT")

    def cancel(self, engine: Engine, conn: Connection) -> None:
        # A connection of its own, not one from the pool: the pool may be exhausted by the
        # very queries that need cancelling, and a checkout would wait for one of them.
        thread_id = int(_dbapi(conn).thread_id())
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        other = engine.dialect.connect(*cargs, **{"connect_timeout": 10, **cparams})
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
    server_timeout = True
    _CHECK_EVERY = 1000  # virtual-machine instructions between deadline checks
    _DENIED = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH})

    def __init__(self) -> None:
        self._deadline = 0.0

    def begin(self, conn: Connection, timeout: float) -> None:
        raw = _dbapi(conn)
        conn.exec_driver_sql("PRAGMA query_only = ON")
        self._deadline = time.monotonic() + timeout
        raw.set_progress_handler(self._progress, self._CHECK_EVERY)
        raw.set_authorizer(self._authorize)

    def end(self, conn: Connection) -> None:
        raw = _dbapi(conn)
        raw.set_authorizer(None)
        raw.set_progress_handler(None, 0)
        conn.exec_driver_sql("PRAGMA query_only = OFF")

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


def session_for(dialect: str) -> QuerySession:
    """Return a fresh session for a SQLAlchemy dialect name."""
    if dialect == "postgresql":
        return PostgresSession()
    if dialect in ("mysql", "mariadb"):
        return MySQLSession()
    if dialect == "sqlite":
        return SQLiteSession()
    return QuerySession()
