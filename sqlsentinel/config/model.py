"""Hold a loaded config as the rest of sqlsentinel sees it: every policy resolved, nothing optional.

:func:`resolve` applies ``defaults:`` and the built-in defaults to each alert, names the data
sources, and checks what one key cannot check alone: unique alert names, ``database:``
references that exist.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from sqlsentinel.config.messages import printable
from sqlsentinel.config.schema import (
    Channel,
    ConfigFile,
    NotificationSettings,
    Policy,
    WebhookChannel,
)
from sqlsentinel.config.secrets import header_secrets, url_secrets
from sqlsentinel.durations import format_duration
from sqlsentinel.errors import ConfigError, ConfigProblem
from sqlsentinel.models import EmptyResult, Severity
from sqlsentinel.notifications.templates import STANDARD_FIELDS, unknown_placeholders
from sqlsentinel.scheduler.cron import CronSchedule

__all__ = ["DEFAULT_DATA_SOURCE", "Alert", "Config", "DataSource", "resolve"]

DEFAULT_DATA_SOURCE = "default"
"""The name of the data source given by the top-level ``database:`` key."""

DEFAULT_TIMEZONE = "UTC"

_NO_DATABASE = (
    "there is no database to query; add a top-level 'database:' with the url of the data, "
    "for example 'database: {url: \"sqlite:///data.db\"}'"
)
_WHICH_DATABASE = (
    "does not say which database to query; set 'database:' on the alert or in 'defaults:' to "
    "one of the names under 'databases:'"
)

Locate = Callable[[tuple[Any, ...]], int | None]


@dataclass(frozen=True)
class DataSource:
    """A named database that alert queries run against."""

    name: str
    url: str = field(repr=False)
    max_connections: int = 5


@dataclass(frozen=True)
class Alert:
    """One alert with its policy fully resolved."""

    name: str
    query: str
    schedule: CronSchedule
    database: str
    description: str | None = None
    enabled: bool = True
    timeout: timedelta = timedelta(seconds=30)
    cooldown: timedelta = timedelta(hours=1)
    min_consecutive: int = 1
    misfire_grace: timedelta = timedelta(minutes=5)
    notify_on_recovery: bool = True
    notify_on_error: bool = True
    severity: Severity = Severity.WARNING
    labels: Mapping[str, str] = field(default_factory=dict)
    runbook_url: str | None = None
    empty_result: EmptyResult = EmptyResult.ERROR
    notify: tuple[Channel, ...] = ()
    line: int | None = field(default=None, compare=False)
    notify_lines: tuple[int | None, ...] = field(default=(), compare=False, repr=False)

    @property
    def timezone(self) -> str:
        """Return the IANA timezone the schedule is read in."""
        return self.schedule.timezone

    def definition(self) -> dict[str, Any]:
        """Return what defines this alert's behaviour, without secrets (channels by entry id).

        Stored once per :attr:`config_hash` in ``sqlsentinel_configs``.
        """
        from sqlsentinel.notifications.factory import entry_ids

        return {
            "name": self.name,
            "query": self.query,
            "schedule": self.schedule.expression,
            "timezone": self.timezone,
            "database": self.database,
            "enabled": self.enabled,
            "timeout": format_duration(self.timeout),
            "cooldown": format_duration(self.cooldown),
            "min_consecutive": self.min_consecutive,
            "misfire_grace": format_duration(self.misfire_grace),
            "notify_on_recovery": self.notify_on_recovery,
            "notify_on_error": self.notify_on_error,
            "severity": self.severity.value,
            "labels": dict(self.labels),
            "runbook_url": self.runbook_url,
            "empty_result": self.empty_result.value,
            "notify": entry_ids(self),
        }

    @functools.cached_property
    def config_hash(self) -> str:
        """Return the SHA-256 of :meth:`definition`: which version of the alert ran."""
        text = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


# The built-in policy is the Alert dataclass's own defaults, so the two cannot drift apart.
_BUILTIN_POLICY: Mapping[str, Any] = MappingProxyType(
    {"timezone": DEFAULT_TIMEZONE}
    | {
        item.name: item.default
        for item in fields(Alert)
        if item.name in Policy.model_fields and item.default is not MISSING
    }
)


@dataclass(frozen=True)
class Config:
    """A validated config: data sources, state location, notification settings, alerts."""

    alerts: tuple[Alert, ...]
    data_sources: Mapping[str, DataSource]
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    state_url: str | None = field(default=None, repr=False)
    history_retention: timedelta = timedelta(days=90)
    source: str | None = None

    def alert(self, name: str) -> Alert:
        """Return the alert called ``name``, or raise ``ConfigError`` suggesting a close name."""
        for alert in self.alerts:
            if alert.name == name:
                return alert
        names = [alert.name for alert in self.alerts]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        where = f" in {self.source}" if self.source else ""
        raise ConfigError(
            f"there is no alert named '{name}'{where}; {hint}the alerts are: {', '.join(names)}"
        )

    @property
    def enabled_alerts(self) -> tuple[Alert, ...]:
        """Return the alerts that run on their schedule."""
        return tuple(alert for alert in self.alerts if alert.enabled)

    def secrets(self) -> set[str]:
        """Return every secret value in the config, for :data:`sqlsentinel.redact.redactor`."""
        found: set[str | None] = set()
        for source in self.data_sources.values():
            found.update(url_secrets(source.url))
        if self.state_url:
            found.update(url_secrets(self.state_url))
        found.add(self.notifications.email.smtp_password)
        slack_url = self.notifications.slack.webhook_url
        if slack_url:
            found.add(slack_url)
            found.update(url_secrets(slack_url, every_query_value=True))
        for alert in self.alerts:
            for channel in alert.notify:
                if isinstance(channel, WebhookChannel):
                    found.add(channel.secret)
                    # Discord, Teams and many receivers carry the token in the path itself.
                    found.add(channel.url)
                    found.update(url_secrets(channel.url, every_query_value=True))
                    found.update(header_secrets(channel.headers))
                elif channel.channel == "slack" and channel.webhook_url:
                    found.add(channel.webhook_url)
                    found.update(url_secrets(channel.webhook_url, every_query_value=True))
        return {secret for secret in found if secret}


def resolve(spec: ConfigFile, *, source: str | None, locate: Locate) -> Config:
    """Return the :class:`Config` for ``spec``, or raise ``ConfigError`` with every problem.

    ``locate(path)`` gives the YAML line of a path such as ``("alerts", 2, "database")``.
    """
    problems: list[ConfigProblem] = []

    def problem(
        path: tuple[Any, ...], message: str, alert: str | None = None, key: str = ""
    ) -> None:
        message = printable(message)
        problems.append(ConfigProblem(message, source, locate(path), alert, key or None))

    sources: dict[str, DataSource] = {}
    if spec.database is not None:
        sources[DEFAULT_DATA_SOURCE] = DataSource(
            DEFAULT_DATA_SOURCE, spec.database.url, spec.database.max_connections
        )
    for name, data_source in spec.databases.items():
        if name in sources:
            problem(
                ("databases", name),
                "'default' is already the top-level 'database:'; give this one another name",
                key=f"databases.{name}",
            )
            continue
        sources[name] = DataSource(name, data_source.url, data_source.max_connections)

    defaults = spec.defaults
    seen: dict[str, int] = {}
    alerts: list[Alert] = []
    for index, item in enumerate(spec.alerts):
        path = ("alerts", index)
        if item.name in seen:
            first = locate(("alerts", seen[item.name]))
            problem(
                (*path, "name"),
                f"the name is already used by the alert{f' on line {first}' if first else ''}; "
                "alert names must be unique",
                item.name,
                "name",
            )
            continue
        seen[item.name] = index

        policy: dict[str, Any] = {}
        for key, builtin in _BUILTIN_POLICY.items():
            own, shared = getattr(item, key), getattr(defaults, key)
            policy[key] = own if own is not None else shared if shared is not None else builtin
        labels = {**(defaults.labels or {}), **(item.labels or {})}

        database = item.database or defaults.database
        database_path = (*path, "database") if item.database else ("defaults", "database")
        if database is None:
            if len(sources) == 1:
                database = next(iter(sources))
            elif DEFAULT_DATA_SOURCE in sources:
                database = DEFAULT_DATA_SOURCE
            else:
                problem(path, _WHICH_DATABASE if sources else _NO_DATABASE, item.name)
                continue
        elif database not in sources:
            close = difflib.get_close_matches(database, list(sources), n=1)
            inherited = " (set in 'defaults:')" if not item.database else ""
            if close:
                hint = f"; did you mean '{close[0]}'?"
            elif sources:
                hint = f"; the data sources are: {', '.join(sources)}"
            else:
                hint = f"; define it as 'databases: {{{database}: {{url: ...}}}}'"
            problem(
                database_path,
                f"'{database}'{inherited} is not a data source{hint}",
                item.name,
                "database",
            )
            continue

        notify = tuple(policy.pop("notify"))
        notify_path = (*path, "notify") if item.notify is not None else ("defaults", "notify")
        for index, channel in enumerate(notify):
            for key in ("subject", "body"):
                template = getattr(channel, key, None)
                unknown = unknown_placeholders(template, item.query) if template else []
                if unknown:
                    problem(
                        (*notify_path, index, key),
                        f"uses {', '.join('{' + name + '}' for name in unknown)}, which is not "
                        f"a standard placeholder ({', '.join(STANDARD_FIELDS)}) and not a "
                        "column of the query",
                        item.name,
                        f"notify[{index}].{key}",
                    )
        alerts.append(
            Alert(
                name=item.name,
                query=item.query,
                schedule=CronSchedule(item.schedule, policy.pop("timezone")),
                database=database,
                description=item.description,
                enabled=item.enabled,
                labels=MappingProxyType(labels),
                notify=notify,
                line=locate(path),
                notify_lines=tuple(locate((*notify_path, i)) for i in range(len(notify))),
                **policy,
            )
        )

    if problems:
        raise ConfigError(problems)
    return Config(
        alerts=tuple(alerts),
        data_sources=MappingProxyType(sources),
        notifications=spec.notifications,
        state_url=spec.state.url,
        history_retention=spec.state.history_retention,
        source=source,
    )
