"""Report on the state database: ``history`` (with a sparkline per alert) and ``status``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlsentinel.config import Alert
from sqlsentinel.executor.history import Execution, utc_text
from sqlsentinel.models import AlertState, JsonValue
from sqlsentinel.report.text import show, to_json

__all__ = ["history", "sparkline", "status"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], threshold: float | None) -> str:
    """Return values (oldest first) as block characters, and where the threshold sits.

    ``▁▂▄▇█  8420.5 → 12000, threshold 10000 at ▆``: people see a trend against the line
    faster than they read a column of numbers. One scale covers the values and the
    threshold, so the threshold's block is comparable with the bars.
    """
    if not values:
        return ""
    scale = [*values, *([threshold] if threshold is not None else [])]
    low, high = min(scale), max(scale)

    def bar(value: float) -> str:
        if high == low:
            return _BARS[len(_BARS) // 2]
        return _BARS[round((value - low) / (high - low) * (len(_BARS) - 1))]

    line = "".join(bar(value) for value in values)
    text = f"{line}  {values[0]:g} → {values[-1]:g}"
    if threshold is not None:
        text += f", threshold {threshold:g} at {bar(threshold)}"
    return text


def _number(value: JsonValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def history(runs: Sequence[Execution], *, fmt: str = "text") -> str:
    """Describe runs, newest first: a table, then a sparkline per alert."""
    if fmt == "json":
        return to_json([run.to_dict() for run in runs])
    if not runs:
        return "no runs recorded yet"
    header = ("started (UTC)", "alert", "slot", "by", "try", "status", "value / threshold", "ms")
    rows = [header]
    for run in runs:
        rows.append(
            (
                (utc_text(run.started_at) or "")[:19].replace("T", " "),
                run.alert,
                (utc_text(run.slot) or "-")[:16].replace("T", " "),
                run.triggered_by.value,
                str(run.attempt),
                run.status,
                f"{show(run.actual_value)} / {show(run.threshold)}",
                str(run.duration_ms),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    for run in runs:
        notes = _notes(run)
        if notes:
            lines.append(f"  {run.alert} {utc_text(run.started_at)}: {notes}")
    lines += ["", *_sparklines(runs)]
    return "\n".join(line.rstrip() for line in lines).rstrip()


def _notes(run: Execution) -> str:
    parts = []
    if run.error:
        parts.append(show(run.error))
    sent = [
        f"{n.get('channel')} {n.get('kind')} {'delivered' if n.get('ok') else 'NOT delivered'}"
        for n in run.notifications
    ]
    if sent:
        parts.append(", ".join(sent))
    if run.coalesced:
        parts.append(f"stood for {run.coalesced} earlier slot(s)")
    return "; ".join(parts)


def _sparklines(runs: Sequence[Execution]) -> list[str]:
    by_alert: dict[str, list[Execution]] = {}
    for run in reversed(runs):  # oldest first
        by_alert.setdefault(run.alert, []).append(run)
    lines = []
    width = max(len(name) for name in by_alert)
    for name, alert_runs in by_alert.items():
        values = [v for v in (_number(run.actual_value) for run in alert_runs) if v is not None]
        if len(values) < 2:
            continue
        thresholds = [_number(run.threshold) for run in alert_runs]
        threshold = next((t for t in reversed(thresholds) if t is not None), None)
        lines.append(f"{name:<{width}}  {sparkline(values, threshold)}")
    return lines


def status(
    alerts: Sequence[Alert],
    states: Mapping[str, AlertState],
    now: datetime,
    *,
    fmt: str = "text",
) -> str:
    """Describe each alert's state: last run, counts, notifications, silence, next run."""
    items = [_status_item(alert, states.get(alert.name), now) for alert in alerts]
    if fmt == "json":
        return to_json(items)
    lines = []
    for item in items:
        lines.append(f"{item['alert']}  [{item['state']}]")
        lines.append(f"  last run      {item['last_run'] or 'never'}")
        lines.append(
            f"  in a row      {item['consecutive_alerts']} ALERT, {item['consecutive_oks']} OK, "
            f"{item['consecutive_errors']} failed"
        )
        last = item["last_notification"]
        lines.append(f"  notified      {last or 'never'}")
        lines.append(f"  next run      {item['next_run'] or '-'}")
        if item["silenced_until"]:
            reason = f" ({show(item['silence_reason'])})" if item["silence_reason"] else ""
            lines.append(f"  silenced      until {item['silenced_until']}{reason}")
        if item["pending"]:
            lines.append(f"  owed          {item['pending']}")
    return "\n".join(lines)


def _status_item(alert: Alert, state: AlertState | None, now: datetime) -> dict[str, JsonValue]:
    state = state or AlertState(alert.name)
    if not alert.enabled:
        label = "disabled"
    elif state.last_status is None:
        label = "never ran"
    else:
        label = state.last_status.value
    silenced = state.silenced(now)
    last = None
    if state.last_notified_at is not None:
        kind = state.last_notified_kind.value if state.last_notified_kind else "notified"
        last = f"{kind} at {utc_text(state.last_notified_at)}"
    pending = None
    if state.pending is not None:
        owed = state.pending
        pending = f"{owed.kind.value} of {utc_text(owed.slot)} to {len(owed.entries)} channel(s)"
    return {
        "alert": alert.name,
        "state": label + (", silenced" if silenced else ""),
        "last_run": utc_text(state.last_run_at),
        "consecutive_alerts": state.consecutive_alerts,
        "consecutive_oks": state.consecutive_oks,
        "consecutive_errors": state.consecutive_errors,
        "last_notification": last,
        "next_run": utc_text(alert.schedule.next_after(now)) if alert.enabled else None,
        "silenced_until": utc_text(state.silenced_until) if silenced else None,
        "silence_reason": state.silence_reason if silenced else None,
        "pending": pending,
    }
