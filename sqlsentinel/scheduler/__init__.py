"""Decide when alerts run: cron schedules in timezones, evaluated at an instant passed in."""

from __future__ import annotations

from sqlsentinel.scheduler.cron import CronSchedule, load_timezone, validate_cron

__all__ = ["CronSchedule", "load_timezone", "validate_cron"]
