"""Post a notification to a Slack incoming webhook as Block Kit, data escaped so it stays data.

Settings, in the order they are looked up:

* the URL: the entry's ``webhook_url``, else ``notifications.slack.webhook_url``, else the
  ``SLACK_WEBHOOK_URL`` environment variable. Any http(s) URL is accepted — proxies and
  Slack-compatible receivers (Mattermost, Rocket.Chat) take the same payload.
* ``username``: the entry's, else ``notifications.slack.username``. ``slack_channel``
  overrides the webhook's channel. (Webhooks of Slack apps ignore both; legacy webhooks and
  most compatible receivers honour them.)
* the timeout: ``notifications.http.timeout``.

The message: a header (``[FIRING] <alert>``), the summary and description, the facts as fields
(status, severity, actual value, threshold, slot), the context columns as fields (ten per
section, as Slack allows; past fifty a note says how many were left out), a note on test
notifications, a "Runbook" button, and a footer with the idempotency key — plus ``text``,
the summary, which Slack shows in notifications and clients without Block Kit.

Every value that comes from a query or a config is escaped the way Slack asks (``&``, ``<``,
``>`` as ``&amp;`` ``&lt;`` ``&gt;``) and sent ``verbatim``, so that a value such as
``<!channel>`` or ``<https://evil|click>`` shows as typed and never becomes a mention or a
link. Texts are clipped to Slack's limits (header 150, section 3000, field 2000 characters)
instead of having the whole message rejected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlsentinel.config.schema import HTTP_URL
from sqlsentinel.config.secrets import url_secrets
from sqlsentinel.errors import ConfigError
from sqlsentinel.notifications import content, http
from sqlsentinel.notifications.base import Notification, format_value
from sqlsentinel.notifications.factory import target_of
from sqlsentinel.redact import redactor

if TYPE_CHECKING:
    from sqlsentinel.config.schema import NotificationSettings, SlackChannel

__all__ = ["SlackNotifier", "create", "escape", "payload"]

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
FIELDS_PER_SECTION = 10
SUMMARY_LIMIT = 500
LABEL_LIMIT = 200
MAX_CONTEXT_FIELDS = 50
"""Context columns shown; a message holds at most 50 blocks and people read far fewer."""

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

# Slack's own error names (the body of a 4xx), with what to do about each.
_SLACK_ERRORS = {
    "invalid_payload": "the receiver could not read the message; if it is not Slack, check "
    "that it accepts Slack's Block Kit payload",
    "no_service": "the webhook was revoked or its app removed; create a new incoming webhook "
    "and update the URL",
    "no_team": "the Slack workspace of this webhook no longer exists; update the URL",
    "team_disabled": "the Slack workspace of this webhook is disabled; update the URL",
    "channel_not_found": "the channel does not exist or the webhook cannot post to it; check "
    "'slack_channel' or the webhook's channel",
    "channel_is_archived": "the webhook's channel is archived; unarchive it or use another webhook",
    "action_prohibited": "a Slack admin restricts posting to this channel; ask them or use "
    "another channel",
    "posting_to_general_channel_denied": "only admins may post to this channel; use another "
    "channel",
    "invalid_token": "the webhook URL is not valid; copy it again from Slack",
}


def escape(text: str) -> str:
    """Return ``text`` with Slack's control characters as entities (``&`` ``<`` ``>``)."""
    return "".join(_ESCAPES.get(char, char) for char in text)


def _size(text: str) -> int:
    # Count a character outside the BMP (an emoji) twice, in case Slack measures its limits in
    # UTF-16 units as JavaScript does: clipping a little early costs nothing, a rejected
    # message costs the alert.
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _clip(text: str, limit: int, *, escaped: bool = True) -> str:
    """Return ``text`` escaped (unless told not to) and cut to ``limit``, ending in '…'.

    Cutting after escaping could split an entity (``&am``); cutting the raw text character
    by character while counting the escaped length cannot.
    """
    out = escape(text) if escaped else text
    if _size(out) <= limit:
        return out
    pieces, size = [], 0
    for char in text:
        piece = _ESCAPES.get(char, char) if escaped else char
        if size + _size(piece) > limit - 1:
            break
        pieces.append(piece)
        size += _size(piece)
    return "".join(pieces) + "…"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _field(label: str, value: str) -> dict[str, Any]:
    head = f"*{_clip(label, LABEL_LIMIT)}*\n"
    # Slack rejects an empty text, so a NULL or blank value shows as "-".
    return _mrkdwn(head + _clip(value if value.strip() else "-", FIELD_LIMIT - _size(head)))


def _context_blocks(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = list(context.items())
    if not items:
        return []
    shown = items[:MAX_CONTEXT_FIELDS]
    fields = [_field(name, format_value(value)) for name, value in shown]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn("*Context*")},
        *(
            {"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]}
            for start in range(0, len(fields), FIELDS_PER_SECTION)
        ),
    ]
    if len(items) > len(shown):
        more = len(items) - len(shown)
        note = f"{more} more context column{'s' if more != 1 else ''} not shown"
        blocks.append({"type": "context", "elements": [_mrkdwn(note)]})
    return blocks


def _title(notification: Notification) -> str:
    """Return the header: ``[FIRING] daily_revenue`` — the summary below says the rest."""
    title = f"[{notification.kind.headline}] {notification.alert.name}"
    return content.TEST_PREFIX + title if notification.test else title


def payload(
    notification: Notification, *, username: str | None, channel: str | None
) -> dict[str, Any]:
    """Return the JSON payload that posts ``notification`` to Slack."""
    alert = notification.alert
    summary = content.summary(notification)
    intro = f"*{_clip(summary, SUMMARY_LIMIT)}*"
    if alert.description:
        intro += "\n" + _clip(alert.description, SECTION_LIMIT - _size(intro) - 1)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                # plain_text is never parsed for links or mentions: no escaping, only the limit
                "text": _clip(_title(notification), HEADER_LIMIT, escaped=False),
                "emoji": True,
            },
        }
    ]
    if notification.test:
        blocks.append({"type": "context", "elements": [_mrkdwn(content.TEST_NOTE)]})
    blocks.append({"type": "section", "text": _mrkdwn(intro)})
    facts = [_field(label, value) for label, value in content.details(notification)]
    blocks.append({"type": "section", "fields": facts[:FIELDS_PER_SECTION]})
    blocks += _context_blocks(notification.result.context)
    if alert.runbook_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Runbook"},
                        "url": alert.runbook_url,
                        "action_id": "runbook",
                    }
                ],
            }
        )
    footer = "sqlsentinel · " + _clip(notification.idempotency_key, SUMMARY_LIMIT * 2)
    blocks.append({"type": "context", "elements": [_mrkdwn(footer)]})
    text = (content.TEST_PREFIX if notification.test else "") + summary
    body: dict[str, Any] = {"text": _clip(text, SECTION_LIMIT), "blocks": blocks}
    if username:
        body["username"] = username
    if channel:
        body["channel"] = channel
    return body


def _explain(status: int, text: str) -> str | None:
    return _SLACK_ERRORS.get(text.strip().split()[0]) if text.strip() else None


@dataclass(frozen=True)
class SlackNotifier:
    """Post to one Slack incoming webhook.

    ``spec`` is the ``notify`` entry with the URL it posts to filled in (it may have come
    from the settings or the environment), so that :func:`target_of` can name it.
    """

    url: str = field(repr=False)
    spec: SlackChannel = field(repr=False, compare=False)
    username: str | None = None
    slack_channel: str | None = None
    timeout: float = 10.0
    channel: str = field(default="slack", init=False)

    @property
    def target(self) -> str:
        """Return the webhook URL with its secret path and query masked."""
        return target_of(self.spec)

    def render(self, notification: Notification) -> str:
        """Return the payload as it would be posted, pretty-printed."""
        return json.dumps(self._payload(notification), indent=2, ensure_ascii=False)

    def send(self, notification: Notification) -> None:
        """Post the payload once; raise ``NotifyError`` as :func:`http.send` does."""
        data = json.dumps(self._payload(notification), ensure_ascii=False, separators=(",", ":"))
        http.send(
            "POST",
            self.url,
            body=data.encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": notification.idempotency_key,
            },
            timeout=self.timeout,
            shown=self.target,
            explain=_explain,
        )

    def _payload(self, notification: Notification) -> dict[str, Any]:
        return payload(notification, username=self.username, channel=self.slack_channel)


def create(
    spec: SlackChannel, settings: NotificationSettings, environ: Mapping[str, str]
) -> SlackNotifier:
    """Return the notifier for a ``channel: slack`` entry, or raise ``ConfigError``."""
    url = spec.webhook_url or settings.slack.webhook_url
    if not url:
        url = environ.get("SLACK_WEBHOOK_URL", "").strip()
        if not url:
            raise ConfigError(
                "no Slack webhook URL: set webhook_url on the entry, "
                "notifications.slack.webhook_url, or the SLACK_WEBHOOK_URL environment variable"
            )
        if not HTTP_URL.match(url):
            raise ConfigError(
                "the SLACK_WEBHOOK_URL environment variable must be an http:// or https:// URL"
            )
    # The path of a Slack webhook URL is its secret, and a compatible receiver's query may
    # be; a URL from the environment was never seen by the config loader, so make sure
    # every log line and error masks it.
    redactor.add(url, *url_secrets(url, every_query_value=True))
    return SlackNotifier(
        url=url,
        spec=spec.model_copy(update={"webhook_url": url}),
        username=spec.username or settings.slack.username,
        slack_channel=spec.slack_channel,
        timeout=settings.http.timeout.total_seconds(),
    )
