"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1, trustme certificates).

Every test goes through ``email.create`` and ``delivery.deliver``, as a run does; the backoff
sleep is a list that records the delays, so nothing waits for real.
"""

from __future__ import annotations

import json
import shutil
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from sqlsentinel.config import load_config_text
from sqlsentinel.config.schema import EmailChannel
from sqlsentinel.models import Kind, QueryResult, Status
from sqlsentinel.notifications import email
from sqlsentinel.notifications.base import ChannelOutcome, Notification, Notifier
from sqlsentinel.notifications.delivery import deliver
from tests.support.smtp import PASSWORD, USER, Server, Tls, free_port

SCRIPT = "<script>alert(1)</script>"
SLOT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SENT_AT = datetime(2026, 11, 27, 9, 0, 3, tzinfo=UTC)


def notifier(
    port: int, *settings: str, recipients: str = "oncall@example.com", entry: str = ""
) -> Notifier:
    """Return the email channel of a one-alert config whose SMTP server is 127.0.0.1:port."""
    timeout = () if any(s.startswith("timeout:") for s in settings) else ("timeout: 5s",)
    server = ("smtp_host: 127.0.0.1", f"smtp_port: {port}", *timeout, *settings)
    lines = "".join(f"    {line}\n" for line in server)
    config = load_config_text(
        'database: "sqlite:///data.db"\n'
        "notifications:\n  email:\n" + lines + "alerts:\n"
        "  - name: daily_revenue\n"
        "    query: SELECT 'ALERT' AS status, 1 AS actual_value, 'x' AS region\n"
        '    schedule: "0 9 * * *"\n'
        "    notify:\n"
        "      - channel: email\n"
        f"        recipients: [{recipients}]\n"
        '        subject: "{alert_name} fired: {actual_value}"\n' + entry,
        environ={},
    )
    spec = config.alerts[0].notify[0]
    assert isinstance(spec, EmailChannel)
    return email.create(spec, config.notifications, {})


def notification() -> Notification:
    config = load_config_text(
        'database: "sqlite:///data.db"\n'
        "alerts:\n"
        "  - name: daily_revenue\n"
        "    query: SELECT 1\n"
        '    schedule: "0 9 * * *"\n'
        "    runbook_url: https://wiki.example.com/revenue\n",
        environ={},
    )
    result = QueryResult(
        Status.ALERT, actual_value=8420.5, threshold=10000, context={"region": SCRIPT}
    )
    return Notification(config.alerts[0], Kind.FIRING, result, slot=SLOT, sent_at=SENT_AT)


def send(channel: Notifier, delays: list[float] | None = None) -> ChannelOutcome:
    return send_one(channel, notification(), delays)


def send_one(
    channel: Notifier, message: Notification, delays: list[float] | None = None
) -> ChannelOutcome:
    delays = [] if delays is None else delays
    (outcome,) = deliver(message, [channel], sleep=delays.append)
    return outcome


# --- secure delivery ----------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_it_delivers_over_starttls_after_logging_in(
    smtp_server: Callable[..., Server], tls: Tls, mechanism: str
) -> None:
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[mechanism]
    server = smtp_server(
        tls_context=tls.server_context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        auth_exclude_mechanism=[other],
    )
    channel = notifier(
        server.port,
        f"smtp_username: {USER}",
        f"smtp_password: {PASSWORD}",
        f"ca_file: {tls.ca_file}",
    )

    outcome = send(channel)

    assert (outcome.ok, outcome.attempts, outcome.error) == (True, 1, None)
    assert server.accounts.mechanisms == [mechanism]
    (message,) = server.mailbox.messages
    assert message["From"] == USER
    assert message["To"] == "oncall@example.com"


def test_it_delivers_over_implicit_tls(smtp_server: Callable[..., Server], tls: Tls) -> None:
    # aiosmtpd counts only STARTTLS as encryption, so AUTH must be allowed "without TLS" on
    # a connection that is TLS from its first byte; the login below proves it was offered.
    server = smtp_server(ssl_context=tls.server_context, auth_require_tls=False)
    channel = notifier(
        server.port,
        "security: ssl",
        f"smtp_username: {USER}",
        f"smtp_password: {PASSWORD}",
        f"ca_file: {tls.ca_file}",
    )

    outcome = send(channel)

    assert (outcome.ok, outcome.attempts) == (True, 1)
    assert server.accounts.mechanisms
    assert len(server.mailbox.messages) == 1


def test_it_delivers_through_a_plain_relay_without_login(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    channel = notifier(server.port, "security: none", "from_address: alerts@example.com")

    outcome = send(channel)

    assert (outcome.ok, outcome.attempts) == (True, 1)
    assert server.accounts.mechanisms == []
    assert server.mailbox.messages[0]["From"] == "alerts@example.com"


def test_it_reads_the_server_and_credentials_from_the_environment(
    smtp_server: Callable[..., Server], tls: Tls
) -> None:
    server = smtp_server(tls_context=tls.server_context, require_starttls=True)
    config = load_config_text(
        'database: "sqlite:///data.db"\nalerts:\n  - name: a\n    query: SELECT 1\n'
        '    schedule: "0 9 * * *"\n    notify: [{channel: email, recipients: [o@example.com]}]\n',
        environ={},
    )
    spec = config.alerts[0].notify[0]
    assert isinstance(spec, EmailChannel)
    environ = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(server.port),
        "SMTP_USER": USER,
        "SMTP_PASSWORD": PASSWORD,
        "SMTP_USE_TLS": "true",
        "SMTP_CA_FILE": str(tls.ca_file),
    }

    outcome = send(email.create(spec, config.notifications, environ))

    assert outcome.ok
    assert server.accounts.mechanisms


# --- failures -----------------------------------------------------------------------------


def test_a_wrong_password_fails_at_once_without_showing_it(
    smtp_server: Callable[..., Server], tls: Tls
) -> None:
    server = smtp_server(tls_context=tls.server_context, require_starttls=True)
    channel = notifier(
        server.port,
        f"smtp_username: {USER}",
        "smtp_password: wr0ng-passw0rd",
        f"ca_file: {tls.ca_file}",
    )
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 1, [])
    assert outcome.error is not None
    assert "refused the username or password (535" in outcome.error
    assert "check SMTP_USERNAME and SMTP_PASSWORD" in outcome.error
    assert "wr0ng-passw0rd" not in outcome.error
    assert server.mailbox.messages == []


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_certificate_the_client_does_not_trust_is_refused(
    smtp_server: Callable[..., Server], tls: Tls, security: str
) -> None:
    context = {"starttls": "tls_context", "ssl": "ssl_context"}[security]
    server = smtp_server(**{context: tls.server_context})
    channel = notifier(server.port, f"security: {security}", "from_address: a@example.com")

    outcome = send(channel)

    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert outcome.error is not None
    assert "is not trusted" in outcome.error
    assert "SMTP_CA_FILE" in outcome.error
    assert server.mailbox.messages == []


def test_a_server_without_starttls_is_refused_rather_than_sent_in_clear(
    smtp_server: Callable[..., Server], tls: Tls
) -> None:
    server = smtp_server()
    channel = notifier(server.port, "from_address: a@example.com", f"ca_file: {tls.ca_file}")

    outcome = send(channel)

    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert outcome.error is not None
    assert "does not offer STARTTLS" in outcome.error
    assert server.mailbox.messages == []


def test_a_server_that_never_greets_is_a_transient_timeout_with_a_hint(
    smtp_server: Callable[..., Server], tls: Tls
) -> None:
    # STARTTLS against an implicit-TLS server: each side waits for the other to speak first
    server = smtp_server(ssl_context=tls.server_context)
    channel = notifier(
        server.port, "security: starttls", "timeout: 0.2s", "from_address: a@example.com"
    )
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 3, [1.0, 2.0])
    assert outcome.error == (
        f"the SMTP server 127.0.0.1:{server.port} did not answer within 0.2s; if it expects "
        "TLS from the first byte (port 465), set security: ssl"
    )


def test_it_retries_a_451_then_delivers_once(smtp_server: Callable[..., Server]) -> None:
    server = smtp_server()
    server.mailbox.data_replies += ["451 4.3.0 Try again later"] * 2
    channel = notifier(server.port, "security: none", "from_address: a@example.com")
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, outcome.error) == (True, 3, None)
    assert delays == [1.0, 2.0]
    assert len(server.mailbox.messages) == 1


def test_an_unknown_recipient_fails_at_once_naming_it(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.mailbox.unknown.add("oncall@example.com")
    channel = notifier(server.port, "security: none", "from_address: a@example.com")
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 1, [])
    assert outcome.error is not None
    assert "refused the recipient oncall@example.com (550 5.1.1" in outcome.error


TWO = "oncall@example.com, data@example.com"
GREYLISTED = "450 4.2.0 Greylisted, try again later"
UNKNOWN = "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"


def test_a_greylisted_recipient_is_retried_alone_and_everyone_gets_one_message(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.mailbox.rcpt_replies["data@example.com"] = [GREYLISTED]
    channel = notifier(server.port, "security: none", "from_address: a@example.com", recipients=TWO)
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, outcome.error, delays) == (True, 2, None, [1.0])
    assert server.mailbox.envelopes == [["oncall@example.com"], ["data@example.com"]]
    first, retry = server.mailbox.messages
    assert retry["Message-ID"] == first["Message-ID"]
    assert retry["To"] == first["To"] == "oncall@example.com, data@example.com"


def test_a_recipient_refused_for_good_fails_at_once_and_the_others_get_one_message(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.mailbox.unknown.add("gone@example.com")
    recipients = "oncall@example.com, gone@example.com"
    channel = notifier(
        server.port, "security: none", "from_address: a@example.com", recipients=recipients
    )
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 1, [])
    assert outcome.error == (
        f"the SMTP server 127.0.0.1:{server.port} refused the recipient gone@example.com "
        f"({UNKNOWN}); check the alert's recipients; the others were sent the message"
    )
    assert server.mailbox.envelopes == [["oncall@example.com"]]
    assert server.mailbox.messages[0]["To"] == recipients


def test_greylisted_unknown_and_accepted_recipients_each_get_what_they_should(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.mailbox.rcpt_replies["data@example.com"] = [GREYLISTED]
    server.mailbox.unknown.add("gone@example.com")
    recipients = "oncall@example.com, data@example.com, gone@example.com"
    channel = notifier(
        server.port, "security: none", "from_address: a@example.com", recipients=recipients
    )
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 2, [1.0])
    assert outcome.error == (
        f"the SMTP server 127.0.0.1:{server.port} refused the recipient gone@example.com "
        f"({UNKNOWN}); check the alert's recipients; the others were sent the message"
    )
    assert server.mailbox.envelopes == [["oncall@example.com"], ["data@example.com"]]


def test_a_recipient_greylisted_on_every_attempt_is_named_and_the_others_served_once(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.mailbox.rcpt_replies["data@example.com"] = [GREYLISTED] * 3
    channel = notifier(server.port, "security: none", "from_address: a@example.com", recipients=TWO)
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 3, [1.0, 2.0])
    assert outcome.error == (
        f"the SMTP server 127.0.0.1:{server.port} refused the recipient data@example.com "
        f"({GREYLISTED}) for now; the others were sent the message"
    )
    assert server.mailbox.received_by("oncall@example.com") == 1
    assert server.mailbox.received_by("data@example.com") == 0


def test_a_later_delivery_of_the_same_notification_sends_to_everyone_again(
    smtp_server: Callable[..., Server],
) -> None:
    # What is remembered is only for retrying one delivery: notify-test run twice sends twice.
    server = smtp_server()
    server.mailbox.rcpt_replies["data@example.com"] = [GREYLISTED]
    channel = notifier(server.port, "security: none", "from_address: a@example.com", recipients=TWO)

    first, second = send(channel), send(channel)

    assert (first.ok, first.attempts, second.ok, second.attempts) == (True, 2, True, 1)
    assert server.mailbox.received_by("oncall@example.com") == 2
    assert server.mailbox.received_by("data@example.com") == 2


# --- the end of DATA: sent is sent ---------------------------------------------------------


def test_a_slow_reply_to_the_end_of_data_is_waited_for_and_the_message_sent_once(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.mailbox.data_delay = 0.6  # longer than the timeout, far shorter than RFC 5321's
    channel = notifier(
        server.port, "security: none", "from_address: a@example.com", "timeout: 0.3s"
    )
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, outcome.error, delays) == (True, 1, None, [])
    assert len(server.mailbox.messages) == 1


def test_a_connection_lost_after_the_final_dot_is_not_resent_and_says_why(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.mailbox.drop_after_data = True
    channel = notifier(server.port, "security: none", "from_address: a@example.com")
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 1, [])
    assert outcome.error == (
        f"the SMTP server 127.0.0.1:{server.port} did not confirm the message after it was "
        "sent (the connection closed); it may have been delivered, so it is not resent, to "
        "avoid a duplicate"
    )
    assert len(server.mailbox.messages) == 1


def test_a_server_that_stops_answering_after_its_greeting_gets_no_port_465_hint(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    server.mailbox.rcpt_delay = 0.5
    channel = notifier(
        server.port, "security: none", "from_address: a@example.com", "timeout: 0.2s"
    )
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 3, [1.0, 2.0])
    assert outcome.error == f"the SMTP server 127.0.0.1:{server.port} did not answer within 0.2s"
    assert server.mailbox.messages == []


def test_lines_that_start_with_a_dot_arrive_intact(smtp_server: Callable[..., Server]) -> None:
    server = smtp_server()
    body = "first\n.\n..two\n.three\r\nbare\rcr"
    entry = f"        body: {json.dumps(body)}\n"
    channel = notifier(server.port, "security: none", "from_address: a@example.com", entry=entry)

    outcome = send(channel)

    assert outcome.ok, outcome.error
    (message,) = server.mailbox.messages
    text_part = message.get_body(("plain",))
    assert isinstance(text_part, EmailMessage)
    assert text_part["Content-Transfer-Encoding"] == "7bit"  # the dots are on the wire as is
    text = text_part.get_content()
    assert text.startswith("first\r\n.\r\n..two\r\n.three\r\nbare\r\ncr\r\n")  # CRLF on the wire


@pytest.mark.parametrize("smtputf8", [True, False])
def test_non_ascii_addresses_go_out_over_smtputf8_or_fail_saying_why(
    smtp_server: Callable[..., Server], smtputf8: bool
) -> None:
    server = smtp_server(enable_SMTPUTF8=smtputf8)
    recipients = "zoë@exämple.com, ops@example.com"
    channel = notifier(
        server.port, "security: none", "from_address: a@example.com", recipients=recipients
    )

    outcome = send(channel)

    if smtputf8:
        assert (outcome.ok, outcome.attempts) == (True, 1)
        assert server.mailbox.envelopes == [["zoë@exämple.com", "ops@example.com"]]
        assert server.mailbox.messages[0]["To"] == recipients
    else:
        assert (outcome.ok, outcome.attempts) == (False, 1)
        assert outcome.error == (
            f"the SMTP server 127.0.0.1:{server.port} cannot take non-ASCII addresses (it "
            "does not offer SMTPUTF8); use ASCII addresses or another server"
        )
        assert server.mailbox.messages == []


# --- one TLS context per CA file -----------------------------------------------------------


def test_email_channels_share_one_tls_context_per_ca_file(
    smtp_server: Callable[..., Server],
    tls: Tls,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = smtp_server(tls_context=tls.server_context, require_starttls=True)
    ca_file = tmp_path / "ca.pem"  # a path no earlier test has used
    shutil.copy(tls.ca_file, ca_file)
    made: list[object] = []
    create_default_context = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(args or kwargs)
        return create_default_context(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    settings = (f"ca_file: {ca_file}", "from_address: a@example.com")
    channels = [notifier(server.port, *settings) for _ in range(3)]

    outcomes = [send(channel) for channel in channels]

    assert [(o.ok, o.attempts) for o in outcomes] == [(True, 1)] * 3
    assert len(made) == 1


def test_a_refused_connection_is_retried_then_reported() -> None:
    port = free_port()
    channel = notifier(port, "security: none", "from_address: a@example.com")
    delays: list[float] = []

    outcome = send(channel, delays)

    assert (outcome.ok, outcome.attempts, delays) == (False, 3, [1.0, 2.0])
    assert outcome.error == (
        f"the SMTP server 127.0.0.1:{port} refused the connection; is it running on port {port}?"
    )


# --- the message --------------------------------------------------------------------------


def test_the_message_has_both_parts_the_headers_and_escaped_query_values(
    smtp_server: Callable[..., Server],
) -> None:
    server = smtp_server()
    channel = notifier(server.port, "security: none", "from_address: Alerts <a@example.com>")

    first, second = send(channel), send(channel)

    assert (first.ok, second.ok) == (True, True)
    message, resent = server.mailbox.messages
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "daily_revenue fired: 8420.5"
    assert parsedate_to_datetime(message["Date"]) == SENT_AT
    assert message["Message-ID"] == f"<{notification().message_id_hash}@example.com>"
    assert resent["Message-ID"] == message["Message-ID"]
    assert message["X-Sentinel-Idempotency-Key"] == notification().idempotency_key
    assert message["Auto-Submitted"] == "auto-generated"
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert isinstance(text_part, EmailMessage)
    assert isinstance(html_part, EmailMessage)
    text, html = text_part.get_content(), html_part.get_content()
    assert f"region: {SCRIPT}" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT not in html
    assert "8420.5" in html
    assert "10000" in html
    assert '<a href="https://wiki.example.com/revenue">' in html


def test_non_ascii_text_arrives_intact(smtp_server: Callable[..., Server]) -> None:
    server = smtp_server()
    channel = notifier(server.port, "security: none", "from_address: a@example.com")
    base = notification()
    result = QueryResult(Status.ALERT, actual_value="café ☕", context={"city": "Zürich"})
    outcome = send_one(channel, Notification(base.alert, Kind.FIRING, result, SLOT, SENT_AT))

    assert outcome.ok
    (message,) = server.mailbox.messages
    assert message["Subject"] == "daily_revenue fired: café ☕"
    text_part = message.get_body(("plain",))
    assert isinstance(text_part, EmailMessage)
    assert "city: Zürich" in text_part.get_content()
