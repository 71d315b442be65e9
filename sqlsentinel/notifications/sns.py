"""Publish a notification to an Amazon SNS topic, with attributes subscribers can filter on.

The message is the plain-text body; the subject (used by email subscriptions) is made valid
for SNS — printable ASCII, one line, at most 100 characters. Message attributes ``alert``,
``kind``, ``severity``, ``status`` and ``idempotency_key`` let a subscription's filter policy
pick, say, only critical FIRING notifications. A FIFO topic (``.fifo``) gets the alert as its
message group and a deduplication id from the idempotency key, so SNS itself drops the
duplicate of a runner that sent and died before recording.

Region: the topic's own, from its ARN (``arn:aws:sns:<region>:<account>:<name>``) — a topic can
only be published to in its region, so neither ``AWS_REGION`` nor boto3's config is asked. A
channel ``region`` that names another region is a config error. The identity needs
``sns:Publish`` on the topic (and ``kms:GenerateDataKey`` and ``kms:Decrypt`` on the key of an
encrypted topic). boto3 is imported only when publishing.
"""

from __future__ import annotations

import hashlib
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from sqlsentinel.errors import ConfigError
from sqlsentinel.notifications import aws, content
from sqlsentinel.notifications.base import Notification
from sqlsentinel.notifications.factory import target_of

if TYPE_CHECKING:
    from sqlsentinel.config.schema import NotificationSettings, SnsChannel

__all__ = ["SnsNotifier", "create", "fifo_id", "sns_subject", "topic_region"]

PERMISSION = "sns:Publish"
MAX_SUBJECT = 100
MAX_ID = 128
MAX_MESSAGE_BYTES = 200_000  # SNS takes 256 KiB with the attributes; leave them room
_ID_PUNCTUATION = string.punctuation  # what MessageGroupId/MessageDeduplicationId allow
_ASCII = str.maketrans(  # what NFKD cannot reduce to ASCII: dashes, quotes, ß, ≤, €, ...
    {"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}
    | {"\u00df": "ss", "\u2026": "...", "\u2264": "<=", "\u2265": ">=", "\u2260": "!="}
    | {"\u20ac": "EUR", "\u00a3": "GBP", "\u00d7": "x"}
)


def create(
    spec: SnsChannel, settings: NotificationSettings, environ: Mapping[str, str]
) -> SnsNotifier:
    """Return the SNS notifier for ``spec``, or raise ``ConfigError`` (no boto3, wrong region)."""
    aws.require_boto3()
    region = topic_region(spec.topic_arn)
    if spec.region and spec.region != region:
        raise ConfigError(
            f"the channel's region is {spec.region} but the topic ARN is in {region}, and a "
            "topic can only be published to in its own region; remove region from the "
            "channel, or correct the ARN"
        )
    return SnsNotifier(
        spec=spec, region=spec.region or region, timeout=settings.http.timeout.total_seconds()
    )


def topic_region(arn: str) -> str:
    """Return the region an SNS topic ARN names: ``arn:aws:sns:<region>:<account>:<name>``."""
    return arn.split(":")[3]


def sns_subject(text: str) -> str:
    """Return ``text`` as SNS accepts a subject: printable ASCII, one line, ≤ 100 characters.

    Accents are dropped (``Café`` → ``Cafe``), a few symbols spelled out, any other
    character becomes ``?``; the full text is still in the message.
    """
    out: list[str] = []
    for char in unicodedata.normalize("NFKC", text):
        if " " <= char <= "~":
            out.append(char)
        elif ord(char) in _ASCII:
            out.append(char.translate(_ASCII))
        elif char.isspace() or unicodedata.category(char).startswith("C"):
            out.append(" ")  # line breaks and control characters
        else:
            plain = "".join(c for c in unicodedata.normalize("NFKD", char) if " " <= c <= "~")
            if plain or not out or out[-1] != "?":
                out.append(plain or "?")  # one '?' for a run of untransliterable text
    subject = " ".join("".join(out).split())  # one line, no leading or doubled spaces
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 3].rstrip() + "..."
    return subject or "sqlsentinel notification"


def fifo_id(text: str) -> str:
    """Return ``text`` as a FIFO group or deduplication id: ≤ 128 ASCII letters, digits, marks.

    A text that is already valid is kept; another one is percent-encoded, and one still too
    long is cut and suffixed with a hash of the whole, so distinct texts keep distinct ids.
    """
    if len(text) <= MAX_ID and all(_id_char(c) for c in text):
        return text
    encoded = quote(text, safe=_ID_PUNCTUATION.replace("%", ""))
    if len(encoded) <= MAX_ID:
        return encoded
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return f"{encoded[: MAX_ID - len(digest) - 1]}~{digest}"


@dataclass(frozen=True)
class SnsNotifier:
    """Publish one alert's notifications to an SNS topic."""

    spec: SnsChannel
    region: str | None = None
    timeout: float = 10.0

    @property
    def channel(self) -> str:
        return "sns"

    @property
    def target(self) -> str:
        return target_of(self.spec)

    @property
    def topic_arn(self) -> str:
        return self.spec.topic_arn

    @property
    def subject_template(self) -> str | None:
        return self.spec.subject

    @property
    def fifo(self) -> bool:
        return self.topic_arn.endswith(".fifo")

    def attributes(self, notification: Notification) -> dict[str, str]:
        """Return the message attributes a subscription's filter policy can match on."""
        n = notification
        return {
            "alert": n.alert.name,
            "kind": n.kind.value,
            "severity": n.alert.severity.value,
            "status": n.result.status.value,
            "idempotency_key": n.idempotency_key,
        }

    def message(self, notification: Notification) -> dict[str, object]:
        """Return the ``Publish`` request: subject, text, attributes, FIFO ids."""
        n = notification
        request: dict[str, object] = {
            "TopicArn": self.topic_arn,
            "Subject": sns_subject(content.subject(n, self.subject_template)),
            "Message": _fit(content.text_body(n)),
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value}
                for name, value in self.attributes(n).items()
            },
        }
        if self.fifo:
            request["MessageGroupId"] = fifo_id(n.alert.name)
            request["MessageDeduplicationId"] = fifo_id(n.idempotency_key)
        return request

    def render(self, notification: Notification) -> str:
        request = self.message(notification)
        lines = [f"Topic: {self.topic_arn}", f"Subject: {request['Subject']}"]
        lines += [f"Attribute {k}: {v}" for k, v in self.attributes(notification).items()]
        if self.fifo:
            lines.append(f"MessageGroupId: {request['MessageGroupId']}")
            lines.append(f"MessageDeduplicationId: {request['MessageDeduplicationId']}")
        return "\n".join(lines) + f"\n\n{request['Message']}"

    def send(self, notification: Notification) -> None:
        request = self.message(notification)
        with aws.aws_errors("SNS", PERMISSION):
            aws.client("sns", self.region, self.timeout).publish(**request)


def _id_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in _ID_PUNCTUATION)


def _fit(message: str) -> str:
    """Return ``message`` cut to what SNS accepts, at a character boundary, saying so."""
    data = message.encode("utf-8")
    if len(data) <= MAX_MESSAGE_BYTES:
        return message
    cut = data[: MAX_MESSAGE_BYTES - 100].decode("utf-8", "ignore")
    return cut + "\n[... truncated: the message was longer than SNS accepts]\n"
