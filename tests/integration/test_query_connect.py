"""A data source that cannot be reached gives an ERROR naming it (redacted) and the reason."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from sqlsentinel.database.engines import get_engine
from sqlsentinel.executor.query import ping, run_query
from sqlsentinel.models import Status

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
