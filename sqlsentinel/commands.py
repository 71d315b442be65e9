"""Carry out the commands the CLI parsed: load, run, notify, and print the report.

Each handler takes the parsed arguments and returns the exit code; :mod:`sqlsentinel.cli`
maps exceptions to exit codes. The command line is an entry point, so this is where the
clock and the process environment are read; everything below takes them as arguments.
Heavy modules are imported inside the handlers so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC, datetime

from sqlsentinel.errors import ConfigError
from sqlsentinel.redact import redact_url, redactor

__all__ = ["emit", "execute", "notify_test", "test"]

EXIT_OK = 0
EXIT_FAILED = 1

log = logging.getLogger("sqlsentinel")


def emit(text: str, fmt: str) -> None:
    """Print a result on stdout, masked like the logs: results can quote errors and data.

    JSON was masked value by value when it was built (masking the text could break it).
    """
    print(text if fmt == "json" else redactor.scrub(text))


def test(args: argparse.Namespace) -> int:
    """Validate the config (channels included); with ``--connect``, run every query once."""
    from sqlsentinel import report
    from sqlsentinel.config import load_config
    from sqlsentinel.database.engines import engine_for
    from sqlsentinel.notifications.factory import check_channels

    config = load_config(args.config)
    log.debug("loaded %s (alerts: %d)", args.config, len(config.alerts))
    # Creating an engine connects to nothing, but it is where SQLAlchemy reads the URL: a
    # dialect it does not know or a port that is not a number is a config error even here.
    engines = {name: engine_for(config, name) for name in config.data_sources}
    check_channels(config, os.environ)
    now = args.now or datetime.now(UTC)
    if not args.connect:
        emit(report.config_summary(config, now, fmt=args.format), args.format)
        return EXIT_OK

    from sqlsentinel.executor.query import ping, run_query

    connections = []
    for name, engine in engines.items():
        log.debug("connecting to data source '%s' (%s)", name, redact_url(str(engine.url)))
        server, error = ping(engine)
        connections.append(report.ConnectionCheck(name, server, error))
    reachable = {item.name for item in connections if item.error is None}
    results = {}
    for alert in config.enabled_alerts:
        if alert.database in reachable:
            log.debug("running the query of alert '%s'", alert.name)
            results[alert.name] = run_query(
                engines[alert.database],
                alert.query,
                timeout=alert.timeout,
                empty_result=alert.empty_result,
            )
    emit(
        report.config_summary(
            config, now, connections=connections, results=results, fmt=args.format
        ),
        args.format,
    )
    failed = len(reachable) < len(connections) or any(r.status.failed for r in results.values())
    return EXIT_FAILED if failed else EXIT_OK


def execute(args: argparse.Namespace) -> int:
    """Run one alert now and notify as its outcome requires (or show what would be sent)."""
    from sqlsentinel import report
    from sqlsentinel.config import load_config
    from sqlsentinel.database.engines import engine_for
    from sqlsentinel.executor.decide import manual_kind
    from sqlsentinel.executor.query import run_query
    from sqlsentinel.notifications.dispatch import notify

    config = load_config(args.config)
    alert = config.alert(args.alert)
    engine = engine_for(config, alert.database)
    log.debug("running the query of alert '%s' on data source '%s'", alert.name, alert.database)
    started_at = datetime.now(UTC)
    result = run_query(engine, alert.query, timeout=alert.timeout, empty_result=alert.empty_result)
    if result.error is not None:
        log.warning("alert '%s' %s: %s", alert.name, result.status.value, result.error)
    kind = manual_kind(alert, result)
    delivery = None
    if kind is not None and alert.notify:
        delivery = notify(
            alert,
            config.notifications,
            kind,
            result,
            slot=started_at,
            now=datetime.now(UTC),
            environ=os.environ,
            dry_run=args.dry_run,
        )
    emit(
        report.execution(
            alert,
            result,
            started_at=started_at,
            dry_run=args.dry_run,
            kind=kind,
            delivery=delivery,
            fmt=args.format,
        ),
        args.format,
    )
    undelivered = delivery is not None and not delivery.ok
    return EXIT_FAILED if result.status.failed or undelivered else EXIT_OK


def notify_test(args: argparse.Namespace) -> int:
    """Send a clearly marked test notification through an alert's channels."""
    from sqlsentinel import report
    from sqlsentinel.config import load_config
    from sqlsentinel.models import Kind, QueryResult, Status
    from sqlsentinel.notifications.dispatch import notify

    config = load_config(args.config)
    alert = config.alert(args.alert)
    if not alert.notify:
        raise ConfigError(f"alert '{alert.name}' has no notify entries; there is nothing to test")
    now = datetime.now(UTC)
    result = QueryResult(
        Status.ALERT, context={"note": "a test notification; the alert did not fire"}
    )
    delivery = notify(
        alert,
        config.notifications,
        Kind.FIRING,
        result,
        slot=now,
        now=now,
        environ=os.environ,
        dry_run=args.dry_run,
        test=True,
        only=args.channel,
    )
    emit(report.delivery(alert, delivery, fmt=args.format), args.format)
    return EXIT_OK if delivery.ok else EXIT_FAILED
