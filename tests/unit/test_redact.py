"""Secrets stay out of what people and log collectors read: URLs, messages, tracebacks."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from sqlsentinel.config import load_config_text
from sqlsentinel.config.secrets import url_secrets
from sqlsentinel.notifications.factory import build_notifiers, target_of
from sqlsentinel.redact import (
    MASK,
    RedactingFormatter,
    Redactor,
    redact_url,
    redact_urls_in,
    redactor,
    url_password,
)

PASSWORD = "Pw-7f3kQz9"

# --- redact_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://alice:{PASSWORD}@db:5432/app", "postgresql://alice:***@db:5432/app"),
        (
            f"mysql+pymysql://root:{PASSWORD}@127.0.0.1/test",
            "mysql+pymysql://root:***@127.0.0.1/test",
        ),
        ("postgresql://alice:p%40ss%2Fw@db/app", "postgresql://alice:***@db/app"),
        (f"postgresql://:{PASSWORD}@db/app", "postgresql://:***@db/app"),
        # a literal '@' in the password: all of it stays hidden, not just the part before '@'
        ("postgresql://alice:p@ss@db/app", "postgresql://alice:***@db/app"),
        ("postgresql://alice:a/b?c@db/app?x=1", "postgresql://alice:***@db/app?x=1"),
        (
            f"postgresql://db/app?user=alice&password={PASSWORD}&sslmode=require",
            "postgresql://db/app?user=alice&password=***&sslmode=require",
        ),
        (f"postgresql://db/app?PASSWORD={PASSWORD}#frag", "postgresql://db/app?PASSWORD=***#frag"),
        ("https://example.com/hook?token=abc&x=1", "https://example.com/hook?token=***&x=1"),
    ],
)
def test_a_database_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice@db:5432/app",
        "postgresql://db/app",
        "postgresql://db:5432/app?sslmode=require",
        "sqlite:///examples/sample_data.db",
        "sqlite:////var/lib/sqlsentinel/state.db",
        "sqlite:///:memory:",
        "sqlite://",
        "postgresql://alice:@db/app",
    ],
)
def test_a_url_without_a_password_is_unchanged(url: str) -> None:
    assert redact_url(url) == url
    assert url_password(url) is None


def test_url_password_is_percent_decoded() -> None:
    assert url_password(f"postgresql://alice:{PASSWORD}@db/app") == PASSWORD
    assert url_password("postgresql://alice:p%40ss%2Fw@db/app") == "p@ss/w"


def test_hide_path_masks_a_slack_webhook_secret_path() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"
    assert redact_url(url, hide_path=True) == "https://hooks.slack.com/services/***"
    assert redact_url(url) == url


def test_hide_path_masks_a_one_segment_path_entirely() -> None:
    assert redact_url("https://example.com/s3cr3t", hide_path=True) == "https://example.com/***"


AZURE_KEY = "pQ7vZ2xR9kLm4TnB8wYc3HdJ6sAf1GeU0iOq5yXr+Vb/Nh=="


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"https://fn.azurewebsites.net/api/alert?code={AZURE_KEY}",
            "https://fn.azurewebsites.net/api/***?***",
        ),
        ("https://example.com/hook?v=2&sig=abc#frag", "https://example.com/***?***"),
        ("https://example.com/hook#access_token=abc", "https://example.com/***#***"),
        ("https://example.com?code=abc", "https://example.com?***"),
        ("https://u:pw@example.com/a/b?code=abc", "https://u:***@example.com/a/***?***"),
    ],
)
def test_hide_path_masks_the_whole_query_whatever_its_parameter_names(url: str, shown: str) -> None:
    assert redact_url(url, hide_path=True) == shown


def test_a_receivers_url_registers_every_long_query_value_as_a_secret() -> None:
    url = f"https://fn.example.net/api/alert?code={AZURE_KEY}&v=2&format=json&sig=x"
    found = url_secrets(url, every_query_value=True)
    assert AZURE_KEY in found  # as written: a base64 key keeps its '+'
    assert AZURE_KEY.replace("+", " ") in found  # as a form decoder reads it
    assert "x" in found  # a credential-like name: registered whatever its length
    assert {"2", "json"}.isdisjoint(found)  # short settings, which would mangle the output
    assert AZURE_KEY not in url_secrets(url)  # a data source keeps the name-based rule


def test_the_config_registers_the_query_values_of_webhook_and_slack_urls() -> None:
    config = load_config_text(
        'database: "sqlite:///data.db"\n'
        "notifications:\n  slack: {webhook_url: 'https://relay.example/s?key2=slack-query-secret'}\n"
        "alerts:\n  - name: a\n    query: SELECT 1\n    schedule: '@hourly'\n    notify:\n"
        f"      - {{channel: webhook, url: 'https://fn.example.net/api/alert?code={AZURE_KEY}'}}\n"
        "      - {channel: slack, webhook_url: 'https://chat.example/hooks/x?c=entry-query-secret'}\n",
        environ={},
    )
    secrets = config.secrets()
    assert {AZURE_KEY, "slack-query-secret", "entry-query-secret"} <= secrets
    assert AZURE_KEY in redactor.secrets  # the loader registered them


def test_every_channel_names_its_target_with_target_of_and_no_secret() -> None:
    config = load_config_text(
        'database: "sqlite:///data.db"\n'
        "alerts:\n  - name: a\n    query: SELECT 1\n    schedule: '@hourly'\n    notify:\n"
        "      - {channel: email, recipients: [oncall@example.com, data@example.com]}\n"
        "      - {channel: ses, recipients: [oncall@example.com], from_address: a@example.com}\n"
        "      - {channel: sns, topic_arn: 'arn:aws:sns:eu-west-1:123456789012:alerts'}\n"
        f"      - {{channel: webhook, url: 'https://fn.example.net/api/alert?code={AZURE_KEY}'}}\n"
        "      - {channel: slack, webhook_url: 'https://hooks.slack.com/services/T0/B0/XXXX'}\n"
        "      - {channel: slack}\n",
        environ={},
    )
    environ = {
        "SMTP_HOST": "smtp.example.com",
        "SMTP_FROM_ADDRESS": "a@example.com",
        "AWS_REGION": "eu-west-1",
        "SLACK_WEBHOOK_URL": "https://relay.example/hooks/abc?token=from-the-environment",
    }
    alert = config.alerts[0]

    targets = [
        notifier.target for notifier in build_notifiers(alert, config.notifications, environ)
    ]

    assert targets == [
        "oncall@example.com, data@example.com",
        "oncall@example.com",
        "arn:aws:sns:eu-west-1:123456789012:alerts",
        "https://fn.example.net/api/***?***",
        "https://hooks.slack.com/services/***",
        "https://relay.example/hooks/***?***",  # the URL it was given, from the environment
    ]
    assert targets[:5] == [target_of(spec) for spec in alert.notify[:5]]
    assert target_of(alert.notify[5]) == "slack"  # the entry alone does not know the URL


def test_urls_inside_free_text_are_redacted() -> None:
    text = (
        f"alert 'a' field 'database': 'postgresql://u:{PASSWORD}@h:5432/test' is not a data "
        "source; see https://example.com/x?token=abc."
    )
    redacted = redact_urls_in(text)
    assert PASSWORD not in redacted
    assert "'postgresql://u:***@h:5432/test' is not a data source" in redacted
    assert "token=***" in redacted


# --- Redactor ---------------------------------------------------------------------------------


@pytest.fixture
def secrets() -> Redactor:
    return Redactor()


def test_a_long_secret_is_masked_anywhere_in_text(secrets: Redactor) -> None:
    token = "tok-8c1f0b2e9d7a4"
    secrets.add(token)
    assert secrets.scrub(f"auth x{token}y and {token}") == "auth x***y and ***"


def test_a_shorter_secret_is_masked_wherever_it_stands_on_its_own(secrets: Redactor) -> None:
    secrets.add(PASSWORD)
    assert (
        secrets.scrub(f"u:{PASSWORD}@h, '{PASSWORD}', KEY={PASSWORD}.")
        == "u:***@h, '***', KEY=***."
    )


def test_a_common_word_password_does_not_mangle_longer_words(secrets: Redactor) -> None:
    secrets.add("postgres")
    assert secrets.scrub("postgresql://postgres:postgres@db/x") == "postgresql://***:***@db/x"


def test_percent_encoded_forms_of_a_secret_are_masked_too(secrets: Redactor) -> None:
    secrets.add("p@ss/w rd")
    text = "raw p@ss/w rd, encoded p%40ss%2Fw%20rd, as SQLAlchemy writes it p%40ss%2Fw rd"
    assert secrets.scrub(text) == "raw ***, encoded ***, as SQLAlchemy writes it ***"


def test_a_secret_registered_encoded_is_masked_decoded(secrets: Redactor) -> None:
    secrets.add("p%40ss")
    assert secrets.scrub("p@ss and p%40ss") == "*** and ***"


def test_a_short_secret_is_masked_only_as_a_whole_word(secrets: Redactor) -> None:
    secrets.add("ab")
    assert secrets.scrub("ab cab abc ab. (ab)") == "*** cab abc ***. (***)"


def test_the_longest_overlapping_secret_wins(secrets: Redactor) -> None:
    secrets.add("secret", "secret-and-more")
    assert secrets.scrub("x secret-and-more y") == "x *** y"


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_secrets_are_ignored(secrets: Redactor, blank: str | None) -> None:
    secrets.add(blank)
    assert secrets.secrets == frozenset()
    assert secrets.scrub("nothing to hide   here") == "nothing to hide   here"


def test_add_url_registers_the_password_of_a_url(secrets: Redactor) -> None:
    secrets.add_url(f"postgresql://alice:{PASSWORD}@db/app")
    secrets.add_url("sqlite:///data.db")
    assert PASSWORD in secrets.secrets
    assert secrets.scrub(f"password {PASSWORD} rejected") == "password *** rejected"


def test_scrub_masks_url_passwords_it_was_never_told_about(secrets: Redactor) -> None:
    assert (
        secrets.scrub(f"cannot use 'mysql://u:{PASSWORD}@h/db'")
        == "cannot use 'mysql://u:***@h/db'"
    )


def test_clear_forgets_every_secret(secrets: Redactor) -> None:
    secrets.add(PASSWORD)
    secrets.clear()
    assert secrets.scrub(PASSWORD) == PASSWORD


def test_add_environment_registers_variables_whose_names_say_secret(secrets: Redactor) -> None:
    environ = {
        "DB_PASSWORD": "hunter2-db",
        "SMTP_PASSWD": "hunter2-smtp",
        "GITHUB_TOKEN": "ghp_abcdef",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "SERVICE_API_KEY": "api-key-value",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
        "HOME": "/home/alice",
        "PATH": "/usr/bin:/bin",
        "DB_HOST": "db.internal",
        "EMPTY_TOKEN": "",
    }
    secrets.add_environment(environ)
    assert {
        "hunter2-db",
        "hunter2-smtp",
        "ghp_abcdef",
        "aws-secret-value",
        "api-key-value",
        "https://hooks.slack.com/services/T/B/X",
    } <= secrets.secrets
    assert not {"/home/alice", "/usr/bin:/bin", "db.internal", ""} & secrets.secrets


def test_add_environment_skips_short_values_that_are_settings_not_secrets(
    secrets: Redactor,
) -> None:
    secrets.add_environment({"SECRET_ENABLED": "true", "TOKEN_TTL": "3600", "PGPASSWORD": "pw"})
    assert secrets.secrets == frozenset()
    assert secrets.scrub('{"dry_run": true, "ttl": 3600}') == '{"dry_run": true, "ttl": 3600}'


def test_add_environment_reads_os_environ_by_default(
    secrets: Redactor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQLSENTINEL_TEST_DB_PASSWORD", "from-the-environment")
    secrets.add_environment()
    assert secrets.scrub("it was from-the-environment") == "it was ***"


# --- RedactingFormatter -----------------------------------------------------------------------


@pytest.fixture
def log_output() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("sqlsentinel.tests.redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def test_the_formatter_masks_secrets_in_messages_and_arguments(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_output
    redactor.add(PASSWORD)
    logger.warning("connecting with %s", PASSWORD)
    logger.info(f"inline {PASSWORD}")
    output = stream.getvalue()
    assert PASSWORD not in output
    assert output.splitlines() == ["WARNING connecting with ***", "INFO inline ***"]


def test_the_formatter_masks_secrets_in_tracebacks(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_output
    redactor.add(PASSWORD)

    def connect(url: str) -> None:
        raise ConnectionError(f"could not log in with password {PASSWORD} to {url}")

    try:
        connect(f"postgresql://alice:{PASSWORD}@db/app")
    except ConnectionError:
        logger.exception("connection failed")
    output = stream.getvalue()
    assert "Traceback (most recent call last)" in output
    assert (
        "ConnectionError: could not log in with password *** to postgresql://alice:***@db/app"
        in output
    )
    assert PASSWORD not in output


def test_the_formatter_masks_url_passwords_nobody_registered(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_output
    logger.error("bad url %s", f"mysql://root:{PASSWORD}@h/db")
    assert stream.getvalue() == "ERROR bad url mysql://root:***@h/db\n"


def test_a_formatter_can_use_its_own_redactor(secrets: Redactor) -> None:
    secrets.add("only-mine")
    formatter = RedactingFormatter("%(message)s", secrets=secrets)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "value only-mine", None, None)
    assert formatter.format(record) == "value ***"
    assert MASK == "***"
