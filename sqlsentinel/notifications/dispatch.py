"""Notify: build an alert's channels, then send one notification through them — or preview it.

The one place a run turns "this alert needs a FIRING notification" into deliveries, shared
by ``sqlsentinel execute``, ``notify-test`` and the scheduled tick. The clock, the
environment and the sleep are passed in.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlsentinel.errors import ConfigError
from sqlsentinel.models import JsonValue, Kind, QueryResult
from sqlsentinel.notifications.base import ChannelOutcome, Notification, Notifier, Unavailable
from sqlsentinel.notifications.delivery import deliver
from sqlsentinel.notifications.factory import build_notifiers, entry_ids

if TYPE_CHECKING:
    from sqlsentinel.config import Alert
    from sqlsentinel.config.schema import NotificationSettings

__all__ = ["Delivery", "Preview", "notify"]


@dataclass(frozen=True)
class Preview:
    """What a channel would send (``--dry-run``), or why it could not."""

    channel: str
    target: str
    rendered: str
    error: str | None = None


@dataclass(frozen=True)
class Delivery:
    """What one notification did: an outcome per channel, or for a dry run a preview each."""

    kind: Kind
    outcomes: Sequence[ChannelOutcome] = ()
    previews: Sequence[Preview] = ()

    @property
    def ok(self) -> bool:
        """Say whether every channel delivered — or, for a dry run, could deliver."""
        return all(o.ok for o in self.outcomes) and all(p.error is None for p in self.previews)

    def to_list(self) -> list[JsonValue]:
        """Return one JSON object per channel."""
        if self.previews:
            return [
                {
                    "channel": p.channel,
                    "target": p.target,
                    "kind": self.kind.value,
                    "rendered": p.rendered,
                    "error": p.error,
                }
                for p in self.previews
            ]
        return [{**o.to_dict(), "target": o.target} for o in self.outcomes]


def notify(
    alert: Alert,
    settings: NotificationSettings,
    kind: Kind,
    result: QueryResult,
    *,
    slot: datetime,
    now: datetime,
    environ: Mapping[str, str],
    dry_run: bool = False,
    test: bool = False,
    only: str | None = None,
    entries: Collection[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Send (or, for a dry run, render) one notification through the alert's channels.

    ``only`` keeps the channels of one type (``notify-test --channel``); an alert without
    such a channel is a ``ConfigError`` naming the ones it has. ``entries`` keeps the
    ``notify`` entries with those ids (a retry of what some channels missed last run).
    Each outcome carries its entry id.
    """
    pairs = list(zip(entry_ids(alert), build_notifiers(alert, settings, environ), strict=True))
    if only is not None:
        kept = {id(n) for n in _only(alert, [n for _, n in pairs], only)}
        pairs = [(entry, n) for entry, n in pairs if id(n) in kept]
    if entries is not None:
        pairs = [(entry, n) for entry, n in pairs if entry in entries]
    notification = Notification(alert, kind, result, slot, now, test=test)
    if dry_run:
        return Delivery(kind, previews=[_preview(n, notification) for _, n in pairs])
    retry = settings.retry
    outcomes = deliver(
        notification,
        [n for _, n in pairs],
        attempts=retry.attempts,
        backoff=retry.backoff.total_seconds(),
        sleep=sleep,
    )
    return Delivery(
        kind,
        outcomes=[
            dataclasses.replace(outcome, entry=entry)
            for (entry, _), outcome in zip(pairs, outcomes, strict=True)
        ],
    )


def _preview(notifier: Notifier, notification: Notification) -> Preview:
    error = notifier.reason if isinstance(notifier, Unavailable) else None
    return Preview(notifier.channel, notifier.target, notifier.render(notification), error)


def _only(alert: Alert, notifiers: list[Notifier], channel: str) -> list[Notifier]:
    chosen = [notifier for notifier in notifiers if notifier.channel == channel]
    if not chosen:
        have = ", ".join(dict.fromkeys(notifier.channel for notifier in notifiers))
        raise ConfigError(
            f"alert '{alert.name}' has no {channel} channel; its channels are: {have}"
        )
    return chosen
