"""Format what the commands print: config summaries and query results, as text or JSON.

Takes plain values, returns strings. Every URL is shown redacted; JSON has every string
masked with the process's redactor before it is serialised (masking the finished text could
break its syntax), and text has query values' control characters escaped so that data
cannot drive the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlsentinel.config import Alert, Config
from sqlsentinel.config.messages import printable
from sqlsentinel.durations import format_duration
from sqlsentinel.models import JsonValue, Kind, QueryResult
from sqlsentinel.notifications.dispatch import Delivery
from sqlsentinel.notifications.factory import target_of
from sqlsentinel.redact import redact_url, redactor

__all__ = ["ConnectionCheck", "config_summary", "delivery", "execution", "to_json"]


@dataclass(frozen=True)
class ConnectionCheck:
    """The outcome of connecting to one data source."""

    name: str
    server: str | None = None
    error: str | None = None


def to_json(value: Any) -> str:
    """Return ``value`` as indented JSON with every string in it masked."""
    return json.dumps(_masked(value), indent=2, ensure_ascii=False, default=str)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redactor.scrub(value)
    if isinstance(value, dict):
        return {redactor.scrub(str(key)): _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


def channel_summary(alert: Alert) -> str:
    """Describe where an alert notifies, without secrets."""
    parts = []
    for spec in alert.notify:
        target = target_of(spec)
        parts.append(spec.channel if target == spec.channel else f"{spec.channel} to {target}")
    return "; ".join(parts) if parts else "nothing (no notify entries)"


def _when(instant: datetime, alert: Alert) -> str:
    return instant.astimezone(alert.schedule.tz).strftime("%Y-%m-%d %H:%M %Z")


def config_summary(
    config: Config,
    now: datetime,
    *,
    connections: Sequence[ConnectionCheck] = (),
    results: Mapping[str, QueryResult] | None = None,
    runs: int = 3,
    fmt: str = "text",
) -> str:
    """Summarise a valid config; with ``connections``/``results``, also the connect check."""
    if fmt == "json":
        return to_json(_summary_json(config, now, connections, results, runs))
    enabled = len(config.enabled_alerts)
    sources = len(config.data_sources)
    lines = [
        f"{config.source or 'The config'} is valid: {_count(len(config.alerts), 'alert')} "
        f"({enabled} enabled), {_count(sources, 'data source')}.",
        "",
        "Data sources",
    ]
    width = max((len(name) for name in config.data_sources), default=0)
    for name, source in config.data_sources.items():
        lines.append(f"  {name:<{width}}  {redact_url(source.url)}")
    lines += ["", "Alerts"]
    for alert in config.alerts:
        state = "enabled" if alert.enabled else "disabled"
        lines.append(f"  {alert.name}  [{state}, {alert.severity}, database {alert.database}]")
        lines.append(f"    schedule  {alert.schedule.expression}  ({alert.timezone})")
        if alert.enabled:
            upcoming = alert.schedule.next_runs(now, runs)
            lines.append(f"    next      {', '.join(_when(run, alert) for run in upcoming)}")
        lines.append(
            f"    policy    timeout {format_duration(alert.timeout)}, cooldown "
            f"{format_duration(alert.cooldown)}, grace {format_duration(alert.misfire_grace)}"
        )
        lines.append(f"    notify    {channel_summary(alert)}")
    if connections:
        lines += ["", "Connections"]
        for item in connections:
            outcome = (
                f"connected ({item.server})" if item.error is None else f"FAILED: {item.error}"
            )
            lines.append(f"  {item.name:<{width}}  {outcome}")
    if results is not None:
        lines += ["", "Queries (read-only, rolled back)"]
        name_width = max((len(alert.name) for alert in config.enabled_alerts), default=0)
        for alert in config.enabled_alerts:
            result = results.get(alert.name)
            outcome = _one_line(result) if result is not None else _not_run(alert)
            lines.append(f"  {alert.name:<{name_width}}  {outcome}")
    return "\n".join(lines)


def _not_run(alert: Alert) -> str:
    return f"not run: data source '{alert.database}' could not be reached"


def _one_line(result: QueryResult) -> str:
    if result.error is not None:
        return f"{result.status:<7} {result.error}"
    values = ""
    if result.actual_value is not None or result.threshold is not None:
        values = f"actual {_show(result.actual_value)} / threshold {_show(result.threshold)}  "
    return f"{result.status:<7} {values}({result.duration_ms} ms)"


def _summary_json(
    config: Config,
    now: datetime,
    connections: Sequence[ConnectionCheck],
    results: Mapping[str, QueryResult] | None,
    runs: int,
) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {
        "config": config.source,
        "valid": True,
        "data_sources": [
            {"name": name, "url": redact_url(source.url)}
            for name, source in config.data_sources.items()
        ],
        "alerts": [
            {
                "name": alert.name,
                "enabled": alert.enabled,
                "schedule": alert.schedule.expression,
                "timezone": alert.timezone,
                "database": alert.database,
                "severity": alert.severity.value,
                "next_runs": [
                    run.isoformat().replace("+00:00", "Z")
                    for run in (alert.schedule.next_runs(now, runs) if alert.enabled else [])
                ],
                "notify": [channel.channel for channel in alert.notify],
            }
            for alert in config.alerts
        ],
    }
    if connections:
        out["connections"] = [
            {"name": c.name, "ok": c.error is None, "server": c.server, "error": c.error}
            for c in connections
        ]
    if results is not None:
        out["queries"] = {name: result.to_dict() for name, result in results.items()}
        out["not_run"] = {
            alert.name: _not_run(alert)
            for alert in config.enabled_alerts
            if alert.name not in results
        }
    return out


def execution(
    alert: Alert,
    result: QueryResult,
    *,
    started_at: datetime,
    dry_run: bool = False,
    kind: Kind | None = None,
    delivery: Delivery | None = None,
    fmt: str = "text",
) -> str:
    """Describe one alert run and what it notified."""
    if fmt == "json":
        return to_json(
            {
                "alert": alert.name,
                "database": alert.database,
                "started_at": started_at.isoformat().replace("+00:00", "Z"),
                "dry_run": dry_run,
                **result.to_dict(),
                "notification": kind.value if kind is not None else None,
                "notifications": delivery.to_list() if delivery is not None else [],
            }
        )
    rows = [("alert", alert.name), ("status", result.status.value)]
    if result.error is not None:
        rows.append(("error", result.error))
    else:
        rows += [("actual", _show(result.actual_value)), ("threshold", _show(result.threshold))]
        for index, (key, value) in enumerate(result.context.items()):
            rows.append(("context" if index == 0 else "", f"{key}: {_show(value)}"))
    rows += [("duration", f"{result.duration_ms} ms"), ("database", alert.database)]
    if kind is None:
        reason = "an OK result needs none" if not result.status.failed else "notify_on_error is off"
        rows.append(("notify", f"nothing: {reason}"))
    elif not alert.notify:
        rows.append(("notify", f"nothing: a {kind.value} notification, but no notify entries"))
    if dry_run:
        rows.append(("dry run", "nothing was sent and nothing was recorded"))
    text = "\n".join(f"{label:<10} {value}".rstrip() for label, value in rows)
    if delivery is not None:
        text += "\n" + _delivery_text(delivery)
    return text


def delivery(alert: Alert, sent: Delivery, *, fmt: str = "text") -> str:
    """Describe a notification sent outside a run (``notify-test``)."""
    if fmt == "json":
        return to_json({"alert": alert.name, "notifications": sent.to_list()})
    return _delivery_text(sent)


def _delivery_text(sent: Delivery) -> str:
    if sent.previews:
        lines = [f"would send {sent.kind.value} through {_count(len(sent.previews), 'channel')}:"]
        for preview in sent.previews:
            lines += ["", f"--- {preview.channel} to {preview.target} ---"]
            lines.append(
                preview.rendered.rstrip()
                if preview.error is None
                else f"CANNOT BE SENT: {preview.error}"
            )
        return "\n".join(lines)
    lines = []
    for index, outcome in enumerate(sent.outcomes):
        attempts = _count(outcome.attempts, "attempt")
        if outcome.ok:
            what = f"{outcome.kind.value} delivered ({attempts})"
        else:
            what = f"{outcome.kind.value} NOT delivered after {attempts}: {outcome.error}"
        label = "notified" if index == 0 else ""
        lines.append(f"{label:<10} {outcome.channel} to {outcome.target}: {what}")
    return "\n".join(lines)


def _show(value: JsonValue) -> str:
    """Return a query value for a text table: one line, no terminal control characters."""
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return printable(str(value))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
