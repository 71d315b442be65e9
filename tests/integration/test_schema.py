"""The state database's schema: created on first use, versioned, upgraded once, guarded.

On SQLite, PostgreSQL and MariaDB (the ``state_url`` fixture: each an isolated, empty
database). "A newer sqlsentinel" is this one told that it knows one migration more: a v2
that adds an index, the kind of change a release makes.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection, Engine

from sqlsentinel.database import schema as db_schema
from sqlsentinel.database.engines import get_state_engine
from sqlsentinel.database.schema import (
    CURRENT_VERSION,
    MIGRATIONS,
    Migration,
    ensure_schema,
    schema_version,
    upgrade,
)
from sqlsentinel.errors import StateStoreError
from sqlsentinel.executor.state import SqlStateStore
from tests.conftest import MYSQL_URL, POSTGRES_URL, require
from tests.support.smtp import free_port

TABLES = {
    "sqlsentinel_schema",
    "sqlsentinel_state",
    "sqlsentinel_executions",
    "sqlsentinel_configs",
}
V2_INDEX = "ix_sqlsentinel_executions_status"


def recorded_versions(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        versions = conn.execute(select(db_schema.schema.c.version)).scalars().all()
        conn.rollback()
    return sorted(versions)


def indexes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        names = {ix["name"] for ix in inspect(conn).get_indexes("sqlsentinel_executions")}
        conn.rollback()
    return {name for name in names if name}


def counted(calls: list[int], version: int, apply: Migration) -> Migration:
    def migrate(conn: Connection) -> None:
        calls.append(version)
        apply(conn)

    return migrate


def add_status_index(conn: Connection) -> None:
    conn.exec_driver_sql(f"CREATE INDEX {V2_INDEX} ON sqlsentinel_executions (status)")


def with_v2(calls: list[int]) -> list[tuple[int, str, Migration]]:
    """Return this release's migrations, plus a v2 — every apply counted in ``calls``."""
    return [
        *((n, what, counted(calls, n, apply)) for n, what, apply in MIGRATIONS),
        (2, "index history by status", counted(calls, 2, add_status_index)),
    ]


# --- first use, and the version guard -------------------------------------------------------


def test_first_use_creates_the_tables_at_the_current_version(state_url: str) -> None:
    SqlStateStore.open(state_url)

    engine = get_state_engine(state_url)
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) >= TABLES
        assert schema_version(conn) == CURRENT_VERSION
        conn.rollback()
    assert "ix_sqlsentinel_executions_alert_id" in indexes(engine)  # "latest N runs of X"
    SqlStateStore.open(state_url)  # the second use changes nothing
    assert ensure_schema(engine) == CURRENT_VERSION
    assert recorded_versions(engine) == [v for v, _, _ in MIGRATIONS]


def test_an_empty_database_has_no_version(state_url: str) -> None:
    with get_state_engine(state_url).connect() as conn:
        assert schema_version(conn) is None
        conn.rollback()


def test_an_older_schema_is_refused_naming_the_command_that_upgrades_it(
    state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    SqlStateStore.open(state_url)  # made by this release: version 1
    engine = get_state_engine(state_url)
    monkeypatch.setattr(db_schema, "CURRENT_VERSION", 2)  # the next release knows v2

    with pytest.raises(StateStoreError) as refused:
        SqlStateStore.open(state_url, upgrade_command="sqlsentinel db upgrade alerts.yaml")

    message = str(refused.value)
    assert "schema version 1" in message
    assert "needs 2" in message
    assert "run `sqlsentinel db upgrade alerts.yaml`" in message
    with pytest.raises(StateStoreError, match="sqlsentinel db upgrade CONFIG"):
        ensure_schema(engine)
    assert recorded_versions(engine) == [1]  # a tick never migrates behind your back
    assert V2_INDEX not in indexes(engine)

    assert upgrade(engine, with_v2([])) == 2
    assert SqlStateStore.open(state_url).engine is engine  # and now it opens


def test_a_newer_schema_is_refused(state_url: str) -> None:
    SqlStateStore.open(state_url)
    engine = get_state_engine(state_url)
    upgrade(engine, with_v2([]))  # a newer sqlsentinel was here

    with pytest.raises(StateStoreError) as refused:
        SqlStateStore.open(state_url)

    message = str(refused.value)
    assert "schema version 2" in message
    assert "newer" in message
    assert "upgrade sqlsentinel" in message
    assert "db upgrade" not in message  # that command cannot help


# --- upgrades --------------------------------------------------------------------------------


def test_upgrade_applies_each_migration_once_in_order(state_url: str) -> None:
    engine = get_state_engine(state_url)
    calls: list[int] = []

    assert upgrade(engine, with_v2(calls)) == 2
    assert upgrade(engine, with_v2(calls)) == 2

    assert calls == [1, 2]
    assert recorded_versions(engine) == [1, 2]
    assert V2_INDEX in indexes(engine)


def test_upgrade_from_the_current_version_applies_only_the_new_migrations(state_url: str) -> None:
    SqlStateStore.open(state_url)
    engine = get_state_engine(state_url)
    calls: list[int] = []

    assert upgrade(engine, with_v2(calls)) == 2

    assert calls == [2]
    assert recorded_versions(engine) == [1, 2]


@pytest.mark.parametrize("start", ["empty", "v1"])
def test_concurrent_upgrades_apply_each_migration_once(state_url: str, start: str) -> None:
    if start == "v1":
        SqlStateStore.open(state_url)
    engine = get_state_engine(state_url)
    calls: list[int] = []
    migrations = with_v2(calls)
    runners = 4
    barrier = threading.Barrier(runners)

    def run(_: int) -> int:
        barrier.wait(timeout=60)
        return upgrade(engine, migrations)

    with ThreadPoolExecutor(runners) as pool:
        versions = list(pool.map(run, range(runners)))

    assert versions == [2] * runners
    assert calls == ([1, 2] if start == "empty" else [2])
    assert recorded_versions(engine) == [1, 2]
    assert V2_INDEX in indexes(engine)


def test_concurrent_first_uses_create_the_tables_once(state_url: str) -> None:
    """Six runners open a new state database at once; none is told to upgrade it."""
    runners = 6
    barrier = threading.Barrier(runners)

    def open_store(_: int) -> int:
        barrier.wait(timeout=60)
        store = SqlStateStore.open(state_url)
        return store.count()

    with ThreadPoolExecutor(runners) as pool:
        assert list(pool.map(open_store, range(runners))) == [0] * runners
    assert recorded_versions(get_state_engine(state_url)) == [CURRENT_VERSION]


# --- the SQLite file -------------------------------------------------------------------------


def test_the_sqlite_state_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "state.db"
    umask = os.umask(0)  # even where files are created world-readable by default
    try:
        store = SqlStateStore.open(f"sqlite:///{path}")
        store.silence(
            "a", None, None, datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        )  # a write: the WAL files exist now
    finally:
        os.umask(umask)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    companions = [Path(f"{path}-wal"), Path(f"{path}-shm")]
    assert [p for p in companions if p.exists()], "expected WAL mode's companion files"
    for companion in companions:
        if companion.exists():
            assert stat.S_IMODE(companion.stat().st_mode) == 0o600, companion


# --- a state database that cannot be used -----------------------------------------------------

PASSWORD = "Sup3r-Secret-Pw"


def _closed_port(base: str) -> str:
    return base.format(password=PASSWORD, port=free_port())


UNREACHABLE: dict[str, Callable[[Path], str]] = {
    "postgres-closed-port": lambda _: _closed_port(
        "postgresql://postgres:{password}@127.0.0.1:{port}/test"
    ),
    "mysql-closed-port": lambda _: _closed_port("mysql://root:{password}@127.0.0.1:{port}/test"),
    # the local PostgreSQL trusts 127.0.0.1, so a wrong password alone would get in
    "postgres-unknown-user": lambda _: POSTGRES_URL.replace(
        "postgres@", f"nosuchuser:{PASSWORD}@", 1
    ),
    "mysql-bad-password": lambda _: MYSQL_URL.replace("root@", f"root:{PASSWORD}@", 1),
    "sqlite-not-a-database": lambda tmp: _text_file(tmp / "notes.db"),
    "sqlite-path-through-a-file": lambda tmp: f"sqlite:///{_text_file(tmp / 'a-file')[10:]}/s.db",
}


def _text_file(path: Path) -> str:
    path.write_text("these are notes, not a database\n" * 100)
    return f"sqlite:///{path}"


@pytest.mark.parametrize("case", list(UNREACHABLE))
def test_an_unusable_state_database_is_one_error_naming_it_without_its_password(
    case: str, tmp_path: Path
) -> None:
    if case == "postgres-unknown-user":
        require(POSTGRES_URL, "PostgreSQL")
    if case == "mysql-bad-password":
        require(MYSQL_URL, "MariaDB/MySQL")
    url = UNREACHABLE[case](tmp_path)

    with pytest.raises(StateStoreError) as failed:
        SqlStateStore.open(url)

    message = str(failed.value)
    assert PASSWORD not in message
    assert "\n" not in message
    assert message.startswith("the state database ")
    if "://" in url and "@" in url:
        scheme, _, rest = url.partition("://")
        user, _, host = rest.partition("@")
        drivers = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
        driver = drivers.get(scheme, scheme)
        assert f"{driver}://{user.partition(':')[0]}:***@{host}" in message
    else:
        assert url.removeprefix("sqlite:///") in message


def test_a_runner_that_starts_during_an_upgrade_waits_for_it_instead_of_refusing(
    state_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if state_url.startswith("sqlite"):
        pytest.skip("on SQLite even the first read waits for the upgrade's write lock")
    SqlStateStore.open(state_url)
    engine = get_state_engine(state_url)
    monkeypatch.setattr(db_schema, "CURRENT_VERSION", 2)  # both runners are the new release
    migrating, go, first_read = threading.Event(), threading.Event(), threading.Event()

    def slow_v2(conn: Connection) -> None:
        add_status_index(conn)  # on MySQL this commits at once: v2's index shows, its row not
        migrating.set()
        assert go.wait(timeout=60)

    real_schema_version = db_schema.schema_version

    def watched_schema_version(conn: Connection) -> int | None:
        version = real_schema_version(conn)
        if threading.current_thread().name.startswith("starter"):
            first_read.set()
        return version

    monkeypatch.setattr(db_schema, "schema_version", watched_schema_version)
    with ThreadPoolExecutor(1, thread_name_prefix="upgrader") as upgrader:
        upgrading = upgrader.submit(upgrade, engine, [*MIGRATIONS, (2, "slow", slow_v2)])
        assert migrating.wait(timeout=60)
        with ThreadPoolExecutor(1, thread_name_prefix="starter") as starter:
            opening = starter.submit(ensure_schema, engine)
            assert first_read.wait(timeout=60)  # it saw the database while at version 1
            go.set()
            assert opening.result(timeout=60) == 2
        assert upgrading.result(timeout=60) == 2
