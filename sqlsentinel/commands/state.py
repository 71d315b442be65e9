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
    now = datetime.now(UTC).replace(microsecond=0)  # "until 12:30:05Z" reads better
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

    from sqlalchemy.exc import SQLAlchemyError

    from sqlsentinel.config import load_config
    from sqlsentinel.database.engines import check_driver, get_state_engine
    from sqlsentinel.database.schema import CURRENT_VERSION, schema_version, upgrade
    from sqlsentinel.errors import StateStoreError
    from sqlsentinel.redact import redact_url, redactor

    config = load_config(args.config)
    url = state_url(config, getattr(args, "state_url", None), os.environ)
    redactor.add_url(url)
    check_driver(url, where="the state database")
    where = f"the state database {redact_url(url)}"
    engine = get_state_engine(url)
    try:
        with engine.connect() as conn:
            before = schema_version(conn)
            conn.rollback()
        if before is not None and before > CURRENT_VERSION:
            raise StateStoreError(
                f"{where} is at schema version {before}, newer than this sqlsentinel knows "
                f"({CURRENT_VERSION}); upgrade sqlsentinel"
            )
        after = upgrade(engine)
    except SQLAlchemyError as exc:
        # one line, as every other state-database error: the driver's first line, masked
        cause = getattr(exc, "orig", None) or exc
        first = " ".join(str(cause).split("\n")[0].split()) or type(cause).__name__
        raise StateStoreError(f"{where} could not be upgraded: {redactor.scrub(first)}") from exc
    if before is None:
        print(f"created the sqlsentinel tables in {where}, at schema version {after}")
    elif before == after:
        print(f"{where} is at schema version {after}: up to date")
    else:
        print(f"upgraded {where} from schema version {before} to {after}")
    return EXIT_OK
