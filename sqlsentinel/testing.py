"""Fakes of sqlsentinel's ports, for tests — ours and yours.

:class:`RecordingNotifier` stands in for a channel: it records what it was asked to send and
can be told to fail, so the delivery and decision logic can be tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlsentinel.notifications.base import Notification

__all__ = ["RecordingNotifier"]


@dataclass
class RecordingNotifier:
    """A channel that records every notification and raises the failures it is given.

    ``failures`` are raised one per call, in order, before sends start succeeding —
    ``RecordingNotifier(failures=[NotifyError("451", permanent=False)] * 2)`` fails twice,
    then delivers.
    """

    channel: str = "recording"
    target: str = "memory"
    failures: list[BaseException] = field(default_factory=list)
    sent: list[Notification] = field(default_factory=list)
    calls: int = 0

    @classmethod
    def failing(cls, *failures: BaseException, channel: str = "recording") -> RecordingNotifier:
        """Return a notifier that raises ``failures`` in order, then delivers."""
        return cls(channel=channel, failures=list(failures))

    def render(self, notification: Notification) -> str:
        return f"{notification.kind} {notification.alert.name} ({notification.idempotency_key})"

    def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(notification)
