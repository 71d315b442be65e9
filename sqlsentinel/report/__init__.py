"""Format what the commands print, as text or JSON; one module per kind of report.

Takes plain values, returns strings. URLs are shown redacted, JSON has every string masked,
and text has query values' control characters escaped so that data cannot drive the
terminal.
"""

from __future__ import annotations

from sqlsentinel.report.config import ConnectionCheck, channel_summary, config_summary
from sqlsentinel.report.runs import delivery, execution, manual_runs, tick_summary
from sqlsentinel.report.text import to_json

__all__ = [
    "ConnectionCheck",
    "channel_summary",
    "config_summary",
    "delivery",
    "execution",
    "manual_runs",
    "tick_summary",
    "to_json",
]
