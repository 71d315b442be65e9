"""Shared fixtures: real databases, a clean redactor, and helpers to write configs.

PostgreSQL and MariaDB come from ``SQLSENTINEL_TEST_POSTGRES_URL`` and
``SQLSENTINEL_TEST_MYSQL_URL`` (defaulting to the local test servers). A test that needs one
skips when it is unreachable on a developer's machine, and fails when ``CI=true``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

from sqlsentinel.database.engines import dispose_engines, get_engine
from sqlsentinel.redact import redactor
from tests.support.smtp import Accounts, Mailbox, Server, Tls, free_port

POSTGRES_URL = os.environ.get(
    "SQLSENTINEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SQLSENTINEL_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# pytest-httpserver's werkzeug logs every request from its own thread, with a stderr handler
# of its own; that would land in the stderr of whichever CLI run a test is capturing.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

_reachable: dict[str, str | None] = {}


def _unreachable_reason(url: str) -> str | None:
    """Return why ``url`` cannot be reached, or ``None`` when it can (cached per session)."""
    if url not in _reachable:
        from sqlsentinel.executor.query import ping

        _, error = ping(get_engine(url))
        _reachable[url] = error
    return _reachable[url]


def require(url: str, name: str) -> None:
    """Skip (or, in CI, fail) the calling test when the server at ``url`` is down."""
    reason = _unreachable_reason(url)
    if reason is not None:
        message = f"{name} test server unreachable: {reason}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class DataSource:
    """A real database for a test, with a helper to create scratch tables."""

    kind: str  # "sqlite", "postgres" or "mysql"
    url: str
    created: list[str]

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return get_engine(self.url)

    def execute(self, *statements: str) -> None:
        """Run statements outside sqlsentinel, committed (to set up test data)."""
        with self.engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
            conn.commit()

    def scalar(self, statement: str) -> object:
        with self.engine.connect() as conn:
            value = conn.exec_driver_sql(statement).scalar()
            conn.rollback()
            return value

    def table(self, columns: str, *rows: str) -> str:
        """Create a uniquely named table with ``columns`` and ``rows`` (SQL value lists)."""
        name = f"t_{uuid.uuid4().hex[:10]}"
        self.created.append(name)
        statements = [f"CREATE TABLE {name} ({columns})"]
        statements += [f"INSERT INTO {name} VALUES ({row})" for row in rows]
        self.execute(*statements)
        return name

    def cleanup(self) -> None:
        for name in self.created:
            self.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def data_source(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DataSource]:
    """Yield each real database in turn: SQLite (a file), PostgreSQL, MariaDB."""
    kind = request.param
    if kind == "sqlite":
        path = tmp_path / "data.db"
        sqlite3.connect(path).close()
        url = f"sqlite:///{path}"
    elif kind == "postgres":
        require(POSTGRES_URL, "PostgreSQL")
        url = POSTGRES_URL
    else:
        require(MYSQL_URL, "MariaDB/MySQL")
        url = MYSQL_URL
    source = DataSource(kind, url, [])
    yield source
    source.cleanup()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty state database of each kind, isolated from other tests.

    SQLite: a file in the test's directory. PostgreSQL: a fresh schema, selected with the
    connection's search_path. MariaDB: a fresh database. Dropped afterwards.
    """
    yield from _isolated_state_url(request.param, tmp_path)


def _isolated_state_url(kind: str, tmp_path: Path) -> Iterator[str]:
    name = f"sqlsentinel_t_{uuid.uuid4().hex[:12]}"
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if kind == "postgres":
        require(POSTGRES_URL, "PostgreSQL")
        admin = get_engine(POSTGRES_URL)
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
            conn.commit()
        separator = "&" if "?" in POSTGRES_URL else "?"
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"
        dispose_engines()  # the test's pools hold the schema open
        with get_engine(POSTGRES_URL).connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
            conn.commit()
        return
    require(MYSQL_URL, "MariaDB/MySQL")
    admin = get_engine(MYSQL_URL)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
        conn.commit()
    base, _, _ = MYSQL_URL.rpartition("/")
    yield f"{base}/{name}"
    dispose_engines()
    with get_engine(MYSQL_URL).connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name}")
        conn.commit()


@pytest.fixture
def postgres_url() -> str:
    require(POSTGRES_URL, "PostgreSQL")
    return POSTGRES_URL


@pytest.fixture
def mysql_url() -> str:
    require(MYSQL_URL, "MariaDB/MySQL")
    return MYSQL_URL


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    """Start every test with no registered secrets, so masking never leaks between tests."""
    redactor.clear()
    yield
    redactor.clear()


@pytest.fixture(scope="session", autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_engines()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Return a function that writes YAML text to ``alerts.yaml`` in a temporary directory."""

    def write(text: str, name: str = "alerts.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def sample_db(tmp_path: Path) -> Path:
    """Build the example sample database in a temporary directory and return its path."""
    import runpy

    target = tmp_path / "sample_data.db"
    module = runpy.run_path(str(Path(__file__).parent.parent / "examples" / "build_sample_db.py"))
    module["build"](target)
    return target


# --- a real SMTP server (aiosmtpd) -----------------------------------------------------------


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(context, ca_file)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Server]]:
    """Return a function that starts an aiosmtpd server with the given options."""
    controllers: list[Controller] = []

    def start(**options: Any) -> Server:
        server = Server(free_port(), Mailbox(), Accounts())
        controller = Controller(
            server.mailbox,
            hostname="127.0.0.1",
            port=server.port,
            server_hostname="localhost",
            authenticator=server.accounts,
            **options,
        )
        controller.start()
        controllers.append(controller)
        return server

    yield start
    for controller in controllers:
        controller.stop()
