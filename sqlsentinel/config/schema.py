"""Describe what a config file may contain, as pydantic models that reject unknown keys.

These models are the file's grammar: every key, its type, and a validator that explains a bad
value in a sentence. They accept the public SQL Sentinel format unchanged and add our
extensions. Policy fields an alert leaves out stay ``None`` here; ``config.model`` resolves
them against ``defaults:`` into the :class:`~sqlsentinel.config.model.Alert` the rest of the
package uses.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parseaddr
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sqlsentinel.database.engines import dialect_and_driver, unsupported
from sqlsentinel.durations import format_duration, parse_duration
from sqlsentinel.models import EmptyResult, Severity
from sqlsentinel.notifications.templates import placeholders
from sqlsentinel.scheduler.cron import load_timezone, validate_cron

CHANNEL_TYPES = ("email", "slack", "webhook", "ses", "sns")
_DATABASE_SCHEME = re.compile(r"^[A-Za-z][\w.-]*(?:\+[\w.-]+)?://")
MAX_TIMEOUT = timedelta(hours=6)
HTTP_URL = re.compile(r"^https?://[^\s/?#]+", re.I)
"""An http(s) URL with a host: what the webhook and Slack channels can send to."""
_ALERT_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


class _Spec(BaseModel):
    """Reject unknown keys and freeze the result.

    Fields that can hold secrets (URLs, passwords, headers) are left out of ``repr()``, so
    that logging a config object can never print them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _duration(value: object) -> timedelta:
    return parse_duration(value)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0 seconds")
    return value


def _bounded_timeout(value: timedelta) -> timedelta:
    if value > MAX_TIMEOUT:
        raise ValueError(
            f"must be at most {format_duration(MAX_TIMEOUT)}; a query that runs longer is a "
            "batch job: schedule it elsewhere and alert on its result"
        )
    return value


def _not_bool(value: object) -> object:
    # pydantic would read ``true`` as 1; in a count it is a typo, not a number
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number, not {'true' if value else 'false'}")
    return value


def _database_url(value: str) -> str:
    """Accept the URL of a database sqlsentinel can keep read-only, with its one driver."""
    value = value.strip()
    if _DATABASE_SCHEME.match(value) is None:
        raise ValueError(
            "is not a database URL; write it as dialect://user:password@host:port/database, "
            "for example postgresql://alerts@db.internal/analytics or sqlite:///data.db"
        )
    problem = unsupported(*dialect_and_driver(value))
    if problem is not None:
        raise ValueError(problem)
    return value


def _template(value: str) -> str:
    placeholders(value)
    return value


def _cron(value: object) -> str:
    return validate_cron(value)


def _timezone(value: object) -> str:
    load_timezone(value)
    return str(value)


def _http_url(value: str) -> str:
    if not HTTP_URL.match(value):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _email_address(value: str) -> str:
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        # a line break in an address would let a value add headers (Bcc:) to the message
        raise ValueError(f"{value!r} is not an email address: it contains a control character")
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if not local or not domain or " " in address or address.count("@") != 1:
        raise ValueError(f"'{value}' is not an email address")
    return value


def _one_or_many(value: object) -> object:
    """Accept ``recipients: a@example.com`` and ``recipients: "a@x.com, b@x.com"`` too."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _label_value(value: object) -> object:
    # Labels are strings in every receiver; ``team: 7`` in YAML means the label "7".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
Timeout = Annotated[PositiveDuration, AfterValidator(_bounded_timeout)]
Count = Annotated[int, BeforeValidator(_not_bool), Field(ge=1)]
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
Template = Annotated[str, AfterValidator(_template)]
Cron = Annotated[str, BeforeValidator(_cron)]
Timezone = Annotated[str, AfterValidator(_timezone)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
EmailAddress = Annotated[str, AfterValidator(_email_address)]
Recipients = Annotated[list[EmailAddress], BeforeValidator(_one_or_many), Field(min_length=1)]
Labels = dict[str, Annotated[str, BeforeValidator(_label_value)]]


class DataSourceSpec(_Spec):
    """A database alerts query; ``database: "sqlite:///x.db"`` is short for ``{url: ...}``."""

    url: DatabaseUrl = Field(repr=False)
    max_connections: Annotated[int, Field(ge=1, le=100)] = 5
    """How many of a tick's alerts may query this database at once."""

    @model_validator(mode="before")
    @classmethod
    def _url_shorthand(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data


class StateSpec(_Spec):
    """Where the ``sqlsentinel_*`` tables live, and how long history is kept."""

    url: DatabaseUrl | None = Field(default=None, repr=False)
    history_retention: PositiveDuration = timedelta(days=90)

    @model_validator(mode="before")
    @classmethod
    def _url_shorthand(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data


class EmailChannel(_Spec):
    """Send an email through the SMTP server in ``notifications.email``."""

    channel: Literal["email"]
    recipients: Recipients
    subject: Template | None = None
    body: Template | None = None


class SlackChannel(_Spec):
    """Post to a Slack incoming webhook (or anything that speaks its payload)."""

    channel: Literal["slack"]
    webhook_url: HttpUrl | None = Field(
        default=None, validation_alias=AliasChoices("webhook_url", "webhook"), repr=False
    )
    slack_channel: str | None = None
    username: str | None = None


class WebhookChannel(_Spec):
    """Send the notification as JSON to any HTTP endpoint."""

    channel: Literal["webhook"]
    url: HttpUrl = Field(repr=False)
    method: Literal["POST", "PUT", "PATCH", "GET"] = "POST"
    headers: dict[str, Annotated[str, BeforeValidator(_label_value)]] = Field(
        default_factory=dict, repr=False
    )
    secret: str | None = Field(default=None, repr=False)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class SesChannel(_Spec):
    """Send an email through Amazon SES (needs ``pip install 'sqlsentinel[aws]'``)."""

    channel: Literal["ses"]
    recipients: Recipients
    from_address: EmailAddress | None = None
    subject: Template | None = None
    body: Template | None = None
    region: str | None = None


class SnsChannel(_Spec):
    """Publish to an Amazon SNS topic (needs ``pip install 'sqlsentinel[aws]'``)."""

    channel: Literal["sns"]
    topic_arn: Annotated[str, Field(pattern=r"^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w.-]+$")]
    subject: Template | None = None
    region: str | None = None


Channel = Annotated[
    EmailChannel | SlackChannel | WebhookChannel | SesChannel | SnsChannel,
    Field(discriminator="channel"),
]


class Policy(_Spec):
    """Per-alert policy; every field here can also be set once in ``defaults:``."""

    database: str | None = None
    timezone: Timezone | None = None
    timeout: Timeout | None = None
    cooldown: Duration | None = None
    min_consecutive: Count | None = None
    misfire_grace: PositiveDuration | None = None
    notify_on_recovery: bool | None = None
    notify_on_error: bool | None = None
    severity: Severity | None = None
    labels: Labels | None = None
    runbook_url: HttpUrl | None = None
    empty_result: EmptyResult | None = None
    notify: list[Channel] | None = None

    @field_validator("severity", "empty_result", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class DefaultsSpec(Policy):
    """Policy applied to every alert that does not set the field itself."""


class AlertSpec(Policy):
    """One alert: a query that returns ``status`` = 'ALERT' or 'OK', on a schedule."""

    name: str
    description: str | None = None
    enabled: bool = True
    query: str
    schedule: Cron

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        if value != value.strip() or not _ALERT_NAME.match(value):
            raise ValueError(
                "must be 1-200 printable characters without leading or trailing spaces"
            )
        return value

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is empty; write the SELECT that returns the status column")
        return value.strip()


class SmtpSettings(_Spec):
    """SMTP server for the email channel; unset fields fall back to ``SMTP_*`` variables."""

    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    from_address: EmailAddress | None = None
    security: Literal["starttls", "ssl", "none"] | None = None
    timeout: PositiveDuration | None = None
    ca_file: str | None = None


class SlackSettings(_Spec):
    """Fallbacks for slack entries that do not name their own webhook."""

    webhook_url: HttpUrl | None = Field(default=None, repr=False)
    username: str | None = None


class HttpSettings(_Spec):
    """How long the HTTP-based channels (Slack, webhook, SES, SNS) wait for an answer."""

    timeout: PositiveDuration = timedelta(seconds=10)


class RetrySettings(_Spec):
    """How often a transient delivery failure is retried, and how long to wait in between."""

    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    backoff: Duration = timedelta(seconds=1)


class NotificationSettings(_Spec):
    """Settings shared by every alert's channels."""

    email: SmtpSettings = Field(default_factory=SmtpSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)


class ConfigFile(_Spec):
    """The whole file: data sources, state, defaults, notification settings and alerts."""

    database: DataSourceSpec | None = None
    databases: dict[str, DataSourceSpec] = Field(default_factory=dict)
    state: StateSpec = Field(default_factory=StateSpec)
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    alerts: Annotated[list[AlertSpec], Field(min_length=1)]
