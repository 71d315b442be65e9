"""Commands about single alerts and their config: ``test``, ``execute``, ``notify-test``."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC, datetime

from sqlsentinel.commands.common import EXIT_FAILED, EXIT_OK, emit
from sqlsentinel.errors import ConfigError
from sqlsentinel.redact import redact_url

__all__ = ["execute", "notify_test", "test"]

log = logging.getLogger("sqlsentinel")


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
    """Run one alert now: decide from its state, notify, and record it (MANUAL).

    ``--dry-run`` decides from the recorded state too, but sends nothing and writes nothing.
    """
    from sqlsentinel import report
    from sqlsentinel.commands.common import open_store
    from sqlsentinel.commands.scheduling import run_by_hand
    from sqlsentinel.config import load_config
    from sqlsentinel.config.messages import printable
    from sqlsentinel.database.engines import engine_for

    config = load_config(args.config)
    alert = config.alert(args.alert)
    engine_for(config, alert.database)  # a data source it cannot use is a config error (2)
    store = open_store(config, args)  # unreachable: exit 3, before anything runs or is sent
    now = datetime.now(UTC)
    _, run = run_by_hand(config, alert, store, now, dry_run=args.dry_run)
    if run.result.error is not None:
        error = printable(run.result.error)  # it can quote data: no terminal control characters
        log.warning("alert '%s' %s: %s", alert.name, run.result.status.value, error)
    emit(
        report.execution(alert, run, started_at=now, dry_run=args.dry_run, fmt=args.format),
        args.format,
    )
    undelivered = any(not delivery.ok for delivery in run.deliveries)
    return EXIT_FAILED if run.result.status.failed or undelivered else EXIT_OK


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
