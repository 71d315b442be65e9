"""Send a notification as an email through Amazon SES (API v2), for AWS users without SMTP.

Settings, each falling back to the next:

* sender: the channel's ``from_address``, then ``notifications.email.from_address``, then
  ``SMTP_FROM_ADDRESS`` (or ``SMTP_FROM``) — read and checked by the email channel's own
  :func:`~sqlsentinel.notifications.email_settings.sender_address`;
* region: the channel's ``region``, then ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, then
  whatever boto3 finds in its config file (``AWS_CONFIG_FILE`` or ``~/.aws/config``). With
  none of these the channel cannot send, and ``sqlsentinel test`` says so;
* credentials: boto3's chain (environment, profile, the Lambda or task role).

The identity needs ``ses:SendEmail`` on the sender's identity; the sender address (or its
domain) must be verified in SES, and in the SES sandbox every recipient too.
boto3 is imported only when a message is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlsentinel.errors import ConfigError
from sqlsentinel.notifications import aws, content
from sqlsentinel.notifications.base import Notification
from sqlsentinel.notifications.email_settings import sender_address
from sqlsentinel.notifications.factory import target_of

if TYPE_CHECKING:
    from sqlsentinel.config.schema import NotificationSettings, SesChannel

__all__ = ["SesNotifier", "create"]

PERMISSION = "ses:SendEmail"


def create(
    spec: SesChannel, settings: NotificationSettings, environ: Mapping[str, str]
) -> SesNotifier:
    """Return the SES notifier for ``spec``, or raise ``ConfigError`` saying what to set."""
    aws.require_boto3()
    sender = sender_address(spec.from_address, settings.email.from_address, environ=environ)
    if sender is None:
        raise ConfigError(
            "no sender address: set from_address on the ses channel, "
            "notifications.email.from_address, or SMTP_FROM_ADDRESS"
        )
    return SesNotifier(
        spec=spec,
        sender=sender,
        region=aws.require_region("SES", spec.region, environ),
        timeout=settings.http.timeout.total_seconds(),
    )


@dataclass(frozen=True)
class SesNotifier:
    """Email one alert's notifications to its recipients through SES."""

    spec: SesChannel
    sender: str
    region: str | None = None
    timeout: float = 10.0

    @property
    def channel(self) -> str:
        return "ses"

    @property
    def target(self) -> str:
        return target_of(self.spec)

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(self.spec.recipients)

    @property
    def subject_template(self) -> str | None:
        return self.spec.subject

    @property
    def body_template(self) -> str | None:
        return self.spec.body

    def message(self, notification: Notification) -> dict[str, object]:
        """Return the ``SendEmail`` request: sender, recipients, subject, text and HTML."""
        utf8 = "UTF-8"
        subject = content.subject(notification, self.subject_template)
        text = content.text_body(notification, self.body_template)
        html = content.html_body(notification, self.body_template)
        return {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": list(self.recipients)},
            "Content": {
                "Simple": {
                    "Subject": {"Data": subject, "Charset": utf8},
                    "Body": {
                        "Text": {"Data": text, "Charset": utf8},
                        "Html": {"Data": html, "Charset": utf8},
                    },
                }
            },
        }

    def render(self, notification: Notification) -> str:
        subject = content.subject(notification, self.subject_template)
        text = content.text_body(notification, self.body_template)
        region = f" (region {self.region})" if self.region else ""
        return (
            f"Subject: {subject}\nFrom: {self.sender}\nTo: {self.target}\n"
            f"Via: Amazon SES{region}\n\n{text}"
        )

    def send(self, notification: Notification) -> None:
        request = self.message(notification)
        with aws.aws_errors("SES", PERMISSION):
            aws.client("sesv2", self.region, self.timeout).send_email(**request)
