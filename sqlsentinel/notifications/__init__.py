"""Deliver notifications: one small module per channel, loaded only when an alert uses it.

:mod:`~sqlsentinel.notifications.base` holds what every channel shares (the notification,
the :class:`~sqlsentinel.notifications.base.Notifier` interface, outcomes);
:mod:`~sqlsentinel.notifications.factory` builds an alert's channels;
:mod:`~sqlsentinel.notifications.delivery` sends to each with retries.
"""
