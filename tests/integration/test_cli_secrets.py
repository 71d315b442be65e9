"""A database password never reaches stdout or stderr — not even when the connection fails.

Real servers are used on purpose: PostgreSQL and MariaDB reject an unknown user with their own
messages, a closed port fails inside the driver, and ``--debug`` prints real tracebacks. Each
output is checked for the password as written and in every encoded form, and for the ``***``
that shows the URL was there but masked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from sqlsentinel import report
from sqlsentinel.cli import main
from sqlsentinel.config import load_config_text

PASSWORD = "Pw-7f3kQz9"
# Characters that must be percent-encoded in a URL, so that every encoded form is exercised.
AWKWARD_PASSWORD = "Pw/7f@3k Qz9%x"
AWKWARD_IN_URL = quote(AWKWARD_PASSWORD, safe="")
SCRIPT = Path(sys.executable).with_name("sqlsentinel")

COMMANDS = [
    ["test", "{config}"],
    ["test", "{config}", "--connect"],
    ["test", "{config}", "--connect", "--format", "json"],
    ["execute", "{config}", "probe"],
    ["execute", "{config}", "probe", "--format", "json"],
    ["--debug", "test", "{config}", "--connect"],
    ["--debug", "execute", "{config}", "probe"],
    ["execute", "{config}", "probe", "--log-level", "debug"],
]


@pytest.fixture(autouse=True)
def _no_secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop secret-named variables (PGPASSWORD=postgres would mask "postgres" in every line)."""
    for name in list(os.environ):
        if re.search(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|WEBHOOK", name, re.I):
            monkeypatch.delenv(name)


def forms(password: str) -> set[str]:
    """Return the ways a password can be written in text."""
    return {password, quote(password, safe=""), quote(password, safe=" +"), quote(password)}


def assert_hidden(password: str, *outputs: str) -> None:
    for output in outputs:
        for form in forms(password):
            assert form not in output, f"{form!r} leaked in:\n{output}"


def server_url(fixture_url: str, scheme: str, password_in_url: str) -> str:
    """Return a URL for the test server's host and port with a user that does not exist."""
    url = make_url(fixture_url)
    return f"{scheme}://nosuchuser:{password_in_url}@{url.host}:{url.port}/{url.database}"


def config_text(url: str) -> str:
    return f"""
database:
  url: "{url}"
alerts:
  - name: probe
    query: SELECT 'OK' AS status
    schedule: "*/5 * * * *"
"""


@pytest.fixture(
    params=["postgres-bad-user", "mariadb-bad-user", "postgres-closed-port", "mysql-closed-port"]
)
def failing_url(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Return a function giving a URL that cannot connect, for a password as written in a URL."""
    kind = request.param
    if kind == "postgres-bad-user":
        base = request.getfixturevalue("postgres_url")
        return lambda secret: server_url(base, "postgresql", secret)
    if kind == "mariadb-bad-user":
        base = request.getfixturevalue("mysql_url")
        return lambda secret: server_url(base, "mysql", secret)
    scheme = "postgresql" if kind.startswith("postgres") else "mysql"
    return lambda secret: f"{scheme}://nosuchuser:{secret}@127.0.0.1:1/test"


def run(capsys: pytest.CaptureFixture[str], argv: list[str], config: Path) -> tuple[int, str, str]:
    code = main([arg.format(config=config) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv).replace("{config}", "C"))
def test_a_password_never_appears_when_the_connection_fails(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    failing_url: Callable[[str], str],
    argv: list[str],
) -> None:
    config = write_config(config_text(failing_url(PASSWORD)))
    code, out, err = run(capsys, argv, config)
    assert_hidden(PASSWORD, out, err)
    assert "nosuchuser:***@" in out + err, "the URL is shown, masked"
    expected = 0 if argv[-1] == "{config}" else 1  # plain `test` does not connect
    assert code == expected, (out, err)


@pytest.mark.parametrize(
    "argv", COMMANDS[1::3], ids=["test --connect", "execute", "--debug execute"]
)
def test_a_percent_encoded_password_never_appears_in_any_form(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    failing_url: Callable[[str], str],
    argv: list[str],
) -> None:
    config = write_config(config_text(failing_url(AWKWARD_IN_URL)))
    code, out, err = run(capsys, argv, config)
    assert code == 1
    assert_hidden(AWKWARD_PASSWORD, out, err)
    assert "7f@3k" not in out + err
    assert "nosuchuser:***@" in out + err


def test_a_password_from_an_environment_variable_never_appears(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DB_PASSWORD", PASSWORD)
    config = write_config(config_text(server_url(postgres_url, "postgresql", "${DB_PASSWORD}")))
    for argv in (COMMANDS[0], COMMANDS[1], COMMANDS[6]):
        code, out, err = run(capsys, argv, config)
        assert_hidden(PASSWORD, out, err)
        assert "nosuchuser:***@" in out + err
        assert code == (0 if argv == COMMANDS[0] else 1)


def test_a_password_with_a_working_connection_never_appears(
    capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], postgres_url: str
) -> None:
    # The test server trusts local connections, so any password is accepted and ignored.
    url = make_url(postgres_url)
    trusted = f"postgresql://{url.username}:{PASSWORD}@{url.host}:{url.port}/{url.database}"
    config = write_config(config_text(trusted))
    for argv in (COMMANDS[1], COMMANDS[2], COMMANDS[6]):
        code, out, err = run(capsys, argv, config)
        assert code == 0, (out, err)
        assert_hidden(PASSWORD, out, err)
        if "test" in argv:  # a successful `execute` shows no URL at all
            assert f"{url.username}:***@" in out


@pytest.mark.parametrize("debug", [[], ["--debug"]], ids=["plain", "debug"])
@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ('database: main\n    schedule: "61 * * * *"', "minute must be 0-59"),
        (
            f'database: "postgresql://u:{PASSWORD}@db/app"\n    schedule: "@hourly"',
            "'postgresql://u:***@db/app' is not a data source",
        ),
    ],
    ids=["bad schedule", "url as data source name"],
)
def test_a_config_error_in_a_file_holding_the_password_does_not_show_it(
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    mistake: str,
    expected: str,
    debug: list[str],
) -> None:
    config = write_config(
        f"""
databases:
  main:
    url: "postgresql://u:{PASSWORD}@db/app"
alerts:
  - name: probe
    query: SELECT 'OK' AS status
    database: main
    schedule: "@hourly"
  - name: broken
    query: SELECT 'OK' AS status
    {mistake}
"""
    )
    code, out, err = run(capsys, [*debug, "test", "{config}"], config)
    assert (code, out) == (2, "")
    assert expected in err
    assert_hidden(PASSWORD, out, err)
    assert ("Traceback (most recent call last)" in err) is bool(debug)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_summary_masks_urls_itself_before_any_scrubbing(fmt: str) -> None:
    # The CLI also scrubs what it prints; this holds the report to its own promise.
    config = load_config_text(
        config_text(f"postgresql://alice:{PASSWORD}@db/app?password={PASSWORD}"),
        source="inline.yaml",
    )
    text = report.config_summary(config, datetime(2026, 11, 27, 10, tzinfo=UTC), fmt=fmt)
    assert_hidden(PASSWORD, text)
    assert "postgresql://alice:***@db/app?password=***" in text


# --- the real process: logging set up by the entry point, real tracebacks ----------------------


def sqlsentinel(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_the_installed_command_hides_the_password_of_a_rejected_login(
    write_config: Callable[..., Path], postgres_url: str, mysql_url: str
) -> None:
    postgres = write_config(
        config_text(server_url(postgres_url, "postgresql", PASSWORD)), "pg.yaml"
    )
    mariadb = write_config(
        config_text(server_url(mysql_url, "mysql", "${DB_PASSWORD}")), "mariadb.yaml"
    )
    runs = [
        sqlsentinel("--debug", "test", str(postgres), "--connect"),
        sqlsentinel("--debug", "execute", str(mariadb), "probe", env={"DB_PASSWORD": PASSWORD}),
    ]
    for done in runs:
        assert done.returncode == 1, done.stderr
        assert_hidden(PASSWORD, done.stdout, done.stderr)
        assert "nosuchuser:***@" in done.stdout
    assert 'role "nosuchuser" does not exist' in runs[0].stdout
    assert "Access denied for user 'nosuchuser'" in runs[1].stdout


def test_the_installed_command_hides_the_password_in_a_debug_traceback(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(
        f"""
database:
  url: "postgresql://u:{PASSWORD}@db/app"
alerts:
  - name: probe
    query: SELECT 'OK' AS status
    database: "postgresql://u:{PASSWORD}@db/app"
    schedule: "@hourly"
"""
    )
    done = sqlsentinel("--debug", "test", str(config))
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert "ConfigError" in done.stderr
    assert "postgresql://u:***@db/app" in done.stderr
    assert_hidden(PASSWORD, done.stdout, done.stderr)
