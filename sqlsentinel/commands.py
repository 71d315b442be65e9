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
from typing import TYPE_CHECKING

from sqlsentinel.errors import ConfigError
from sqlsentinel.redact import redact_url, redactor

if TYPE_CHECKING:
    from sqlsentinel.config import Alert, Config
    from sqlsentinel.models import Kind, QueryResult
    from sqlsentinel.notifications.base import Notifier
    from sqlsentinel.report import Delivery

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
        delivery = _notify(config, alert, kind, result, started_at, dry_run=args.dry_run)
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

    config = load_config(args.config)
    alert = config.alert(args.alert)
    if not alert.notify:
        raise ConfigError(f"alert '{alert.name}' has no notify entries; there is nothing to test")
    now = datetime.now(UTC)
    result = QueryResult(
        Status.ALERT, context={"note": "a test notification; the alert did not fire"}
    )
    delivery = _notify(
        config, alert, Kind.FIRING, result, now, dry_run=args.dry_run, test=True, only=args.channel
    )
    emit(report.delivery(alert, delivery, fmt=args.format), args.format)
    return EXIT_OK if delivery.ok else EXIT_FAILED


def _notify(
    config: Config,
    alert: Alert,
    kind: Kind,
    result: QueryResult,
    slot: datetime,
    *,
    dry_run: bool,
    test: bool = False,
    only: str | None = None,
) -> Delivery:
    """Send (or, for a dry run, render) one notification through the alert's channels."""
    from sqlsentinel.notifications.base import Notification
    from sqlsentinel.notifications.delivery import deliver
    from sqlsentinel.notifications.factory import build_notifiers
    from sqlsentinel.report import Delivery

    notifiers = build_notifiers(alert, config.notifications, os.environ)
    if only is not None:
        notifiers = _only(alert, notifiers, only)
    notification = Notification(alert, kind, result, slot, datetime.now(UTC), test=test)
    if dry_run:
        previews = [(n.channel, n.target, n.render(notification)) for n in notifiers]
        return Delivery(kind, previews=previews)
    retry = config.notifications.retry
    outcomes = deliver(
        notification, notifiers, attempts=retry.attempts, backoff=retry.backoff.total_seconds()
    )
    return Delivery(kind, outcomes=outcomes)


def _only(alert: Alert, notifiers: list[Notifier], channel: str) -> list[Notifier]:
    chosen = [notifier for notifier in notifiers if notifier.channel == channel]
    if not chosen:
        have = ", ".join(dict.fromkeys(notifier.channel for notifier in notifiers))
        raise ConfigError(
            f"alert '{alert.name}' has no {channel} channel; its channels are: {have}"
        )
    return chosen
