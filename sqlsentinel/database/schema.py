"""Define the ``sqlsentinel_*`` tables and bring a state database to the current schema version.

The same SQLAlchemy Core metadata serves SQLite, PostgreSQL and MariaDB/MySQL. Times are
stored as naive UTC (``DATETIME(6)`` on MySQL, so microseconds survive); JSON is stored as
text, which every dialect reads the same way; on MySQL the tables are ``utf8mb4`` with a binary
collation, so alert names compare exactly everywhere.

Versions are recorded in ``sqlsentinel_schema``. :func:`ensure_schema` creates an empty
database at the current version on first use; a database at an older version is refused with
the command that upgrades it (``sqlsentinel db upgrade``), and :func:`upgrade` applies the
ordered :data:`MIGRATIONS` under a lock, so two runners starting at once cannot both migrate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.dialects import mysql

from sqlsentinel.errors import StateStoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "CURRENT_VERSION",
    "MIGRATIONS",
    "configs",
    "ensure_schema",
    "executions",
    "metadata",
    "schema_version",
    "state",
    "upgrade",
]

metadata = MetaData()

# Microseconds on MySQL/MariaDB (plain DATETIME drops them); naive UTC everywhere.
Timestamp = DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Name = String(255)  # alert names are at most 200 characters; 255 stays indexable on MySQL
# MySQL/MariaDB compare text case- and accent-insensitively by default, which would make
# the alerts 'Revenue' and 'revenue' share one state row; binary collation keeps names exact,
# as SQLite and PostgreSQL do.
MYSQL_TABLE: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

schema = Table(
    "sqlsentinel_schema",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", Timestamp, nullable=False),
    **MYSQL_TABLE,
)

state = Table(
    "sqlsentinel_state",
    metadata,
    Column("alert", Name, primary_key=True),
    # the claim: exactly one runner owns (alert, claimed_slot, attempt) until lease_expires
    Column("claimed_slot", Timestamp),
    Column("attempt", Integer, nullable=False, default=0),
    Column("lease_owner", String(128)),
    Column("lease_expires", Timestamp),
    Column("completed_slot", Timestamp),
    # what the decision remembers
    Column("last_status", String(16)),
    Column("last_run_at", Timestamp),
    Column("consecutive_alerts", Integer, nullable=False, default=0),
    Column("consecutive_oks", Integer, nullable=False, default=0),
    Column("consecutive_errors", Integer, nullable=False, default=0),
    Column("firing_notified", Boolean, nullable=False, default=False),
    Column("last_notified_at", Timestamp),
    Column("last_notified_kind", String(16)),
    Column("error_notified_at", Timestamp),
    Column("pending", Text),  # JSON of a Pending notification, or NULL
    Column("silenced_until", Timestamp),
    Column("silence_reason", Text),
    Column("config_hash", String(64)),
    Column("revision", Integer, nullable=False, default=0),  # bumped by every write
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    **MYSQL_TABLE,
)

executions = Table(
    "sqlsentinel_executions",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("alert", Name, nullable=False),
    Column("slot", Timestamp),  # NULL for runs by hand
    Column("triggered_by", String(8), nullable=False),
    Column("attempt", Integer, nullable=False, default=1),
    Column("status", String(16), nullable=False),  # OK, ALERT, ERROR, TIMEOUT, MISSED
    Column("started_at", Timestamp, nullable=False),
    Column("finished_at", Timestamp, nullable=False),
    Column("duration_ms", Integer, nullable=False, default=0),
    Column("actual_value", Text),  # JSON
    Column("threshold", Text),  # JSON
    Column("context", Text),  # JSON object
    Column("error", Text),
    Column("decision", Text),  # why it notified or not
    Column("notifications", Text),  # JSON list of outcomes
    Column("coalesced", Integer, nullable=False, default=0),
    Column("runner_id", String(128)),
    Column("config_hash", String(64)),
    # a scheduled (alert, slot, attempt) is recorded once, whatever happens to runners
    UniqueConstraint("alert", "slot", "attempt", name="uq_sqlsentinel_executions_run"),
    Index("ix_sqlsentinel_executions_alert_id", "alert", "id"),
    Index("ix_sqlsentinel_executions_started", "started_at"),
    **MYSQL_TABLE,
)

configs = Table(
    "sqlsentinel_configs",
    metadata,
    Column("config_hash", String(64), primary_key=True),
    Column("alert", Name, nullable=False),
    Column("definition", Text, nullable=False),  # JSON, secrets left out
    Column("first_seen_at", Timestamp, nullable=False),
    **MYSQL_TABLE,
)


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[state, executions, configs])


Migration = Callable[["Connection"], None]

MIGRATIONS: Sequence[tuple[int, str, Migration]] = (
    (1, "create the sqlsentinel tables", _create_v1),
)
"""Ordered ``(version, what it does, apply)``; append, never edit a released one."""

CURRENT_VERSION = MIGRATIONS[-1][0]


def schema_version(conn: Connection) -> int | None:
    """Return the recorded schema version, or ``None`` for a database without our tables."""
    if not inspect(conn).has_table(schema.name):
        return None
    version = conn.execute(schema.select().with_only_columns(schema.c.version)).scalars().all()
    return max(version, default=0)


def ensure_schema(engine: Engine, *, upgrade_command: str = "sqlsentinel db upgrade CONFIG") -> int:
    """Create the tables on first use; refuse a database whose schema is older or newer.

    Returns the version. An older schema is a ``StateStoreError`` naming the command that
    upgrades it — a tick never migrates behind an operator's back.

    The first read takes no lock, and may see another runner halfway through creating or
    upgrading the tables (MySQL commits each DDL statement at once, so its tables show
    before its version row). So any version but ours is read again under the migration lock,
    which waits for such a runner to finish, before it is refused; and a database without
    our tables is created under that lock by :func:`upgrade`.
    """
    version = _read_version(engine)
    if version is not None and version != CURRENT_VERSION:
        version = _read_version(engine, locked=True)
    if version is None:
        return upgrade(engine)
    if version < CURRENT_VERSION:
        raise StateStoreError(
            f"the state database is at schema version {version}, and this sqlsentinel needs "
            f"{CURRENT_VERSION}; run `{upgrade_command}` to upgrade it"
        )
    if version > CURRENT_VERSION:
        raise StateStoreError(
            f"the state database is at schema version {version}, newer than this sqlsentinel "
            f"knows ({CURRENT_VERSION}); upgrade sqlsentinel"
        )
    return version


def _read_version(engine: Engine, *, locked: bool = False) -> int | None:
    with engine.connect() as conn:
        with _migration_lock(conn) if locked else nullcontext():
            version = schema_version(conn)
        conn.rollback()
    return version


def upgrade(engine: Engine, migrations: Sequence[tuple[int, str, Migration]] = MIGRATIONS) -> int:
    """Apply every migration newer than the database's version, in order; return the version.

    Runs under a database-wide lock (an advisory lock on PostgreSQL, ``GET_LOCK`` on MySQL,
    the write lock that every SQLite state transaction takes) and re-reads the version inside
    it, so concurrent upgrades apply each migration once.
    """
    with engine.connect() as conn, _migration_lock(conn):
        version = schema_version(conn) or 0
        if not inspect(conn).has_table(schema.name):
            metadata.create_all(conn, tables=[schema])
        for number, _, apply in migrations:
            if number > version:
                apply(conn)
                conn.execute(schema.insert().values(version=number, applied_at=_now()))
                version = number
        conn.commit()
    return version


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Hold a database-wide lock for the duration of a migration."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7256389120)"))  # released at commit
    elif dialect in ("mysql", "mariadb"):
        locked = conn.execute(text("SELECT GET_LOCK('sqlsentinel_migrate', 60)")).scalar()
        if locked != 1:
            raise StateStoreError("another runner is upgrading the state database; retry")
    # SQLite: the state engine begins every transaction IMMEDIATE (the write lock)
    try:
        yield
    finally:
        if dialect in ("mysql", "mariadb"):
            conn.execute(text("DO RELEASE_LOCK('sqlsentinel_migrate')"))


def _now() -> datetime:
    # the only clock read here: when a migration was applied is a fact about the real world
    return datetime.now(UTC).replace(tzinfo=None)
