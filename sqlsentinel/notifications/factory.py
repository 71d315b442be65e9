"""Build an alert's channels from its ``notify`` entries, importing each channel's module lazily.

Each channel module exposes ``create(spec, settings, environ) -> Notifier`` and raises
:class:`~sqlsentinel.errors.ConfigError` when a setting it needs is missing (no SMTP host,
no Slack webhook URL, no boto3). The factory turns that into an
:class:`~sqlsentinel.notifications.base.Unavailable` channel, so that a run still records a
failed outcome for it, while :func:`check_channels` turns it into a config error for
``sqlsentinel test``.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, cast

from sqlsentinel.errors import ConfigError, ConfigProblem
from sqlsentinel.notifications.base import Notifier, Unavailable
from sqlsentinel.redact import redact_url

if TYPE_CHECKING:
    from sqlsentinel.config import Alert, Config
    from sqlsentinel.config.schema import Channel, NotificationSettings

__all__ = ["build_notifiers", "check_channels", "entry_ids", "target_of"]

_MODULES = {
    "email": "sqlsentinel.notifications.email",
    "slack": "sqlsentinel.notifications.slack",
    "webhook": "sqlsentinel.notifications.webhook",
    "ses": "sqlsentinel.notifications.ses",
    "sns": "sqlsentinel.notifications.sns",
}


class _ChannelModule(Protocol):
    def create(
        self, spec: Channel, settings: NotificationSettings, environ: Mapping[str, str]
    ) -> Notifier: ...


def _create(spec: Channel, settings: NotificationSettings, environ: Mapping[str, str]) -> Notifier:
    module = cast(_ChannelModule, importlib.import_module(_MODULES[spec.channel]))
    try:
        return module.create(spec, settings, environ)
    except ConfigError as exc:
        return Unavailable(spec.channel, target_of(spec), str(exc))


def target_of(spec: Channel) -> str:
    """Return where a ``notify`` entry delivers, for people and logs, without secrets.

    The recipients (email, SES), the topic ARN (SNS), or the URL (webhook, Slack) with its
    credentials, the path after its first segment and the whole query masked — a Slack
    webhook's path and an Azure Function's ``?code=`` are the secret. A Slack entry whose URL
    comes from the settings or the environment says ``slack`` unless its notifier passes
    the entry with that URL filled in. Every channel's ``target`` is this function's answer,
    so a run, a dry run and ``sqlsentinel test`` name a channel the same way.
    """
    recipients = getattr(spec, "recipients", None)
    if recipients:
        return ", ".join(recipients)
    if spec.channel == "sns":
        return str(getattr(spec, "topic_arn", "sns"))
    url = getattr(spec, "url", None) or getattr(spec, "webhook_url", None)
    return redact_url(url, hide_path=True) if url else spec.channel


def build_notifiers(
    alert: Alert, settings: NotificationSettings, environ: Mapping[str, str]
) -> list[Notifier]:
    """Return one notifier per ``notify`` entry of ``alert``, in order.

    ``environ`` supplies the ``SMTP_*``/``SLACK_WEBHOOK_URL`` fallbacks (``os.environ`` from
    the command line; the Lambda handler passes its own).
    """
    return [_create(spec, settings, environ) for spec in alert.notify]


def entry_ids(alert: Alert) -> list[str]:
    """Return a stable id for each ``notify`` entry of ``alert``, in order.

    ``<channel>:<digest of where it delivers>``, so that an id survives reordering the
    entries and a notification still owed to a channel finds it on the next run; identical
    entries get ``#2``, ``#3``. Ids hold no secret (they are recorded in the state database).
    """
    ids: list[str] = []
    for spec in alert.notify:
        digest = hashlib.sha256(f"{spec.channel}|{target_of(spec)}".encode()).hexdigest()[:10]
        base = f"{spec.channel}:{digest}"
        count = sum(1 for existing in ids if existing.split("#")[0] == base)
        ids.append(base if count == 0 else f"{base}#{count + 1}")
    return ids


def check_channels(config: Config, environ: Mapping[str, str]) -> None:
    """Raise ``ConfigError`` naming every enabled alert's channel that could not send."""
    problems = []
    for alert in config.enabled_alerts:
        for index, notifier in enumerate(build_notifiers(alert, config.notifications, environ)):
            if isinstance(notifier, Unavailable):
                problems.append(
                    ConfigProblem(
                        f"the {notifier.channel} channel cannot send: {notifier.reason}",
                        config.source,
                        alert.notify_lines[index] if alert.notify_lines else alert.line,
                        alert.name,
                        f"notify[{index}]",
                    )
                )
    if problems:
        raise ConfigError(problems)
