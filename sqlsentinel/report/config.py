"""Report on a config: its data sources, alerts, schedules, and the ``--connect`` check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlsentinel.config import Alert, Config
from sqlsentinel.durations import format_duration
from sqlsentinel.models import JsonValue, QueryResult
from sqlsentinel.notifications.factory import target_of
from sqlsentinel.redact import redact_url
from sqlsentinel.report.text import count as _count
from sqlsentinel.report.text import show as _show
from sqlsentinel.report.text import to_json

__all__ = ["ConnectionCheck", "channel_summary", "config_summary"]


@dataclass(frozen=True)
class ConnectionCheck:
    """The outcome of connecting to one data source."""

    name: str
    server: str | None = None
    error: str | None = None


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
