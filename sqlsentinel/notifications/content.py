"""Write what a notification says — subject, plain text, HTML — for the channels that mail.

Pure. Every value that comes from a query or a config is HTML-escaped in the HTML part;
links are only ever the alert's ``runbook_url``, which the config restricts to http(s).
"""

from __future__ import annotations

import html

from sqlsentinel.models import Kind
from sqlsentinel.notifications.base import Notification, format_value
from sqlsentinel.notifications.templates import placeholders, render

__all__ = ["details", "html_body", "subject", "summary", "text_body"]

TEST_PREFIX = "[TEST] "
TEST_NOTE = "This is a test notification sent by `sqlsentinel notify-test`; the alert did not fire."


def summary(notification: Notification) -> str:
    """Return one line saying what happened: ``daily_revenue_check is FIRING: 8420.5 ...``."""
    alert, result, kind = notification.alert, notification.result, notification.kind
    if kind is Kind.RESOLVED:
        line = f"{alert.name} is RESOLVED: back to OK"
    elif kind is Kind.ERROR:
        line = f"{alert.name} could not be checked ({result.status.value})"
    else:
        line = f"{alert.name} is {kind.headline}"
    if kind is not Kind.ERROR and result.actual_value is not None:
        line += f": {format_value(result.actual_value)}"
        if result.threshold is not None:
            line += f" (threshold {format_value(result.threshold)})"
    return line


def subject(notification: Notification, template: str | None = None) -> str:
    """Return the subject: the alert's template rendered, or ``[KIND] <summary>``.

    A template that does not say the kind itself (no ``{kind}``) gets a ``[KIND]`` prefix for
    every kind but FIRING, so that "Revenue Alert: x" cannot read the same when it resolved.
    """
    kind = notification.kind
    if template:
        text = render(template, notification.fields(), where=f"alert '{notification.alert.name}'")
        if kind is not Kind.FIRING and "kind" not in placeholders(template):
            text = f"[{kind.headline}] {text}"
    else:
        text = f"[{kind.headline}] {summary(notification)}"
    text = " ".join(text.split())  # a header is one line, whatever the template or data held
    return TEST_PREFIX + text if notification.test else text


def details(notification: Notification) -> list[tuple[str, str]]:
    """Return the facts as (label, value) rows, in the order people look for them."""
    alert, result = notification.alert, notification.result
    rows = [
        ("Notification", notification.kind.headline),
        ("Status", result.status.value),
        ("Severity", alert.severity.value),
    ]
    if result.error is not None:
        rows.append(("Error", result.error))
    else:
        rows.append(("Actual value", format_value(result.actual_value) or "-"))
        rows.append(("Threshold", format_value(result.threshold) or "-"))
    rows.append(("Slot", notification.slot_text))
    if alert.labels:
        rows.append(("Labels", ", ".join(f"{k}={v}" for k, v in alert.labels.items())))
    return rows


def _intro(notification: Notification, template: str | None) -> str:
    if template:
        return render(template, notification.fields(), where=f"alert '{notification.alert.name}'")
    lines = [summary(notification)]
    if notification.alert.description:
        lines.append(notification.alert.description)
    return "\n".join(lines)


def text_body(notification: Notification, template: str | None = None) -> str:
    """Return the plain-text body: the intro (or the alert's body template), then the facts."""
    parts = [TEST_NOTE, ""] if notification.test else []
    parts.append(_intro(notification, template))
    rows = details(notification)
    width = max(len(label) for label, _ in rows) + 1
    parts.append("")
    parts += [f"{label + ':':<{width}} {value}" for label, value in rows]
    context = notification.result.context
    if context:
        parts += ["", "Context:"]
        parts += [f"  {name}: {format_value(value)}" for name, value in context.items()]
    if notification.alert.runbook_url:
        parts += ["", f"Runbook: {notification.alert.runbook_url}"]
    parts += ["", f"-- sqlsentinel, {notification.idempotency_key}"]
    return "\n".join(parts) + "\n"


def html_body(notification: Notification, template: str | None = None) -> str:
    """Return the HTML body: the same content as the text, every value escaped."""
    e = html.escape
    cell = 'style="padding:4px 12px 4px 0;text-align:left;vertical-align:top"'
    out = ["<!DOCTYPE html>", '<html><body style="font-family:sans-serif">']
    if notification.test:
        out.append(f"<p><strong>{e(TEST_NOTE)}</strong></p>")
    intro = _intro(notification, template)
    out.append("<p>" + "<br>".join(e(line) for line in intro.splitlines()) + "</p>")
    out.append("<table>")
    out += [
        f"<tr><th {cell}>{e(label)}</th><td {cell}>{e(value)}</td></tr>"
        for label, value in details(notification)
    ]
    out.append("</table>")
    context = notification.result.context
    if context:
        out.append("<h3>Context</h3><table>")
        out += [
            f"<tr><th {cell}>{e(name)}</th><td {cell}>{e(format_value(value))}</td></tr>"
            for name, value in context.items()
        ]
        out.append("</table>")
    runbook = notification.alert.runbook_url
    if runbook:
        out.append(f'<p><a href="{e(runbook, quote=True)}">Open the runbook</a></p>')
    out.append(f'<p style="color:#888">sqlsentinel, {e(notification.idempotency_key)}</p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
