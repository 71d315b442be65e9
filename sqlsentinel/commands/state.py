"""Commands about the state database: ``history``, ``status``, ``silence``, ``db upgrade``."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime

from sqlsentinel.commands.common import EXIT_OK, emit, open_store, state_url

__all__ = ["db_upgrade", "history", "silence", "status", "unsilence"]

log = logging.getLogger("sqlsentinel")


def history(args: argparse.Namespace) -> int:
    """Print the latest runs (of one alert, or all)."""
    from sqlsentinel.config import load_config
    from sqlsentinel.report.history import history as render

    config = load_config(args.config)
    if args.alert is not None:
        config.alert(args.alert)  # an unknown name is a config error with a suggestion
    store = open_store(config, args)
    emit(render(store.history(args.alert, args.limit), fmt=args.format), args.format)
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    """Print each alert's state: last run, counts, notifications, next run, silence."""
    from sqlsentinel.config import load_config
    from sqlsentinel.report.history import status as render

    config = load_config(args.config)
    store = open_store(config, args)
    now = args.now or datetime.now(UTC)
    emit(render(config.alerts, store.load(), now, fmt=args.format), args.format)
    return EXIT_OK


def silence(args: argparse.Namespace) -> int:
    """Silence an alert for a while: it keeps running and recording, and sends nothing new."""
    from sqlsentinel.config import load_config
    from sqlsentinel.executor.history import utc_text

    config = load_config(args.config)
    alert = config.alert(args.alert)
    now = datetime.now(UTC)
    until = now + args.duration
    open_store(config, args).silence(alert.name, until, args.reason, now)
    print(f"alert '{alert.name}' is silenced until {utc_text(until)}")
    return EXIT_OK


def unsilence(args: argparse.Namespace) -> int:
    """Lift an alert's silence."""
    from sqlsentinel.config import load_config

    config = load_config(args.config)
    alert = config.alert(args.alert)
    open_store(config, args).silence(alert.name, None, None, datetime.now(UTC))
    print(f"alert '{alert.name}' is no longer silenced")
    return EXIT_OK


def db_upgrade(args: argparse.Namespace) -> int:
    """Bring the state database to the schema this sqlsentinel needs."""
    import os

    from sqlsentinel.config import load_config
    from sqlsentinel.database.engines import check_driver, get_state_engine
    from sqlsentinel.database.schema import CURRENT_VERSION, schema_version, upgrade
    from sqlsentinel.errors import StateStoreError
    from sqlsentinel.redact import redact_url, redactor

    config = load_config(args.config)
    url = state_url(config, args.state_url, os.environ)
    redactor.add_url(url)
    check_driver(url, where="the state database")
    engine = get_state_engine(url)
    try:
        with engine.connect() as conn:
            before = schema_version(conn)
            conn.rollback()
        after = upgrade(engine)
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError):
            raise StateStoreError(
                f"the state database {redact_url(url)} could not be upgraded: {exc}"
            ) from exc
        raise
    if before == after:
        print(f"the state database {redact_url(url)} is at schema version {after}: up to date")
    else:
        print(
            f"upgraded the state database {redact_url(url)} from schema version "
            f"{before or 0} to {after} (this sqlsentinel needs {CURRENT_VERSION})"
        )
    return EXIT_OK
