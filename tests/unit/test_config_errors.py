"""Every config mistake a user can make ends as exit 2 and a sentence that says what and where.

Each case runs the real command line in-process (``sqlsentinel test CONFIG``): the exit code,
the absence of a traceback and the exact location prefix (``alerts.yaml:LINE: alert 'NAME'
field 'FIELD': ``) are checked, plus the words that say what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sqlsentinel.cli import EXIT_CONFIG, main

DB = 'database: {url: "sqlite:///data.db"}\n'
ALERT = 'alerts:\n  - name: a\n    query: SELECT 1\n    schedule: "*/5 * * * *"\n'
"""One valid alert named 'a' on lines 2-5 (after DB on line 1); extra keys go on line 6."""
WITH = DB + ALERT
UNSET_VARIABLE = "SQLSENTINEL_TEST_NEVER_SET"

MISSING = object()
DIRECTORY = object()


@dataclass(frozen=True)
class Case:
    """A bad config, where its error must point, and the words the error must contain."""

    id: str
    content: str | bytes | object
    where: str
    says: tuple[str, ...]


def notify(entry: str) -> str:
    """Return the valid config with one notify entry (its first key on line 7)."""
    return WITH + "    notify:\n" + "".join(f"      {line}\n" for line in entry.splitlines())


CASES = [
    # --- the file itself
    Case(
        "malformed YAML",
        WITH + "    labels: [unclosed\n",
        ":7: ",
        ("is not valid YAML", "did not find expected ',' or ']'", "starts on line 6"),
    ),
    Case(
        "bad indentation",
        DB + "alerts:\n  - name: a\n   query: SELECT 1\n",
        ":4: ",
        ("is not valid YAML", "expected '-' indicator"),
    ),
    Case("tab indentation", DB + "alerts:\n\t- name: a\n", ":3: ", ("tab", "spaces")),
    Case("empty file", "", ": ", ("is empty", "'alerts:' list")),
    Case("only whitespace", "\n   \n\n", ": ", ("is empty",)),
    Case("only a comment", "# alerts go here\n", ": ", ("is empty", "'alerts:' list")),
    Case("top level is a list", "- name: a\n", ":1: ", ("must be a mapping", "it is a list")),
    Case("top level is text", "alerts\n", ":1: ", ("must be a mapping", "it is text")),
    Case(
        "non-UTF-8 file",
        (WITH + "    description: caf\xe9\n").encode("latin-1"),
        ":6: ",
        ("UTF-8",),
    ),
    Case("missing file", MISSING, ": ", ("no such file", "check the path")),
    Case("directory instead of file", DIRECTORY, ": ", ("is a directory",)),
    Case(
        "duplicate YAML key",
        WITH + "    query: SELECT 2\n",
        ":6: ",
        ("the key 'query' appears twice (first on line 4)", "remove one"),
    ),
    Case(
        "python object tag",
        WITH + "    description: !!python/object:builtins.dict {}\n",
        ":6: ",
        ("YAML tag '!!python/object:builtins.dict' is not allowed",),
    ),
    Case(
        "python apply tag",
        WITH + '    description: !!python/object/apply:os.system ["true"]\n',
        ":6: ",
        ("YAML tag '!!python/object/apply:os.system' is not allowed",),
    ),
    Case(
        "multiple YAML documents",
        WITH + "---\n" + WITH,
        ":6: ",
        ("more than one YAML document", "'---'"),
    ),
    Case(
        "alias that contains itself",
        WITH + "    labels: &me {loop: *me}\n",
        ":6: alert 'a' field 'labels.loop': ",
        ("YAML alias that contains itself",),
    ),
    # --- the top level
    Case("missing alerts", DB, ":1: ", ("has no 'alerts:' list",)),
    Case(
        "alerts is a mapping",
        DB + "alerts:\n  name: a\n",
        ":2: field 'alerts': ",
        ("must be a list", "items start with '- '", "it is a mapping"),
    ),
    Case(
        "alerts is text",
        DB + "alerts: daily\n",
        ":2: field 'alerts': ",
        ("must be a list", "(got 'daily')"),
    ),
    Case("alerts is empty", DB + "alerts: []\n", ":2: field 'alerts': ", ("is empty", "add")),
    Case(
        "alerts left blank",
        DB + "alerts:\n",
        ":2: field 'alerts': ",
        ("must be a list", "it is empty"),
    ),
    Case(
        "an alert that is text",
        DB + "alerts:\n  - daily_revenue\n",
        ":3: field 'alerts[0]': ",
        ("must be a mapping",),
    ),
    Case(
        "unknown top-level key close to a known one",
        DB + "alert:\n  - {}\n" + ALERT,
        ":2: ",
        ("unknown key 'alert' (did you mean 'alerts'?)",),
    ),
    Case(
        "unknown top-level key",
        WITH + "frobnicate: true\n",
        ":6: ",
        ("unknown key 'frobnicate'", "allowed keys: database, databases, state, defaults"),
    ),
    Case(
        "unknown key in defaults",
        DB + "defaults:\n  timout: 5s\n" + ALERT,
        ":3: field 'defaults': ",
        ("unknown key 'timout' (did you mean 'timeout'?)",),
    ),
    Case(
        "unknown key in notifications.email",
        DB + "notifications:\n  email:\n    smtp_hots: mail.example.com\n" + ALERT,
        ":4: field 'notifications.email': ",
        ("unknown key 'smtp_hots' (did you mean 'smtp_host'?)",),
    ),
    # --- an alert's keys
    Case(
        "enable instead of enabled",
        WITH + "    enable: false\n",
        ":6: alert 'a': ",
        ("unknown key 'enable' (did you mean 'enabled'?)",),
    ),
    Case(
        "notfy instead of notify",
        WITH + "    notfy: []\n",
        ":6: alert 'a': ",
        ("unknown key 'notfy' (did you mean 'notify'?)",),
    ),
    Case(
        "a key that is a number",
        WITH + "    5: five\n",
        ":6: alert 'a': ",
        ("unknown key 5", "allowed keys:"),
    ),
    Case(
        "missing name",
        DB + 'alerts:\n  - query: SELECT 1\n    schedule: "@hourly"\n',
        ":3: field 'alerts[0].name': ",
        ("is required but missing",),
    ),
    Case(
        "name given as a number",
        DB + 'alerts:\n  - name: 42\n    query: SELECT 1\n    schedule: "@hourly"\n',
        ":3: field 'alerts[0].name': ",
        ("must be text", "put 42 in quotes"),
    ),
    Case(
        "name with a line break",
        DB + 'alerts:\n  - name: "a\\nb"\n    query: SELECT 1\n    schedule: "@hourly"\n',
        ":3: alert 'a\\nb' field 'name': ",
        ("must be 1-200 printable characters",),
    ),
    Case(
        "duplicate alert names",
        WITH + '  - name: a\n    query: SELECT 2\n    schedule: "@daily"\n',
        ":6: alert 'a' field 'name': ",
        ("already used by the alert on line 3", "must be unique"),
    ),
    Case(
        "missing query",
        DB + 'alerts:\n  - name: a\n    schedule: "@hourly"\n',
        ":3: alert 'a' field 'query': ",
        ("is required but missing",),
    ),
    Case(
        "empty query",
        DB + 'alerts:\n  - name: a\n    query: "   "\n    schedule: "@hourly"\n',
        ":4: alert 'a' field 'query': ",
        ("is empty", "SELECT"),
    ),
    Case(
        "query that is a list",
        DB + 'alerts:\n  - name: a\n    query: [SELECT 1]\n    schedule: "@hourly"\n',
        ":4: alert 'a' field 'query': ",
        ("must be text", "it is a list"),
    ),
    Case(
        "enabled that is not a boolean",
        WITH + "    enabled: maybe\n",
        ":6: alert 'a' field 'enabled': ",
        ("must be true or false", "(got 'maybe')"),
    ),
    Case(
        "description that YAML reads as a date",
        WITH + "    description: 2026-01-31\n",
        ":6: alert 'a' field 'description': ",
        ("must be text", "put 2026-01-31 in quotes"),
    ),
    # --- schedules and timezones
    Case(
        "missing schedule",
        DB + "alerts:\n  - name: a\n    query: SELECT 1\n",
        ":3: alert 'a' field 'schedule': ",
        ("is required but missing",),
    ),
    Case(
        "invalid cron minute",
        DB + 'alerts:\n  - name: a\n    query: SELECT 1\n    schedule: "61 * * * *"\n',
        ":5: alert 'a' field 'schedule': ",
        ("'61 * * * *' is not a valid cron expression (minute must be 0-59)",),
    ),
    Case(
        "invalid cron weekday",
        DB + 'alerts:\n  - name: a\n    query: SELECT 1\n    schedule: "0 9 * * 8"\n',
        ":5: alert 'a' field 'schedule': ",
        ("day of week must be 0-7", "0 and 7 are Sunday"),
    ),
    Case(
        "six-field cron",
        DB + 'alerts:\n  - name: a\n    query: SELECT 1\n    schedule: "0 */5 * * * *"\n',
        ":5: alert 'a' field 'schedule': ",
        ("has 6 fields", "tick runs once a minute", "no seconds field"),
    ),
    Case(
        "four-field cron",
        DB + 'alerts:\n  - name: a\n    query: SELECT 1\n    schedule: "0 9 * *"\n',
        ":5: alert 'a' field 'schedule': ",
        ("has 4 fields", "a cron expression has 5"),
    ),
    Case(
        "unknown cron alias",
        DB + 'alerts:\n  - name: a\n    query: SELECT 1\n    schedule: "@every_5m"\n',
        ":5: alert 'a' field 'schedule': ",
        ("not a supported schedule", "@hourly"),
    ),
    Case(
        "cron that never matches",
        DB + 'alerts:\n  - name: a\n    query: SELECT 1\n    schedule: "0 0 30 2 *"\n',
        ":5: alert 'a' field 'schedule': ",
        ("never matches a real date",),
    ),
    Case(
        "cron that is a number",
        DB + "alerts:\n  - name: a\n    query: SELECT 1\n    schedule: 5\n",
        ":5: alert 'a' field 'schedule': ",
        ("not a cron expression", "quoted string"),
    ),
    Case(
        "misspelt timezone",
        WITH + "    timezone: Europe/Berln\n",
        ":6: alert 'a' field 'timezone': ",
        ("'Europe/Berln' is not an IANA timezone name", "did you mean 'Europe/Berlin'?"),
    ),
    Case(
        "timezone in the wrong case",
        WITH + "    timezone: america/new_york\n",
        ":6: alert 'a' field 'timezone': ",
        ("did you mean 'America/New_York'?", "case-sensitive"),
    ),
    # --- environment variables
    Case(
        "unset environment variable",
        notify(f'- channel: slack\n  webhook_url: "${{{UNSET_VARIABLE}}}"'),
        ":8: alert 'a' field 'notify[0].webhook_url': ",
        (f"environment variable {UNSET_VARIABLE} is not set", f"${{{UNSET_VARIABLE}:-value}}"),
    ),
    Case(
        "unclosed variable reference",
        WITH + "    description: 'costs ${PRICE'\n",
        ":6: alert 'a' field 'description': ",
        ("'${' without a closing '}'", "$${"),
    ),
    Case(
        "variable reference that is not a name",
        WITH + "    description: '${1st}'\n",
        ":6: alert 'a' field 'description': ",
        ("'${1st}' is not a variable reference",),
    ),
    # --- durations and numbers
    Case(
        "negative duration",
        WITH + "    cooldown: -5m\n",
        ":6: alert 'a' field 'cooldown': ",
        ("'-5m' is negative",),
    ),
    Case(
        "unparsable duration",
        WITH + "    timeout: 5 minutes\n",
        ":6: alert 'a' field 'timeout': ",
        ("'5 minutes' is not a duration", "30s, 5m, 1h, 1d"),
    ),
    Case(
        "duration given as true",
        WITH + "    misfire_grace: yes\n",
        ":6: alert 'a' field 'misfire_grace': ",
        ("True is not a duration",),
    ),
    Case(
        "zero timeout",
        WITH + "    timeout: 0s\n",
        ":6: alert 'a' field 'timeout': ",
        ("must be longer than 0 seconds",),
    ),
    Case(
        "min_consecutive of zero",
        WITH + "    min_consecutive: 0\n",
        ":6: alert 'a' field 'min_consecutive': ",
        ("must be at least 1 (got 0)",),
    ),
    Case(
        "bad severity",
        WITH + "    severity: urgent\n",
        ":6: alert 'a' field 'severity': ",
        ("must be one of 'info', 'warning' or 'critical' (got 'urgent')",),
    ),
    Case(
        "value with a line break",
        WITH + '    severity: "urgent\\nnow"\n',
        ":6: alert 'a' field 'severity': ",
        ("(got 'urgent\\nnow')",),
    ),
    Case(
        "bad empty_result",
        WITH + "    empty_result: ignore\n",
        ":6: alert 'a' field 'empty_result': ",
        ("must be one of 'error', 'ok' or 'alert' (got 'ignore')",),
    ),
    Case(
        "labels that are a list",
        WITH + "    labels: [team]\n",
        ":6: alert 'a' field 'labels': ",
        ("must be a mapping", "it is a list"),
    ),
    Case(
        "label key that is not text",
        WITH + "    labels: {5: five}\n",
        ":6: alert 'a' field 'labels': ",
        ("the key 5 must be text", "quotes"),
    ),
    Case(
        "runbook that is not a URL",
        WITH + "    runbook_url: wiki/runbooks/a\n",
        ":6: alert 'a' field 'runbook_url': ",
        ("must be an http:// or https:// URL",),
    ),
    Case(
        "SMTP port out of range",
        DB + "notifications:\n  email: {smtp_port: 70000}\n" + ALERT,
        ":3: field 'notifications.email.smtp_port': ",
        ("must be at most 65535 (got 70000)",),
    ),
    # --- notify entries
    Case(
        "unknown channel",
        notify("- channel: pagerduty"),
        ":7: alert 'a' field 'notify[0]': ",
        ("unknown channel 'pagerduty'", "email, slack, webhook, ses, sns"),
    ),
    Case(
        "misspelt channel",
        notify("- channel: emial\n  recipients: [a@example.com]"),
        ":7: alert 'a' field 'notify[0]': ",
        ("unknown channel 'emial'", "did you mean 'email'?"),
    ),
    Case(
        "notify entry without channel",
        notify("- recipients: [a@example.com]"),
        ":7: alert 'a' field 'notify[0]': ",
        ("has no 'channel:'", "email, slack, webhook"),
    ),
    Case(
        "notify entry with an empty channel",
        notify("- channel:\n  recipients: [a@example.com]"),
        ":7: alert 'a' field 'notify[0]': ",
        ("has an empty 'channel:'",),
    ),
    Case(
        "slack channel override given twice",
        notify(
            "- channel: slack\n  webhook_url: https://hooks.slack.com/services/T/B/X\n"
            "  channel: '#alerts'\n  channel: '#other'"
        ),
        ":10: ",
        ("the key 'channel' appears twice",),
    ),
    Case(
        "slack channel override next to slack_channel",
        notify(
            "- channel: slack\n  webhook_url: https://hooks.slack.com/services/T/B/X\n"
            "  channel: '#alerts'\n  slack_channel: '#other'"
        ),
        ":10: alert 'a' field 'notify[0]': ",
        ("gives the Slack channel twice", "keep one"),
    ),
    Case(
        "notify that is a mapping",
        WITH + "    notify: {channel: email}\n",
        ":6: alert 'a' field 'notify': ",
        ("must be a list", "it is a mapping"),
    ),
    Case(
        "unknown key in a notify entry",
        notify("- channel: email\n  recipients: [a@example.com]\n  recipents: [b@example.com]"),
        ":9: alert 'a' field 'notify[0]': ",
        ("unknown key 'recipents' (did you mean 'recipients'?)",),
    ),
    Case(
        "email without recipients",
        notify("- channel: email\n  subject: hello"),
        ":7: alert 'a' field 'notify[0].recipients': ",
        ("is required but missing",),
    ),
    Case(
        "email with an empty recipient list",
        notify("- channel: email\n  recipients: []"),
        ":8: alert 'a' field 'notify[0].recipients': ",
        ("is empty",),
    ),
    Case(
        "bad email address",
        notify("- channel: email\n  recipients: [ops@example.com, not-an-address]"),
        ":8: alert 'a' field 'notify[0].recipients[1]': ",
        ("'not-an-address' is not an email address",),
    ),
    Case(
        "webhook url that is not http",
        notify("- channel: webhook\n  url: ftp://files.example.com/in"),
        ":8: alert 'a' field 'notify[0].url': ",
        ("must be an http:// or https:// URL",),
    ),
    Case(
        "webhook without url",
        notify("- channel: webhook\n  method: POST"),
        ":7: alert 'a' field 'notify[0].url': ",
        ("is required but missing",),
    ),
    Case(
        "webhook method that is not supported",
        notify("- channel: webhook\n  url: https://example.com\n  method: DELETE"),
        ":9: alert 'a' field 'notify[0].method': ",
        ("must be one of 'POST', 'PUT', 'PATCH' or 'GET' (got 'DELETE')",),
    ),
    Case(
        "slack webhook that is not a URL",
        notify("- channel: slack\n  webhook_url: hooks.slack.com/services/T/B/X"),
        ":8: alert 'a' field 'notify[0].webhook_url': ",
        ("must be an http:// or https:// URL",),
    ),
    Case(
        "SNS topic that is not an ARN",
        notify("- channel: sns\n  topic_arn: alerts"),
        ":8: alert 'a' field 'notify[0].topic_arn': ",
        ("must be an SNS topic ARN",),
    ),
    # --- data sources
    Case(
        "unknown database name",
        "databases:\n  main: {url: 'sqlite:///m.db'}\n  logs: {url: 'sqlite:///l.db'}\n"
        + ALERT.replace("alerts:\n", "alerts:\n", 1)
        + "    database: mian\n",
        ":8: alert 'a' field 'database': ",
        ("'mian' is not a data source", "did you mean 'main'?"),
    ),
    Case(
        "unknown database in defaults",
        DB + "defaults:\n  database: warehouse\n" + ALERT,
        ":3: alert 'a' field 'database': ",
        ("'warehouse' (set in 'defaults:') is not a data source", "the data sources are: default"),
    ),
    Case(
        "no database at all",
        ALERT,
        ":2: alert 'a': ",
        ("there is no database to query", "add a top-level 'database:'"),
    ),
    Case(
        "several databases and none chosen",
        "databases:\n  a: {url: 'sqlite:///a.db'}\n  b: {url: 'sqlite:///b.db'}\n" + ALERT,
        ":5: alert 'a': ",
        ("does not say which database to query",),
    ),
    Case(
        "database url that is not a URL",
        "database: data.db\n" + ALERT,
        ":1: field 'database.url': ",
        ("is not a database URL", "sqlite:///data.db"),
    ),
    Case(
        "database without url",
        "database: {}\n" + ALERT,
        ":1: field 'database.url': ",
        ("is required but missing",),
    ),
    Case(
        "named database called default next to database",
        WITH.replace("alerts:", "databases:\n  default: {url: 'sqlite:///d.db'}\nalerts:"),
        ":3: field 'databases.default': ",
        ("already the top-level 'database:'", "another name"),
    ),
    Case(
        "database sqlsentinel cannot make read-only",
        'database: {url: "mssql+pyodbc://u@dsn"}\n' + ALERT,
        ":1: field 'database.url': ",
        ("'mssql' databases are not supported", "SQLite", "PostgreSQL", "MariaDB or MySQL"),
    ),
    Case(
        "database driver sqlsentinel does not run",
        'database: {url: "postgresql+psycopg2://u@db/x"}\n' + ALERT,
        ":1: field 'database.url': ",
        ("driver 'psycopg2'", "runs PostgreSQL with psycopg", "without a driver"),
    ),
    Case(
        "state url of an unsupported database",
        WITH + "state: {url: 'redis://localhost'}\n",
        ":6: field 'state.url': ",
        ("'redis' databases are not supported",),
    ),
    Case(
        "timeout longer than six hours",
        WITH + "    timeout: 1d\n",
        ":6: alert 'a' field 'timeout': ",
        ("must be at most 6h", "batch job"),
    ),
    Case(
        "min_consecutive given as true",
        WITH + "    min_consecutive: true\n",
        ":6: alert 'a' field 'min_consecutive': ",
        ("must be a whole number, not true",),
    ),
    Case(
        "duration with repeated units",
        WITH + "    cooldown: 1h1h\n",
        ":6: alert 'a' field 'cooldown': ",
        ("repeats or reorders its units", "1h30m"),
    ),
]


def run_test_command(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["test", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(case: Case, tmp_path: Path) -> Path:
    path = tmp_path / "alerts.yaml"
    if case.content is MISSING:
        return path
    if case.content is DIRECTORY:
        path.mkdir()
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        assert isinstance(case.content, str)
        path.write_text(case.content, encoding="utf-8")
    return path


def test_the_table_has_at_least_25_distinct_cases() -> None:
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_it_rejects_a_bad_config_with_exit_2_and_says_what_and_where(
    case: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)
    path = write(case, tmp_path)

    code, out, err = run_test_command(path, capsys)

    assert code == EXIT_CONFIG, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines
    assert all(line.startswith("error: ") for line in lines), err
    prefix = f"error: {path}{case.where}"
    matching = [line for line in lines if line.startswith(prefix)]
    assert matching, f"no line starts with {prefix!r}:\n{err}"
    for words in case.says:
        assert any(words in line for line in matching), f"{words!r} not in:\n{err}"


def test_it_prints_the_exact_error_format_of_the_issue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = """\
# Revenue alerts for the finance team.
database:
  url: "sqlite:///data.db"

defaults:
  timezone: Europe/Berlin

alerts:
  - name: daily_revenue
    description: Yesterday's revenue fell below $10,000
    query: |
      SELECT 'OK' AS status
    # every morning
    schedule: "61 * * * *"
"""
    assert text.splitlines()[13].strip() == 'schedule: "61 * * * *"'  # line 14
    (tmp_path / "alerts.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    code = main(["test", "alerts.yaml"])

    assert code == EXIT_CONFIG
    assert capsys.readouterr().err == (
        "error: alerts.yaml:14: alert 'daily_revenue' field 'schedule': '61 * * * *' is not a "
        "valid cron expression (minute must be 0-59)\n"
    )


def test_it_reports_every_problem_of_a_file_in_one_run_in_line_order(
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)
    path = write_config(
        DB  # 1
        + "alerts:\n"  # 2
        + "  - name: revenue\n"  # 3
        + "    query: SELECT 1\n"  # 4
        + '    schedule: "61 * * * *"\n'  # 5
        + "    enable: true\n"  # 6
        + "  - name: errors\n"  # 7
        + "    query: SELECT 1\n"  # 8
        + '    schedule: "@hourly"\n'  # 9
        + "    timezone: Europe/Berln\n"  # 10
        + "    timeout: -1s\n"  # 11
        + "    notify:\n"  # 12
        + "      - channel: email\n"  # 13
        + f"        subject: ${{{UNSET_VARIABLE}}}\n"  # 14
        + "  - name: latency\n"  # 15
        + "    schedule: '*/5 * * * *'\n"  # 16
    )

    code, _, err = run_test_command(path, capsys)

    assert code == EXIT_CONFIG
    located = [line.removeprefix(f"error: {path}") for line in err.splitlines()]
    assert [line.split(": ", 1)[0] for line in located] == [
        ":5",
        ":6",
        ":10",
        ":11",
        ":13",
        ":14",
        ":15",
    ]
    assert "alert 'revenue' field 'schedule': '61 * * * *'" in located[0]
    assert "alert 'revenue': unknown key 'enable' (did you mean 'enabled'?)" in located[1]
    assert "alert 'errors' field 'timezone'" in located[2]
    assert "alert 'errors' field 'timeout': '-1s' is negative" in located[3]
    assert "alert 'errors' field 'notify[0].recipients': is required" in located[4]
    assert f"field 'notify[0].subject': uses ${{{UNSET_VARIABLE}}}" in located[5]
    assert "alert 'latency' field 'query': is required but missing" in located[6]


def test_it_reports_duplicate_names_together_with_unset_variables(
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)
    path = write_config(
        WITH
        + f"    description: ${{{UNSET_VARIABLE}}}\n"
        + '  - name: a\n    query: SELECT 2\n    schedule: "@daily"\n'
    )

    code, _, err = run_test_command(path, capsys)

    assert code == EXIT_CONFIG
    assert f"{path}:6: alert 'a' field 'description': uses ${{{UNSET_VARIABLE}}}" in err
    assert f"{path}:7: alert 'a' field 'name': the name is already used" in err


def test_a_python_tag_is_never_executed(
    write_config: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    path = write_config(WITH + f'    description: !!python/object/apply:os.mkdir ["{marker}"]\n')

    code, _, err = run_test_command(path, capsys)

    assert code == EXIT_CONFIG
    assert "is not allowed" in err
    assert not marker.exists()


def test_the_validate_alias_reports_the_same_errors(
    write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(WITH + "    notfy: []\n")

    assert main(["validate", str(path)]) == EXIT_CONFIG
    assert "unknown key 'notfy' (did you mean 'notify'?)" in capsys.readouterr().err


def test_an_error_never_echoes_a_secret_it_is_about(
    write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        "database: {url: 'postgresql://app:hunter2-pw@db.internal/sales'}\n"
        + ALERT
        + "    notify:\n"
        + "      - channel: webhook\n"
        + "        url: 'ftp://user:ftp-s3cret@files.example.com/in'\n"
        + "        headers: {Authorization: [Bearer, tok-abcdef]}\n"
    )

    code, _, err = run_test_command(path, capsys)

    assert code == EXIT_CONFIG
    assert "field 'notify[0].url'" in err
    assert "field 'notify[0].headers.Authorization'" in err
    for secret in ("hunter2-pw", "ftp-s3cret", "tok-abcdef"):
        assert secret not in err


def test_a_recipient_with_a_line_break_cannot_add_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        notify('- channel: email\n  recipients: ["a@x.com\\nBcc: spy@evil.example"]'),
        encoding="utf-8",
    )
    code, out, err = run_test_command(path, capsys)
    assert (code, out) == (EXIT_CONFIG, "")
    assert "contains a control character" in err
