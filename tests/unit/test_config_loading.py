"""Configs that are right load into what they say: the SQL Sentinel format, and our extensions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sqlsentinel.config import DEFAULT_DATA_SOURCE, Config, load_config, load_config_text
from sqlsentinel.config.schema import EmailChannel, SlackChannel, WebhookChannel
from sqlsentinel.errors import ConfigError
from sqlsentinel.models import EmptyResult, Severity
from sqlsentinel.redact import redactor

FIXTURES = Path(__file__).parent.parent / "fixtures"
SQL_SENTINEL_ENV = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
    "WEBHOOK_URL": "https://alerts.example.com/hooks/sqlsentinel",
    "WEBHOOK_TOKEN": "tok-5ecret-value",
}
DB = 'database: {url: "sqlite:///data.db"}\n'


def alerts(*bodies: str) -> str:
    """Return an ``alerts:`` list with one minimal alert per body (extra keys, indented 4)."""
    out = "alerts:\n"
    for index, body in enumerate(bodies):
        out += f'  - name: a{index}\n    query: SELECT 1\n    schedule: "*/5 * * * *"\n'
        out += "".join(f"    {line}\n" for line in body.splitlines())
    return out


def load(text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config_text(text, source="alerts.yaml", environ=environ or {})


# --- the public SQL Sentinel format ---------------------------------------------------------


def test_the_sql_sentinel_fixture_uses_the_documented_double_channel_key() -> None:
    text = (FIXTURES / "sql_sentinel_documented_forms.yaml").read_text(encoding="utf-8")
    slack_entry = text.split("- channel: slack", 1)[1].split("- channel: webhook", 1)[0]
    assert 'channel: "#alerts"' in slack_entry
    assert "sqlite:///examples/sample_data.db" in text


def test_it_loads_the_design_example_verbatim() -> None:
    config = load_config(FIXTURES / "sql_sentinel_format.yaml", environ=SQL_SENTINEL_ENV)
    (alert,) = config.alerts
    assert alert.query.endswith("FROM orders WHERE date = date('now', '-1 day')")
    assert [channel.channel for channel in alert.notify] == ["email", "slack", "webhook"]
    assert alert.notify[2].headers == {"Authorization": "Bearer tok-5ecret-value"}  # type: ignore[union-attr]


def test_it_loads_a_sql_sentinel_config_unchanged() -> None:
    config = load_config(FIXTURES / "sql_sentinel_documented_forms.yaml", environ=SQL_SENTINEL_ENV)

    assert config.data_sources[DEFAULT_DATA_SOURCE].url == "sqlite:///examples/sample_data.db"
    assert [alert.name for alert in config.alerts] == ["daily_revenue_check", "refunds_check"]
    revenue = config.alert("daily_revenue_check")
    assert revenue.description == "Alert when yesterday's revenue is below $10,000"
    assert revenue.enabled is True
    assert revenue.query.startswith("SELECT\n  CASE WHEN SUM(amount) < 10000 THEN 'ALERT'")
    assert revenue.query.endswith("WHERE date = date('now', '-1 day')")
    assert revenue.schedule.expression == "0 9 * * *"
    assert revenue.timezone == "UTC"
    assert revenue.database == DEFAULT_DATA_SOURCE

    email, slack, webhook = revenue.notify
    assert isinstance(email, EmailChannel)
    assert email.recipients == ["alerts@example.com", "finance@example.com"]
    assert email.subject == "Revenue Alert: {alert_name}"
    assert isinstance(slack, SlackChannel)
    assert slack.webhook_url == SQL_SENTINEL_ENV["SLACK_WEBHOOK_URL"]
    assert slack.slack_channel == "#alerts"
    assert slack.username == "SQL Sentinel"
    assert isinstance(webhook, WebhookChannel)
    assert webhook.url == SQL_SENTINEL_ENV["WEBHOOK_URL"]
    assert webhook.method == "POST"
    assert webhook.headers == {
        "Authorization": "Bearer tok-5ecret-value",
        "Content-Type": "application/json",
    }

    refunds = config.alert("refunds_check")
    assert refunds.enabled is False
    assert config.enabled_alerts == (revenue,)


def test_it_reads_a_slack_channel_override_written_as_slack_channel_too() -> None:
    config = load(
        DB
        + alerts(
            "notify:\n"
            "  - channel: slack\n"
            "    webhook_url: https://hooks.slack.com/services/T/B/X\n"
            "    slack_channel: '#ops'\n"
        )
    )
    (slack,) = config.alerts[0].notify
    assert isinstance(slack, SlackChannel)
    assert slack.slack_channel == "#ops"


def test_it_accepts_webhook_as_the_slack_url_key_and_lowercase_http_methods() -> None:
    config = load(
        DB
        + alerts(
            "notify:\n"
            "  - channel: slack\n"
            "    webhook: https://hooks.slack.com/services/T/B/X\n"
            "  - channel: webhook\n"
            "    url: https://example.com/hook\n"
            "    method: put\n"
        )
    )
    slack, webhook = config.alerts[0].notify
    assert isinstance(slack, SlackChannel)
    assert slack.webhook_url == "https://hooks.slack.com/services/T/B/X"
    assert isinstance(webhook, WebhookChannel)
    assert webhook.method == "PUT"


def test_it_accepts_recipients_written_as_one_comma_separated_string() -> None:
    config = load(
        DB + alerts("notify:\n  - channel: email\n    recipients: a@example.com, b@example.com\n")
    )
    (email,) = config.alerts[0].notify
    assert isinstance(email, EmailChannel)
    assert email.recipients == ["a@example.com", "b@example.com"]


def test_it_loads_a_file_that_starts_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (DB + alerts("")).encode())
    config = load_config(path, environ={})
    assert config.source == str(path)
    assert config.alerts[0].name == "a0"


# --- defaults -------------------------------------------------------------------------------


def test_it_applies_the_built_in_policy_to_an_alert_that_sets_nothing() -> None:
    (alert,) = load(DB + alerts("")).alerts
    assert alert.timezone == "UTC"
    assert alert.timeout == timedelta(seconds=30)
    assert alert.cooldown == timedelta(hours=1)
    assert alert.min_consecutive == 1
    assert alert.misfire_grace == timedelta(minutes=5)
    assert alert.notify_on_recovery is True
    assert alert.notify_on_error is True
    assert alert.severity is Severity.WARNING
    assert dict(alert.labels) == {}
    assert alert.runbook_url is None
    assert alert.empty_result is EmptyResult.ERROR
    assert alert.notify == ()
    assert alert.enabled is True


DEFAULTS = """\
defaults:
  timezone: Europe/Berlin
  timeout: 10s
  cooldown: 2h
  min_consecutive: 3
  misfire_grace: 15m
  notify_on_recovery: false
  notify_on_error: false
  severity: CRITICAL
  runbook_url: https://wiki.example.com/runbook
  empty_result: ok
  labels: {team: data, tier: 1}
  notify:
    - channel: email
      recipients: [oncall@example.com]
"""


def test_it_applies_defaults_to_every_alert_that_does_not_set_the_field() -> None:
    config = load(DB + DEFAULTS + alerts(""))
    (alert,) = config.alerts
    assert alert.timezone == "Europe/Berlin"
    assert alert.timeout == timedelta(seconds=10)
    assert alert.cooldown == timedelta(hours=2)
    assert alert.min_consecutive == 3
    assert alert.misfire_grace == timedelta(minutes=15)
    assert alert.notify_on_recovery is False
    assert alert.notify_on_error is False
    assert alert.severity is Severity.CRITICAL
    assert alert.runbook_url == "https://wiki.example.com/runbook"
    assert alert.empty_result is EmptyResult.OK
    assert dict(alert.labels) == {"team": "data", "tier": "1"}
    (email,) = alert.notify
    assert isinstance(email, EmailChannel)
    assert email.recipients == ["oncall@example.com"]


def test_an_alert_overrides_defaults_field_by_field_and_merges_labels() -> None:
    config = load(
        DB
        + DEFAULTS
        + alerts(
            "timezone: America/New_York\n"
            "timeout: 90\n"
            "min_consecutive: 1\n"
            "notify_on_error: true\n"
            "severity: info\n"
            "empty_result: ALERT\n"
            "labels: {tier: 2, owner: ana}\n"
            "notify: []\n",
            "",
        )
    )
    custom, plain = config.alerts
    assert custom.timezone == "America/New_York"
    assert custom.timeout == timedelta(seconds=90)
    assert custom.min_consecutive == 1
    assert custom.notify_on_error is True
    assert custom.severity is Severity.INFO
    assert custom.empty_result is EmptyResult.ALERT
    assert dict(custom.labels) == {"team": "data", "tier": "2", "owner": "ana"}
    assert custom.notify == ()
    # what the alert did not set still comes from defaults
    assert custom.cooldown == timedelta(hours=2)
    assert custom.notify_on_recovery is False
    # and the override did not leak into the next alert
    assert plain.timezone == "Europe/Berlin"
    assert dict(plain.labels) == {"team": "data", "tier": "1"}
    assert len(plain.notify) == 1


# --- data sources ---------------------------------------------------------------------------


def test_it_runs_each_alert_on_its_named_database() -> None:
    config = load(
        "databases:\n"
        "  sales: {url: 'postgresql://reader@db.internal/sales'}\n"
        "  logs: {url: 'sqlite:///logs.db'}\n"
        "defaults:\n"
        "  database: sales\n" + alerts("database: logs", "")
    )
    assert {name: source.url for name, source in config.data_sources.items()} == {
        "sales": "postgresql://reader@db.internal/sales",
        "logs": "sqlite:///logs.db",
    }
    assert [alert.database for alert in config.alerts] == ["logs", "sales"]


def test_it_uses_the_only_named_database_implicitly() -> None:
    config = load("databases:\n  warehouse: {url: 'sqlite:///w.db'}\n" + alerts(""))
    assert config.alerts[0].database == "warehouse"


def test_alerts_without_a_database_use_the_top_level_one_next_to_named_ones() -> None:
    config = load(
        DB + "databases:\n  other: {url: 'sqlite:///o.db'}\n" + alerts("", "database: other")
    )
    assert [alert.database for alert in config.alerts] == [DEFAULT_DATA_SOURCE, "other"]
    assert set(config.data_sources) == {DEFAULT_DATA_SOURCE, "other"}


def test_it_accepts_a_database_url_written_as_a_plain_string() -> None:
    config = load('database: "sqlite:///x.db"\ndatabases:\n  b: " sqlite:///b.db "\n' + alerts(""))
    assert config.data_sources[DEFAULT_DATA_SOURCE].url == "sqlite:///x.db"
    assert config.data_sources["b"].url == "sqlite:///b.db"


def test_it_reads_the_state_database_url() -> None:
    config = load(DB + "state: {url: 'postgresql://state@db/sentinel'}\n" + alerts(""))
    assert config.state_url == "postgresql://state@db/sentinel"
    assert load(DB + alerts("")).state_url is None


# --- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("'90'", timedelta(seconds=90)),
        ("2.5", timedelta(seconds=2.5)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1H 30M", timedelta(hours=1, minutes=30)),
    ],
)
def test_it_reads_durations_in_seconds_or_with_units(written: str, expected: timedelta) -> None:
    (alert,) = load(DB + alerts(f"misfire_grace: {written}\ncooldown: {written}")).alerts
    assert alert.misfire_grace == expected
    assert alert.cooldown == expected


def test_a_timeout_of_up_to_six_hours_is_allowed() -> None:
    (alert,) = load(DB + alerts("timeout: 6h")).alerts
    assert alert.timeout == timedelta(hours=6)


def test_a_cooldown_of_zero_is_allowed() -> None:
    (alert,) = load(DB + alerts("cooldown: 0")).alerts
    assert alert.cooldown == timedelta(0)


@pytest.mark.parametrize(
    ("alias", "after", "expected"),
    [
        ("@hourly", "2026-03-04T10:15:00", "2026-03-04T11:00:00"),
        ("@daily", "2026-03-04T10:15:00", "2026-03-05T00:00:00"),
        ("@midnight", "2026-03-04T10:15:00", "2026-03-05T00:00:00"),
        ("@weekly", "2026-03-04T10:15:00", "2026-03-08T00:00:00"),  # next Sunday
        ("@monthly", "2026-03-04T10:15:00", "2026-04-01T00:00:00"),
        ("@yearly", "2026-03-04T10:15:00", "2027-01-01T00:00:00"),
        ("@annually", "2026-03-04T10:15:00", "2027-01-01T00:00:00"),
        ("@HOURLY", "2026-03-04T10:15:00", "2026-03-04T11:00:00"),
    ],
)
def test_it_accepts_the_at_aliases_of_cron(alias: str, after: str, expected: str) -> None:
    (alert,) = load(DB + alerts("").replace('"*/5 * * * *"', f'"{alias}"')).alerts
    assert alert.schedule.expression == alias.lower()
    start = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert alert.schedule.next_after(start) == datetime.fromisoformat(expected).replace(tzinfo=UTC)


@pytest.mark.parametrize("weekday", ["0", "7", "SUN"])
def test_weekday_0_and_7_both_mean_sunday(weekday: str) -> None:
    text = DB + alerts("").replace('"*/5 * * * *"', f'"0 9 * * {weekday}"')
    (alert,) = load(text).alerts
    wednesday = datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert alert.schedule.next_after(wednesday) == datetime(2026, 3, 8, 9, tzinfo=UTC)


def test_it_collapses_extra_spaces_in_a_cron_expression() -> None:
    (alert,) = load(DB + alerts("").replace('"*/5 * * * *"', '"0   9 * *  1-5"')).alerts
    assert alert.schedule.expression == "0 9 * * 1-5"


@pytest.mark.parametrize(
    ("zone", "utc_hour"),
    [("UTC", 9), ("Europe/Berlin", 8), ("America/New_York", 14), ("Asia/Kolkata", 3)],
)
def test_it_reads_the_schedule_in_the_alerts_timezone(zone: str, utc_hour: int) -> None:
    text = DB + alerts(f"timezone: {zone}").replace('"*/5 * * * *"', '"0 9 * * *"')
    (alert,) = load(text).alerts
    assert alert.timezone == zone
    # 9:00 local on 4 March 2026 (no daylight saving anywhere here yet)
    run = alert.schedule.next_after(datetime(2026, 3, 3, 18, 0, tzinfo=UTC))
    assert (run.hour, run.minute) == (utc_hour, 30 if zone == "Asia/Kolkata" else 0)


# --- environment variables ------------------------------------------------------------------


def test_it_expands_variables_from_the_given_environment() -> None:
    config = load(
        "database: {url: 'postgresql://app:${DB_PASSWORD}@${DB_HOST}/sales'}\n"
        + alerts("description: 'owned by ${TEAM}'"),
        environ={"DB_PASSWORD": "pw", "DB_HOST": "db.internal", "TEAM": "data"},
    )
    assert config.data_sources[DEFAULT_DATA_SOURCE].url == "postgresql://app:pw@db.internal/sales"
    assert config.alerts[0].description == "owned by data"


def test_it_uses_the_default_of_a_variable_that_is_unset_or_empty() -> None:
    text = DB + alerts("description: '${TEAM:-nobody}'\ntimeout: '${TIMEOUT:-45s}'")
    assert load(text).alerts[0].description == "nobody"
    assert load(text).alerts[0].timeout == timedelta(seconds=45)
    assert load(text, environ={"TEAM": ""}).alerts[0].description == "nobody"
    assert load(text, environ={"TEAM": "data"}).alerts[0].description == "data"
    assert load(text, environ={"TIMEOUT": "2m"}).alerts[0].timeout == timedelta(minutes=2)


def test_a_default_may_be_empty_or_contain_colons_and_slashes() -> None:
    text = DB + alerts(
        "description: 'x${EMPTY:-}y'\nrunbook_url: '${RUNBOOK:-https://wiki.example.com/a}'"
    )
    (alert,) = load(text).alerts
    assert alert.description == "xy"
    assert alert.runbook_url == "https://wiki.example.com/a"


def test_a_doubled_dollar_writes_a_literal_variable_reference() -> None:
    text = DB + alerts("description: 'costs $$5, template $${NAME} stays'")
    assert load(text).alerts[0].description == "costs $$5, template ${NAME} stays"


def test_it_never_expands_variables_inside_a_query() -> None:
    text = DB + alerts("").replace(
        "query: SELECT 1", "query: \"SELECT '${TABLE}' AS status, '$${X}' AS y\""
    )
    for environ in ({}, {"TABLE": "orders"}):
        (alert,) = load(text, environ=environ).alerts
        assert alert.query == "SELECT '${TABLE}' AS status, '$${X}' AS y"


def test_it_never_expands_variables_in_keys() -> None:
    (alert,) = load(DB + alerts("labels: {'${KEY}': v}"), environ={"KEY": "k"}).alerts
    assert dict(alert.labels) == {"${KEY}": "v"}


def test_an_expanded_value_is_text_and_never_yaml_structure() -> None:
    (alert,) = load(
        DB + alerts("description: '${EVIL}'"), environ={"EVIL": "x\nenabled: false\n- y"}
    ).alerts
    assert alert.description == "x\nenabled: false\n- y"
    assert alert.enabled is True


def test_it_reads_the_process_environment_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SQLSENTINEL_TEST_TEAM", "platform")
    config = load_config_text(DB + alerts("description: '${SQLSENTINEL_TEST_TEAM}'"))
    assert config.alerts[0].description == "platform"


# --- YAML features --------------------------------------------------------------------------


def test_it_supports_yaml_anchors_and_merge_keys() -> None:
    text = DB + (
        "alerts:\n"
        "  - &first\n"
        "    name: first\n"
        "    query: SELECT 1\n"
        "    schedule: '0 * * * *'\n"
        "    timeout: 5m\n"
        "    labels: {team: data}\n"
        "  - <<: *first\n"
        "    name: second\n"
        "    query: SELECT 2\n"
        "    timeout: 10s\n"
    )
    first, second = load(text).alerts
    assert (first.name, first.timeout) == ("first", timedelta(minutes=5))
    assert second.name == "second"
    assert second.query == "SELECT 2"
    assert second.schedule.expression == "0 * * * *"
    assert second.timeout == timedelta(seconds=10)
    assert dict(second.labels) == {"team": "data"}


def test_a_merged_key_error_points_at_the_alert_that_merges_it() -> None:
    text = DB + (
        "alerts:\n"
        "  - &first\n"
        "    name: first\n"
        "    query: SELECT 1\n"
        "    schedule: '0 * * * *'\n"
        "  - <<: *first\n"
        "    name: second\n"
        "    timeout: -1s\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(text)
    (problem,) = caught.value.problems
    assert (problem.line, problem.alert, problem.field) == (9, "second", "timeout")


def test_it_records_the_line_of_each_alert() -> None:
    config = load(DB + alerts("", ""))
    assert [alert.line for alert in config.alerts] == [3, 6]


def test_it_suggests_a_close_name_for_an_unknown_alert() -> None:
    config = load(DB + alerts("", "").replace("name: a0", "name: daily_revenue"))
    with pytest.raises(ConfigError) as caught:
        config.alert("daily_revenu")
    assert str(caught.value) == (
        "there is no alert named 'daily_revenu' in alerts.yaml; did you mean 'daily_revenue'? "
        "the alerts are: daily_revenue, a1"
    )


# --- secrets --------------------------------------------------------------------------------


def test_it_registers_every_secret_with_the_redactor() -> None:
    load(
        "databases:\n"
        "  main: {url: 'postgresql://app:db-pa55word@db.internal/sales'}\n"
        "  other: {url: 'mysql+pymysql://db.internal/x?password=qu3ry-pw&charset=utf8mb4'}\n"
        "state: {url: 'postgresql://state:st4te-pw@db.internal/state'}\n"
        "notifications:\n"
        "  email: {smtp_host: smtp.example.com, smtp_password: '${SMTP_PASSWORD}'}\n"
        "  slack: {webhook_url: 'https://hooks.slack.com/services/T/B/defaultS3cret'}\n"
        "defaults:\n"
        "  database: main\n"
        + alerts(
            "notify:\n"
            "  - channel: webhook\n"
            "    url: 'https://hooks.example.com/in?token=url-t0ken&team=data'\n"
            "    secret: hmac-s1gning-key\n"
            "    headers:\n"
            "      Authorization: 'Bearer ${WEBHOOK_TOKEN}'\n"
            "      X-Api-Key: k3y-value\n"
            "      Content-Type: application/json\n"
            "      X-Environment: production\n"
            "  - channel: webhook\n"
            "    url: https://events.pagerduty.com/v2/enqueue\n"
            "    headers: {Authorization: 'Token token=pd-t0ken'}\n"
        ),
        environ={"SMTP_PASSWORD": "smtp-pa55", "WEBHOOK_TOKEN": "tok-123456"},
    )
    secrets = (
        "db-pa55word qu3ry-pw st4te-pw smtp-pa55 "
        "https://hooks.slack.com/services/T/B/defaultS3cret "
        "url-t0ken hmac-s1gning-key tok-123456 k3y-value pd-t0ken"
    )
    assert redactor.scrub(secrets) == " ".join(["***"] * 10)
    assert redactor.scrub("Bearer tok-123456") == "***"
    # values that are not credentials stay readable
    public = "application/json production team=data charset=utf8mb4 Bearer"
    assert redactor.scrub(public) == public


def test_it_registers_the_secrets_of_the_sql_sentinel_format() -> None:
    load_config(FIXTURES / "sql_sentinel_documented_forms.yaml", environ=SQL_SENTINEL_ENV)
    scrubbed = redactor.scrub(
        f"posting to {SQL_SENTINEL_ENV['SLACK_WEBHOOK_URL']} with tok-5ecret-value"
    )
    assert scrubbed == "posting to *** with ***"


def test_it_registers_a_webhook_url_whose_path_is_the_token() -> None:
    url = "https://discord.com/api/webhooks/1234/Zq9-path-t0ken"
    load(DB + alerts(f"notify:\n  - channel: webhook\n    url: '{url}'\n"))
    assert redactor.scrub(f"POST {url} failed") == "POST *** failed"


# --- extension fields -----------------------------------------------------------------------


def test_top_level_x_keys_hold_anchors_and_are_not_validated() -> None:
    config = load(
        "x-oncall: &oncall\n"
        "  - channel: email\n"
        "    recipients: [oncall@example.com]\n"
        "x-fast: &fast {schedule: '*/5 * * * *', timeout: 10s}\n"
        "x-anything: {whatever: [1, 2]}\n" + DB + "alerts:\n"
        "  - <<: *fast\n"
        "    name: a\n"
        "    query: SELECT 'OK' AS status\n"
        "    notify: *oncall\n"
    )
    (alert,) = config.alerts
    assert alert.timeout == timedelta(seconds=10)
    assert alert.schedule.expression == "*/5 * * * *"
    assert [channel.channel for channel in alert.notify] == ["email"]


def test_only_top_level_keys_starting_with_x_dash_are_extensions() -> None:
    with pytest.raises(ConfigError, match="unknown key 'x_oncall'"):
        load("x_oncall: 1\n" + DB + alerts(""))


def test_no_secret_appears_in_the_repr_of_config_objects() -> None:
    config = load(
        "database: {url: 'postgresql://app:Repr-Pa55word@db/x'}\n"
        "state: {url: 'postgresql://st:Repr-State-pw@db/s'}\n"
        "notifications:\n"
        "  email: {smtp_host: smtp.example.com, smtp_password: Repr-Smtp-pw}\n"
        "  slack: {webhook_url: 'https://hooks.slack.com/services/T/B/ReprSlack'}\n"
        + alerts(
            "notify:\n"
            "  - channel: webhook\n"
            "    url: 'https://example.com/hook/Repr-Path-token'\n"
            "    secret: Repr-Hmac-key\n"
            "    headers: {Authorization: 'Bearer Repr-Bearer'}\n"
            "  - channel: slack\n"
            "    webhook_url: 'https://hooks.slack.com/services/T/B/ReprSlack2'\n"
        )
    )
    shown = repr(config) + repr(config.alerts) + repr(config.data_sources)
    for secret in (
        "Repr-Pa55word",
        "Repr-State-pw",
        "Repr-Smtp-pw",
        "ReprSlack",
        "Repr-Path-token",
        "Repr-Hmac-key",
        "Repr-Bearer",
    ):
        assert secret not in shown


def test_moving_an_alert_in_the_file_does_not_change_it() -> None:
    first = load(DB + alerts("")).alerts[0]
    moved = load("\n\n" + DB + alerts("")).alerts[0]
    assert first.line != moved.line
    assert first == moved
