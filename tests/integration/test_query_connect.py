"""A data source that cannot be reached gives an ERROR naming it (redacted) and the reason.

So does anything else going wrong around the query: no exception escapes ``run_query``.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import make_url

from sqlsentinel.database.engines import get_engine
from sqlsentinel.executor.dialects import (
    MySQLSession,
    PostgresSession,
    QuerySession,
    SQLiteSession,
)
from sqlsentinel.executor.query import ping, run_query
from sqlsentinel.models import Status

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from tests.conftest import DataSource

PASSWORD = "S3cretPw"


def with_credentials(url: str, *, port: int | None = None, database: str | None = None) -> str:
    """Return ``url`` logging in as a user that does not exist, with a password."""
    changed = make_url(url).set(username="nosuchuser", password=PASSWORD)
    if port is not None:
        changed = changed.set(port=port)
    if database is not None:
        changed = changed.set(database=database)
    return changed.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    return url.replace(f":{PASSWORD}@", ":***@")


@pytest.fixture
def closed_port() -> int:
    """A local TCP port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def assert_connection_error(url: str, reason: str) -> None:
    """Check run_query and ping both fail naming the redacted URL and ``reason``."""
    result = run_query(get_engine(url), "SELECT 'OK' AS status", timeout=5)
    _, ping_error = ping(get_engine(url))

    assert result.status is Status.ERROR
    for message in (result.error, ping_error):
        assert message is not None
        assert message.startswith(f"could not connect to {redacted(url)}: "), message
        assert reason in message
        assert PASSWORD not in message
    assert PASSWORD not in json.dumps(result.to_dict())


def test_an_unknown_postgres_user_is_an_error_that_hides_the_password(postgres_url: str) -> None:
    assert_connection_error(with_credentials(postgres_url), 'role "nosuchuser" does not exist')


def test_an_unknown_mariadb_user_is_an_error_that_hides_the_password(mysql_url: str) -> None:
    assert_connection_error(with_credentials(mysql_url), "Access denied for user 'nosuchuser'")


def test_a_missing_postgres_database_is_an_error_naming_it(postgres_url: str) -> None:
    url = make_url(postgres_url).set(database="no_such_db").render_as_string(hide_password=False)

    assert_connection_error(url, 'database "no_such_db" does not exist')


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "Connection refused"),
        ("mysql+pymysql://root@127.0.0.1:3306/test", "Can't connect to MySQL server"),
    ],
    ids=["postgres", "mysql"],
)
def test_a_closed_port_is_an_error_naming_the_server(
    closed_port: int, url: str, reason: str
) -> None:
    assert_connection_error(with_credentials(url, port=closed_port), reason)


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    url = f"sqlite:///{path}"

    assert_connection_error(url, f"the SQLite database file '{path}' does not exist")
    assert not path.exists()


def test_a_missing_relative_sqlite_file_says_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert_connection_error(
        "sqlite:///missing.db", f"relative to the current directory, {tmp_path}"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        # PyMySQL raises plain Python errors for these, which SQLAlchemy does not wrap
        ({"foo": "bar"}, "TypeError: Connection.__init__() got an unexpected keyword argument"),
        ({"charset": "nosuch"}, "AttributeError: "),
        ({"ssl_ca": "/nonexistent"}, "FileNotFoundError: No such file or directory"),
    ],
    ids=["unknown option", "unknown charset", "missing CA file"],
)
def test_a_url_option_the_driver_rejects_is_an_error_not_an_exception(
    mysql_url: str, options: dict[str, str], reason: str
) -> None:
    url = make_url(mysql_url).update_query_dict(options).render_as_string(hide_password=False)

    assert_connection_error(url, reason)
    assert_connection_error(url, "check the options after '?' in the URL")


SESSIONS: dict[str, type[QuerySession]] = {
    "sqlite": SQLiteSession,
    "postgres": PostgresSession,
    "mysql": MySQLSession,
}


def test_an_exception_while_starting_the_transaction_is_an_error(
    data_source: DataSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    def begin(self: QuerySession, conn: Connection, timeout: float) -> None:
        raise RuntimeError("no transaction for you")

    engine = data_source.engine
    monkeypatch.setattr(SESSIONS[data_source.kind], "begin", begin)

    result = run_query(engine, "SELECT 'OK' AS status")

    assert result.status is Status.ERROR
    assert result.error == (
        f"could not start a read-only transaction on {data_source.url}: "
        "RuntimeError: no transaction for you"
    )
    assert engine.pool.checkedout() == 0
    monkeypatch.undo()
    assert run_query(engine, "SELECT 'OK' AS status").status is Status.OK


def test_an_unexpected_exception_is_an_error_naming_its_type_and_logged(
    data_source: DataSource, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fetch(self: QuerySession, conn: Connection, sql: str) -> None:
        raise LookupError(f"lost the rows of {data_source.url}")

    engine = data_source.engine
    monkeypatch.setattr(SESSIONS[data_source.kind], "fetch", fetch)

    with caplog.at_level(logging.DEBUG, logger="sqlsentinel.executor.query"):
        result = run_query(engine, "SELECT 'OK' AS status")

    assert result.status is Status.ERROR
    assert result.error == (
        f"the query runner failed unexpectedly: LookupError: lost the rows of {data_source.url}"
    )
    assert [record.exc_info is not None for record in caplog.records] == [True]
    assert engine.pool.checkedout() == 0
    monkeypatch.undo()
    assert run_query(engine, "SELECT 'OK' AS status").status is Status.OK


@pytest.mark.parametrize(
    "url", ["sqlite:///:memory:", "sqlite:///file:{path}?mode=ro&uri=true"], ids=["memory", "uri"]
)
def test_sqlite_urls_that_name_no_plain_file_are_not_taken_for_a_missing_file(
    tmp_path: Path, url: str
) -> None:
    path = tmp_path / "data.db"
    sqlite3.connect(path).close()
    engine = get_engine(url.format(path=path))

    result = run_query(engine, "SELECT 'OK' AS status")

    assert result.status is Status.OK, result.error
    assert ping(engine)[1] is None
