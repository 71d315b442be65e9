"""Report on runs: one alert by hand (``execute``), all by hand (``run``), a ``tick``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlsentinel.config import Alert
from sqlsentinel.executor.history import Execution, utc_text
from sqlsentinel.models import JsonValue
from sqlsentinel.notifications.dispatch import Delivery
from sqlsentinel.report.text import count, show, to_json

if TYPE_CHECKING:
    from sqlsentinel.tick import AlertRun, TickSummary

__all__ = ["delivery", "execution", "manual_runs", "tick_summary"]


def execution(
    alert: Alert,
    run: AlertRun,
    *,
    started_at: datetime,
    dry_run: bool = False,
    fmt: str = "text",
) -> str:
    """Describe one alert run: what the query said, what was decided, what was sent."""
    result = run.result
    if fmt == "json":
        return to_json(
            {
                "alert": alert.name,
                "database": alert.database,
                "started_at": utc_text(started_at),
                "dry_run": dry_run,
                **result.to_dict(),
                "decision": run.reason,
                "notification": ", ".join(d.kind.value for d in run.deliveries) or None,
                "notifications": [item for d in run.deliveries for item in d.to_list()],
            }
        )
    rows = [("alert", alert.name), ("status", result.status.value)]
    if result.error is not None:
        rows.append(("error", show(result.error)))
    else:
        rows += [("actual", show(result.actual_value)), ("threshold", show(result.threshold))]
        for index, (key, value) in enumerate(result.context.items()):
            rows.append(("context" if index == 0 else "", f"{key}: {show(value)}"))
    rows += [("duration", f"{result.duration_ms} ms"), ("database", alert.database)]
    rows.append(("decision", show(run.reason)))
    if not run.deliveries:
        rows.append(("notify", "nothing"))
    elif not alert.notify:
        kinds = ", ".join(d.kind.value for d in run.deliveries)
        rows.append(("notify", f"nothing: a {kinds} notification, but no notify entries"))
    if dry_run:
        rows.append(("dry run", "nothing was sent and nothing was recorded"))
    text = "\n".join(f"{label:<10} {value}".rstrip() for label, value in rows)
    for sent in run.deliveries:
        if sent.outcomes or sent.previews:
            text += "\n" + _delivery_text(sent)
    return text


def delivery(alert: Alert, sent: Delivery, *, fmt: str = "text") -> str:
    """Describe a notification sent outside a run (``notify-test``)."""
    if fmt == "json":
        return to_json({"alert": alert.name, "notifications": sent.to_list()})
    return _delivery_text(sent)


def _delivery_text(sent: Delivery) -> str:
    if sent.previews:
        lines = [f"would send {sent.kind.value} through {count(len(sent.previews), 'channel')}:"]
        for preview in sent.previews:
            lines += ["", f"--- {preview.channel} to {preview.target} ---"]
            lines.append(
                preview.rendered.rstrip()
                if preview.error is None
                else f"CANNOT BE SENT: {show(preview.error)}"
            )
        return "\n".join(lines)
    lines = []
    for index, outcome in enumerate(sent.outcomes):
        attempts = count(outcome.attempts, "attempt")
        if outcome.ok:
            what = f"{outcome.kind.value} delivered ({attempts})"
        else:
            what = f"{outcome.kind.value} NOT delivered after {attempts}: {show(outcome.error)}"
        label = "notified" if index == 0 else ""
        lines.append(f"{label:<10} {outcome.channel} to {outcome.target}: {what}")
    return "\n".join(lines)


def _run_line(run: Execution, width: int) -> str:
    values = ""
    if run.actual_value is not None or run.threshold is not None:
        values = f"  {show(run.actual_value)} / {show(run.threshold)}"
    sent = [
        f"{n.get('channel')} {n.get('kind')} {'delivered' if n.get('ok') else 'FAILED'}"
        for n in run.notifications
    ]
    notes = show(run.error or run.decision or "")
    if sent:
        notes += f" -> {', '.join(sent)}"
    return f"  {run.alert:<{width}}  {run.status:<7}{values}  {notes}".rstrip()


def tick_summary(summary: TickSummary, now: datetime, *, fmt: str = "text") -> str:
    """Describe a tick that did the work (the fast path prints its own line, see ``tick``)."""
    if fmt == "json":
        return to_json(
            {
                "now": utc_text(now),
                **summary.to_dict(),
                "runs": [_run_json(r) for r in summary.runs],
            }
        )
    head = (
        f"tick at {utc_text(now)}: {summary.due} due, {summary.claimed} claimed, "
        f"{summary.ran} ran ({summary.fired} firing, {summary.errors} failed), "
        f"{summary.notified} notification{'' if summary.notified == 1 else 's'} delivered"
    )
    extras = [
        f"{value} {label}"
        for value, label in (
            (summary.undelivered, "NOT delivered"),
            (summary.missed, "missed"),
            (summary.deferred, "left for the next tick (deadline)"),
            (summary.refused, "late writes refused"),
        )
        if value
    ]
    lines = [
        head + (", " + ", ".join(extras) if extras else "") + f" ({summary.duration * 1000:.0f} ms)"
    ]
    width = max((len(run.alert) for run in summary.runs), default=0)
    lines += [_run_line(run, width) for run in summary.runs]
    return "\n".join(lines)


def manual_runs(runs: Sequence[Execution], now: datetime, *, fmt: str = "text") -> str:
    """Describe ``run``: every enabled alert, run by hand."""
    if fmt == "json":
        return to_json({"now": utc_text(now), "runs": [_run_json(r) for r in runs]})
    width = max((len(run.alert) for run in runs), default=0)
    head = f"ran {count(len(runs), 'alert')} at {utc_text(now)}"
    return "\n".join([head, *(_run_line(run, width) for run in runs)])


def _run_json(run: Execution) -> dict[str, JsonValue]:
    return {**run.to_dict(), "decision": run.decision, "coalesced": run.coalesced}
