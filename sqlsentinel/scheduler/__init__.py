"""Decide when alerts run: cron schedules in timezones, evaluated at an instant passed in.

The names are imported on first use: :mod:`sqlsentinel.scheduler.fastpath` lives in this
package and must answer "nothing is due" without loading croniter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlsentinel.scheduler.cron import CronSchedule, load_timezone, validate_cron
    from sqlsentinel.scheduler.due import Due, Missed, Plan, in_grace, plan

__all__ = [
    "CronSchedule",
    "Due",
    "Missed",
    "Plan",
    "in_grace",
    "load_timezone",
    "plan",
    "validate_cron",
]

_LAZY = {
    "CronSchedule": "sqlsentinel.scheduler.cron",
    "load_timezone": "sqlsentinel.scheduler.cron",
    "validate_cron": "sqlsentinel.scheduler.cron",
    "Due": "sqlsentinel.scheduler.due",
    "Missed": "sqlsentinel.scheduler.due",
    "Plan": "sqlsentinel.scheduler.due",
    "in_grace": "sqlsentinel.scheduler.due",
    "plan": "sqlsentinel.scheduler.due",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sqlsentinel.scheduler' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
