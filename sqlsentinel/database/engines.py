"""Create one SQLAlchemy engine per database URL, lazily, and keep it for the process.

A warm Lambda container or a ``run --watch`` loop reuses the engine and its pool;
``pool_pre_ping`` replaces connections that died while the process was frozen or idle.
URLs without a driver get the one sqlsentinel installs (psycopg 3, PyMySQL); a database or
driver sqlsentinel cannot keep read-only is refused, and a missing driver is reported with the
extra that provides it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlsentinel.errors import ConfigError
from sqlsentinel.redact import redact_url, redactor

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from sqlsentinel.config import Config

__all__ = [
    "CONNECT_TIMEOUT",
    "check_driver",
    "dialect_and_driver",
    "dispose_engines",
    "engine_for",
    "get_engine",
    "get_state_engine",
    "resolve_url",
    "unsupported",
]

CONNECT_TIMEOUT = 10
"""Seconds to wait for a database connection before giving up."""

# dialect -> (the one driver sqlsentinel runs it with, module that provides it, extra, product)
_DRIVERS = {
    "postgresql": ("psycopg", "psycopg", "postgres", "PostgreSQL"),
    "mysql": ("pymysql", "pymysql", "mysql", "MySQL"),
    "mariadb": ("pymysql", "pymysql", "mysql", "MariaDB"),
    "sqlite": ("pysqlite", "sqlite3", "", "SQLite"),
}
_SUPPORTED_FORMS = (
    "sqlsentinel runs alerts on SQLite (sqlite:///file.db), PostgreSQL (postgresql:// or "
    "postgresql+psycopg://) and MariaDB or MySQL (mysql://, mariadb:// or mysql+pymysql://)"
)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _split(url: str) -> tuple[str, str | None, str]:
    scheme, _, rest = url.partition("://")
    dialect, _, driver = scheme.partition("+")
    return dialect.lower(), (driver.lower() or None), rest


def resolve_url(url: str) -> str:
    """Return ``url`` with the driver sqlsentinel uses when the URL does not name one.

    ``postgresql://`` would otherwise mean psycopg2 and ``mysql://`` mysqlclient, neither of
    which our extras install. ``postgres`` (Heroku's spelling, which SQLAlchemy no longer
    reads) is read as ``postgresql``. Otherwise a URL that names its driver is left alone.
    """
    dialect, driver, rest = _split(url)
    if dialect == "postgres":
        dialect = "postgresql"
        url = f"{dialect}+{driver}://{rest}" if driver else f"{dialect}://{rest}"
    if driver is None and dialect in _DRIVERS and dialect != "sqlite":
        return f"{dialect}+{_DRIVERS[dialect][0]}://{rest}"
    return url


def dialect_and_driver(url: str) -> tuple[str, str | None]:
    """Return the dialect and driver ``url`` runs with (after :func:`resolve_url`)."""
    dialect, driver, _ = _split(resolve_url(url))
    return dialect, driver


def unsupported(dialect: str, driver: str | None) -> str | None:
    """Return why sqlsentinel cannot run alert queries with ``dialect+driver``, or ``None``.

    Only these combinations have a session that makes the query read-only and bounds its
    time (:mod:`sqlsentinel.executor.dialects`); with any other, an alert could write to the
    database or run forever. ``driver`` ``None`` means the default (after :func:`resolve_url`).
    """
    known = _DRIVERS.get(dialect)
    if known is None:
        return f"'{dialect}' databases are not supported; {_SUPPORTED_FORMS}"
    if driver is not None and driver != known[0]:
        return (
            f"the driver '{driver}' is not supported; sqlsentinel runs {known[3]} with "
            f"{known[0]} (write {dialect}:// without a driver)"
        )
    return None


def check_driver(url: str, *, where: str) -> None:
    """Raise ``ConfigError`` unless ``url`` is a supported database with its driver installed.

    The message names the supported forms, or the extra to install. ``where`` names the data
    source in the message ("data source 'warehouse'").
    """
    dialect, driver = dialect_and_driver(url)
    problem = unsupported(dialect, driver)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    _, module, extra, product = _DRIVERS[dialect]
    if extra and importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{where} uses {product}, but its driver ({driver}) is not installed; "
            f"pip install 'sqlsentinel[{extra}]'"
        )


def engine_for(config: Config, name: str) -> Engine:
    """Return the engine of the config's data source ``name``, or raise ``ConfigError``.

    Creating an engine connects to nothing, but it is where SQLAlchemy reads the URL, so a
    URL it cannot use is reported here, naming the config file and the data source.
    """
    url = config.data_sources[name].url
    where = f"data source '{name}'"
    check_driver(url, where=where)
    try:
        return get_engine(url)
    except ConfigError as exc:
        prefix = f"{config.source}: " if config.source else ""
        raise ConfigError(f"{prefix}{where}: {exc}") from None


def get_engine(url: str) -> Engine:
    """Return the process-wide engine for data-source ``url``, creating it on first use."""
    return _cached(resolve_url(url), state=False)


def get_state_engine(url: str) -> Engine:
    """Return the process-wide engine for the state database at ``url``.

    Separate from data-source engines (the same URL may be both): state transactions write.
    On SQLite every transaction begins ``IMMEDIATE`` (the database's one write lock, so that
    concurrent ticks serialise instead of failing to upgrade a read lock), in WAL mode with
    a 30-second busy timeout; a new state file is created readable by its owner only. On
    MySQL/MariaDB transactions are ``READ COMMITTED``, as on PostgreSQL: under InnoDB's
    default (REPEATABLE READ) a claim's ``SELECT … FOR UPDATE`` also locks the row after each
    one it reads, and another runner's ``SKIP LOCKED`` would then pass over alerts that no
    one is claiming.
    """
    return _cached(resolve_url(url), state=True)


def _cached(url: str, *, state: bool) -> Engine:
    key = f"state:{url}" if state else url
    engine = _engines.get(key)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create(url, state=state)
            if state and url.startswith("sqlite"):
                _prepare_sqlite_state(engine)
            _engines[key] = engine
    return engine


def _prepare_sqlite_state(engine: Engine) -> None:
    from sqlalchemy import event

    path = sqlite_file(engine.url)
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # created 0600 before SQLite opens it: history can hold query values
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _create(url: str, *, state: bool = False) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    redactor.add_url(url)
    dialect, _, _ = _split(url)
    connect_args: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if dialect == "postgresql":
        connect_args = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "sqlsentinel"}
    elif dialect in ("mysql", "mariadb"):
        connect_args = {"connect_timeout": CONNECT_TIMEOUT}
        if state:
            options["isolation_level"] = "READ COMMITTED"  # see get_state_engine
    try:
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **options)
    except NoSuchModuleError:
        raise ConfigError(
            f"SQLAlchemy has no dialect for '{dialect}' ({redact_url(url)}); install the "
            "package that provides it, or use postgresql://, mysql://, mariadb:// or sqlite://"
        ) from None
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"'{redact_url(url)}' is not a valid database URL: {exc}") from None
    except ImportError as exc:
        raise ConfigError(
            f"the driver for '{redact_url(url)}' cannot be imported ({exc.name}); install it"
        ) from None


def sqlite_file(url: str | URL) -> Path | None:
    """Return the file a SQLite URL points at, or ``None`` for in-memory and non-SQLite URLs.

    Pass an engine's parsed ``URL`` rather than its rendering, which percent-encodes the
    path (``:memory:`` would read as a file named ``%3Amemory%3A``).
    """
    if isinstance(url, str):
        dialect, _, rest = _split(url)
        path = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    else:
        dialect, path = url.get_backend_name(), url.database or ""
    if dialect != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def missing_sqlite_file(url: str | URL) -> str | None:
    """Return a sentence explaining that a SQLite data source's file is missing, if it is.

    SQLite would otherwise create an empty database and every query would fail with
    "no such table", which hides the real mistake: a wrong path.
    """
    path = sqlite_file(url)
    if path is None or path.exists():
        return None
    relative = "" if path.is_absolute() else f" (relative to the current directory, {os.getcwd()})"
    return f"the SQLite database file '{path}' does not exist{relative}; check the path in the URL"


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests; forked workers)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
