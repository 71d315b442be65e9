"""Create one SQLAlchemy engine per database URL, lazily, and keep it for the process.

A warm Lambda container or a ``run --watch`` loop reuses the engine and its pool;
``pool_pre_ping`` replaces connections that died while the process was frozen or idle.
URLs without a driver get the one sqlsentinel installs (psycopg 3, PyMySQL), and a missing
driver is reported with the extra that provides it.
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
    from sqlalchemy.engine import Engine

    from sqlsentinel.config import Config

__all__ = [
    "CONNECT_TIMEOUT",
    "check_driver",
    "dispose_engines",
    "engine_for",
    "get_engine",
    "resolve_url",
]

CONNECT_TIMEOUT = 10
"""Seconds to wait for a database connection before giving up."""

# dialect -> (driver sqlsentinel installs, module that provides it, extra, product name)
_DRIVERS = {
    "postgresql": ("psycopg", "psycopg", "postgres", "PostgreSQL"),
    "mysql": ("pymysql", "pymysql", "mysql", "MySQL"),
    "mariadb": ("pymysql", "pymysql", "mysql", "MariaDB"),
}
# drivers named explicitly in a URL -> the module to look for
_DRIVER_MODULES = {
    "psycopg": "psycopg",
    "psycopg2": "psycopg2",
    "asyncpg": "asyncpg",
    "pg8000": "pg8000",
    "pymysql": "pymysql",
    "mysqldb": "MySQLdb",
    "mysqlconnector": "mysql.connector",
    "mariadbconnector": "mariadb",
    "pysqlite": "sqlite3",
}

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _split(url: str) -> tuple[str, str | None, str]:
    scheme, _, rest = url.partition("://")
    dialect, _, driver = scheme.partition("+")
    return dialect.lower(), (driver.lower() or None), rest


def resolve_url(url: str) -> str:
    """Return ``url`` with the driver sqlsentinel uses when the URL does not name one.

    ``postgresql://`` would otherwise mean psycopg2 and ``mysql://`` mysqlclient, neither of
    which our extras install. A URL that names its driver is left alone.
    """
    dialect, driver, rest = _split(url)
    if driver is None and dialect in _DRIVERS:
        return f"{dialect}+{_DRIVERS[dialect][0]}://{rest}"
    return url


def check_driver(url: str, *, where: str) -> None:
    """Raise ``ConfigError`` if the driver for ``url`` is not installed, naming what to install.

    ``where`` names the data source in the message ("data source 'warehouse'").
    """
    dialect, driver, _ = _split(resolve_url(url))
    if dialect == "sqlite":
        return
    module = _DRIVER_MODULES.get(driver or "")
    if module is not None and importlib.util.find_spec(module.split(".")[0]) is None:
        known = _DRIVERS.get(dialect)
        if known is not None and driver == known[0]:
            install = f"pip install 'sqlsentinel[{known[2]}]'"
        else:
            install = f"install the Python package that provides '{module}'"
        product = known[3] if known else dialect
        raise ConfigError(
            f"{where} uses {product}, but its driver ({driver}) is not installed; {install}"
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
    """Return the process-wide engine for ``url``, creating it on first use."""
    resolved = resolve_url(url)
    engine = _engines.get(resolved)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(resolved)
        if engine is None:
            engine = _create(resolved)
            _engines[resolved] = engine
    return engine


def _create(url: str) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    redactor.add_url(url)
    dialect, _, _ = _split(url)
    connect_args: dict[str, Any] = {}
    if dialect == "postgresql":
        connect_args = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "sqlsentinel"}
    elif dialect in ("mysql", "mariadb"):
        connect_args = {"connect_timeout": CONNECT_TIMEOUT}
    try:
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
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


def sqlite_file(url: str) -> Path | None:
    """Return the file a SQLite URL points at, or ``None`` for in-memory and non-SQLite URLs."""
    dialect, _, rest = _split(url)
    if dialect != "sqlite":
        return None
    path = rest[1:].split("?", 1)[0] if rest.startswith("/") else ""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def missing_sqlite_file(url: str) -> str | None:
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
