"""Where the email channel finds its SMTP settings, and what it says when one is missing.

The config wins over the environment, field by field; the SQL Sentinel variable names work
too. A channel that cannot send is built as an ``Unavailable`` one whose reason says exactly
what to set — and ``sqlsentinel test`` reports it against the alert.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sqlsentinel.config import Config, load_config_text
from sqlsentinel.config.schema import EmailChannel, NotificationSettings
from sqlsentinel.errors import ConfigError
from sqlsentinel.models import Kind, QueryResult, Status
from sqlsentinel.notifications import email
from sqlsentinel.notifications.base import Notification, Unavailable
from sqlsentinel.notifications.factory import build_notifiers, check_channels
from sqlsentinel.redact import redactor

ALERT = (
    "alerts:\n"
    "  - name: daily_revenue\n"
    "    query: SELECT 'ALERT' AS status\n"
    '    schedule: "0 9 * * *"\n'
    "    notify:\n"
    "      - channel: email\n"
    "        recipients: [oncall@example.com, data@example.com]\n"
)


def load(*settings: str) -> Config:
    """Return a one-alert config with ``settings`` under ``notifications.email``."""
    block = "notifications:\n  email:\n" + "".join(f"    {s}\n" for s in settings)
    text = 'database: "sqlite:///data.db"\n' + (block if settings else "") + ALERT
    return load_config_text(text, source="alerts.yaml", environ={})


def resolve(*settings: str, environ: dict[str, str] | None = None) -> email.SmtpServer:
    return email.resolve(load(*settings).notifications, environ or {})


def reason(*settings: str, environ: dict[str, str] | None = None) -> str:
    """Return why the alert's email channel cannot send (it must be unavailable)."""
    config = load(*settings)
    (channel,) = build_notifiers(config.alerts[0], config.notifications, environ or {})
    assert isinstance(channel, Unavailable)
    assert channel.channel == "email"
    return channel.reason


# --- where each setting comes from ---------------------------------------------------------


def test_the_config_wins_over_the_environment_field_by_field() -> None:
    environ = {
        "SMTP_HOST": "env.example.com",
        "SMTP_PORT": "2525",
        "SMTP_USERNAME": "env-user@example.com",
        "SMTP_PASSWORD": "env-password",
        "SMTP_FROM_ADDRESS": "env-from@example.com",
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT": "45",
        "SMTP_CA_FILE": "/env/ca.pem",
    }
    server = resolve(
        "smtp_host: smtp.example.com",
        "smtp_port: 1587",
        "smtp_username: me@example.com",
        "smtp_password: file-password",
        "from_address: alerts@example.com",
        "security: ssl",
        "timeout: 20s",
        "ca_file: /etc/ca.pem",
        environ=environ,
    )
    assert server == email.SmtpServer(
        "smtp.example.com", 1587, "ssl", "alerts@example.com", 20.0,
        "me@example.com", "file-password", "/etc/ca.pem",
    )  # fmt: skip
    assert server.password == "file-password"


def test_the_environment_fills_what_the_config_leaves_out() -> None:
    environ = {
        "SMTP_HOST": "env.example.com",
        "SMTP_PORT": "2525",
        "SMTP_PASSWORD": "env-password",
        "SMTP_TIMEOUT": "1m",
        "SMTP_CA_FILE": "/env/ca.pem",
    }
    server = resolve("smtp_username: me@example.com", environ=environ)
    assert (server.host, server.port, server.security) == ("env.example.com", 2525, "starttls")
    assert (server.username, server.password) == ("me@example.com", "env-password")
    assert (server.timeout, server.ca_file) == (60.0, "/env/ca.pem")


def test_blank_environment_variables_count_as_unset() -> None:
    server = resolve(
        "smtp_host: smtp.example.com",
        "from_address: a@example.com",
        environ={"SMTP_PORT": "", "SMTP_USERNAME": " ", "SMTP_SECURITY": ""},
    )
    assert (server.port, server.username, server.security) == (587, None, "starttls")


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_the_default_port_follows_the_security(security: str, port: int) -> None:
    server = resolve(
        "smtp_host: smtp.example.com", "from_address: a@example.com", f"security: {security}"
    )
    assert (server.security, server.port) == (security, port)


def test_starttls_and_a_ten_second_timeout_are_the_defaults() -> None:
    server = resolve("smtp_host: smtp.example.com", "from_address: a@example.com")
    assert (server.security, server.port, server.timeout) == ("starttls", 587, 10.0)
    assert (server.username, server.password, server.ca_file) == (None, None, None)


def test_port_465_without_a_named_security_means_implicit_tls() -> None:
    environ = {"SMTP_HOST": "smtp.example.com", "SMTP_FROM": "a@example.com"}
    assert resolve(environ={**environ, "SMTP_PORT": "465"}).security == "ssl"
    assert resolve(environ={**environ, "SMTP_PORT": "465", "SMTP_USE_TLS": "true"}).security == (
        "ssl"
    )
    named = {**environ, "SMTP_PORT": "465", "SMTP_SECURITY": "starttls"}
    assert resolve(environ=named).security == "starttls"


@pytest.mark.parametrize(
    ("use_tls", "security"),
    [("true", "starttls"), ("True", "starttls"), ("false", "none"), ("FALSE", "none")],
)
def test_sql_sentinels_smtp_use_tls_is_understood(use_tls: str, security: str) -> None:
    environ = {"SMTP_HOST": "smtp.example.com", "SMTP_FROM": "a@example.com"}
    server = resolve(environ={**environ, "SMTP_USE_TLS": use_tls})
    assert server.security == security


def test_smtp_security_wins_over_smtp_use_tls() -> None:
    environ = {
        "SMTP_HOST": "smtp.example.com",
        "SMTP_FROM_ADDRESS": "a@example.com",
        "SMTP_SECURITY": "ssl",
        "SMTP_USE_TLS": "false",
    }
    assert resolve(environ=environ).security == "ssl"


def test_sql_sentinels_smtp_user_and_smtp_from_are_understood() -> None:
    environ = {
        "SMTP_HOST": "smtp.example.com",
        "SMTP_USER": "bot",
        "SMTP_PASSWORD": "s3cret-value",
        "SMTP_FROM": "Alerts <alerts@example.com>",
    }
    server = resolve(environ=environ)
    assert (server.username, server.from_address) == ("bot", "Alerts <alerts@example.com>")


def test_the_username_is_the_sender_when_it_is_an_address() -> None:
    environ = {"SMTP_USERNAME": "bot@example.com", "SMTP_PASSWORD": "s3cret-value"}
    server = resolve("smtp_host: smtp.example.com", environ=environ)
    assert server.from_address == "bot@example.com"


def test_an_environment_password_is_registered_for_redaction() -> None:
    environ = {"SMTP_USERNAME": "bot@example.com", "SMTP_PASSWORD": "pw"}
    config = load("smtp_host: smtp.example.com")
    build_notifiers(config.alerts[0], config.notifications, environ)
    assert redactor.scrub("login pw failed") == "login *** failed"


def test_the_channel_names_its_recipients_as_its_target() -> None:
    config = load("smtp_host: smtp.example.com", "from_address: a@example.com")
    (channel,) = build_notifiers(config.alerts[0], config.notifications, {})
    assert isinstance(channel, email.EmailNotifier)
    assert (channel.channel, channel.target) == ("email", "oncall@example.com, data@example.com")


# --- what is said when a setting is missing or wrong ---------------------------------------


def test_no_smtp_host_says_what_to_set() -> None:
    assert reason("from_address: a@example.com") == (
        "no SMTP server is configured: set notifications.email.smtp_host or the SMTP_HOST "
        "environment variable"
    )


def test_sqlsentinel_test_names_the_alert_the_channel_and_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        check_channels(load("from_address: a@example.com"), {})
    assert str(caught.value) == (
        "alerts.yaml:10: alert 'daily_revenue' field 'notify[0]': the email channel cannot send: "
        "no SMTP server is configured: set notifications.email.smtp_host or the SMTP_HOST "
        "environment variable"
    )


@pytest.mark.parametrize("port", ["smtp", "0", "70000", "587.0", "²"])
def test_a_port_that_is_not_a_number_names_smtp_port(port: str) -> None:
    assert reason("smtp_host: h", "from_address: a@example.com", environ={"SMTP_PORT": port}) == (
        f"SMTP_PORT must be a port number from 1 to 65535, not '{port}'"
    )


def test_a_username_without_a_password_says_where_to_put_the_password() -> None:
    assert reason("smtp_host: h", "smtp_username: bot@example.com") == (
        "an SMTP username ('bot@example.com') is set but no password: set "
        "notifications.email.smtp_password or the SMTP_PASSWORD environment variable"
    )


def test_a_password_without_a_username_says_where_to_put_the_username() -> None:
    message = reason(
        "smtp_host: h", "from_address: a@example.com", environ={"SMTP_PASSWORD": "s3cret-pw"}
    )
    assert message == (
        "an SMTP password is set but no username: set notifications.email.smtp_username or "
        "the SMTP_USERNAME environment variable"
    )
    assert "s3cret-pw" not in message


def test_no_sender_address_says_what_to_set() -> None:
    environ = {"SMTP_USERNAME": "bot", "SMTP_PASSWORD": "s3cret-pw"}
    assert reason("smtp_host: h", environ=environ) == (
        "no sender address is configured: set notifications.email.from_address or the "
        "SMTP_FROM_ADDRESS environment variable"
    )


def test_a_sender_from_the_environment_must_be_an_address() -> None:
    assert reason("smtp_host: h", environ={"SMTP_FROM_ADDRESS": "alerts"}) == (
        "SMTP_FROM_ADDRESS (or SMTP_FROM) 'alerts' is not an email address"
    )


def test_an_unknown_smtp_security_lists_the_choices() -> None:
    assert reason("smtp_host: h", environ={"SMTP_SECURITY": "TLS"}) == (
        "SMTP_SECURITY must be starttls, ssl or none, not 'tls'"
    )


def test_an_smtp_use_tls_that_is_not_a_boolean_says_so() -> None:
    assert reason("smtp_host: h", environ={"SMTP_USE_TLS": "maybe"}) == (
        "SMTP_USE_TLS must be true or false, not 'maybe'"
    )


@pytest.mark.parametrize(
    ("timeout", "why"),
    [("soon", "'soon' is not a duration"), ("0", "must be longer than 0 seconds")],
)
def test_a_bad_smtp_timeout_says_why(timeout: str, why: str) -> None:
    message = reason(
        "smtp_host: h", "from_address: a@example.com", environ={"SMTP_TIMEOUT": timeout}
    )
    assert message.startswith(f"SMTP_TIMEOUT: {why}")


def test_a_ca_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    message = reason("smtp_host: h", "from_address: a@example.com", f"ca_file: {missing}")
    assert message.startswith(f"the CA bundle '{missing}' (ca_file or SMTP_CA_FILE) cannot be read")


def test_a_ca_file_is_not_needed_for_a_plain_relay(tmp_path: Path) -> None:
    config = load(
        "smtp_host: h", "from_address: a@example.com", "security: none",
        f"ca_file: {tmp_path / 'missing.pem'}",
    )  # fmt: skip
    (channel,) = build_notifiers(config.alerts[0], config.notifications, {})
    assert isinstance(channel, email.EmailNotifier)


def test_a_recipient_with_a_line_break_cannot_inject_headers() -> None:
    text = (
        'database: "sqlite:///data.db"\nnotifications: {email: {smtp_host: h, from_address: '
        'a@example.com}}\nalerts:\n  - name: a\n    query: SELECT 1\n    schedule: "0 9 * * *"\n'
        '    notify: [{channel: email, recipients: ["x@example.com\\nBcc: y@example.com"]}]\n'
    )
    with pytest.raises(ConfigError, match="contains a control character"):
        load_config_text(text, environ={})


def test_a_sender_from_the_environment_with_a_line_break_cannot_inject_headers() -> None:
    text = (
        'database: "sqlite:///data.db"\nnotifications: {email: {smtp_host: h}}\nalerts:\n'
        '  - name: a\n    query: SELECT 1\n    schedule: "0 9 * * *"\n'
        "    notify: [{channel: email, recipients: [x@example.com]}]\n"
    )
    config = load_config_text(text, environ={})
    environ = {"SMTP_FROM_ADDRESS": "a@example.com\nBcc: y@example.com"}
    (channel,) = build_notifiers(config.alerts[0], config.notifications, environ)
    assert isinstance(channel, Unavailable)
    assert "control character" in channel.reason


# --- the rendered message (dry run) --------------------------------------------------------


def test_the_dry_run_shows_headers_and_both_parts_but_never_the_password() -> None:
    config = load(
        "smtp_host: smtp.example.com",
        "smtp_username: bot@example.com",
        "smtp_password: hunter2-hunter2",
    )
    spec = config.alerts[0].notify[0]
    assert isinstance(spec, EmailChannel)
    channel = email.create(spec, config.notifications, {})
    slot = datetime(2026, 11, 27, 9, tzinfo=UTC)
    context = {"note": "café", "html": "<b>"}
    result = QueryResult(Status.ALERT, actual_value=3, threshold=5, context=context)
    notification = Notification(config.alerts[0], Kind.FIRING, result, slot=slot, sent_at=slot)

    text = channel.render(notification)

    assert "From: bot@example.com\n" in text
    assert "To: oncall@example.com, data@example.com\n" in text
    assert "Subject: [FIRING] daily_revenue is FIRING: 3 (threshold 5)\n" in text
    assert "Date: Fri, 27 Nov 2026 09:00:00 +0000\n" in text
    assert f"Message-ID: <{notification.message_id_hash}@example.com>\n" in text
    assert "Content-Type: text/plain" in text
    assert "Content-Type: text/html" in text
    assert "note: café" in text  # readable, not quoted-printable
    assert '<td style="padding:4px 12px 4px 0;text-align:left;vertical-align:top">&lt;b&gt;' in text
    assert "hunter2" not in text


def test_settings_resolution_needs_no_config_file() -> None:
    environ = {"SMTP_HOST": "smtp.example.com", "SMTP_FROM_ADDRESS": "a@example.com"}
    assert email.resolve(NotificationSettings(), environ).host == "smtp.example.com"
