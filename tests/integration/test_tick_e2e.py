"""End to end, on each state store: config → tick → query → email (aiosmtpd) → history.

One alert reads a number from a SQLite table (ALERT above 10) every minute and emails a
real SMTP server on 127.0.0.1. The ticks run the CLI in-process (``sqlsentinel.cli.main``)
at chosen ``--now`` instants, and the test flips the data between them:

10:00 ALERT → FIRING sent; 10:01 ALERT → nothing (within the 1 h cooldown); 10:02 OK →
RESOLVED sent; 10:03 ALERT while the server answers 451 to everything → FIRING not delivered
(3 attempts), exit code 1; 10:04 ALERT, server healthy → that FIRING re-sent once, with the
same Message-ID (the idempotency key of the 10:03 slot); 10:05 → nothing.

Retries wait ``backoff: 0s``, so nothing sleeps for real.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from sqlsentinel.cli import main
from sqlsentinel.database.engines import get_engine
from sqlsentinel.database.schema import executions
from tests.support.smtp import Server

ALERT = "cpu_high"
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
RECIPIENT = "oncall@example.com"


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def key(slot: datetime, kind: str) -> str:
    return f"{ALERT}:{iso(slot)}:{kind}"


class Scenario:
    """The alert's config, its data and state store, and the CLI commands the test runs."""

    def __init__(
        self, config: Path, data: Path, state_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.config, self.data, self.state_url, self.capsys = config, data, state_url, capsys

    def set_value(self, value: float) -> None:
        with sqlite3.connect(self.data) as conn:
            conn.execute("UPDATE metric SET value = ?", (value,))

    def cli(self, command: str, *argv: str, expect: int = 0) -> Any:
        self.capsys.readouterr()
        options = ["--state-url", self.state_url, "--format", "json"]
        code = main([command, str(self.config), *argv, *options])
        out, err = self.capsys.readouterr()
        assert code == expect, err
        assert "Traceback" not in err, err
        return json.loads(out)

    def tick(self, now: datetime, expect: int = 0) -> dict[str, Any]:
        summary: dict[str, Any] = self.cli("tick", "--now", iso(now), expect=expect)
        assert summary["ran"] == 1, summary
        [run] = summary["runs"]
        assert (run["alert"], run["slot"]) == (ALERT, iso(now))
        result: dict[str, Any] = run
        return result

    def history(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.cli("history", ALERT)
        return runs

    def decisions(self) -> list[str]:
        """Return the decision recorded in the state database for each run, oldest first."""
        query = select(executions.c.decision).order_by(executions.c.id)
        with get_engine(self.state_url).connect() as conn:
            rows = conn.execute(query).scalars().all()
            conn.rollback()
        return list(rows)


@pytest.fixture
def scenario(
    state_url: str,
    smtp_server: Callable[..., Server],
    write_config: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Scenario, Server]:
    monkeypatch.setenv("SQLSENTINEL_CACHE_DIR", str(tmp_path / "cache"))
    server = smtp_server()
    data = tmp_path / "metrics.db"
    with sqlite3.connect(data) as conn:
        conn.execute("CREATE TABLE metric (value REAL NOT NULL)")
        conn.execute("INSERT INTO metric VALUES (42)")
    config = write_config(
        f"""
database:
  url: "sqlite:///{data}"
notifications:
  email:
    smtp_host: 127.0.0.1
    smtp_port: {server.port}
    security: none
    from_address: sentinel@example.com
    timeout: 5s
  retry:
    attempts: 3
    backoff: 0s
alerts:
  - name: {ALERT}
    query: |
      SELECT CASE WHEN value > 10 THEN 'ALERT' ELSE 'OK' END AS status,
             value AS actual_value, 10 AS threshold
      FROM metric
    schedule: "* * * * *"
    notify:
      - channel: email
        recipients: [{RECIPIENT}]
"""
    )
    return Scenario(config, data, state_url, capsys), server


def refuse_everything(server: Server) -> list[str]:
    """Make the SMTP server answer 451 to every message; return the Message-IDs it refused."""
    refused: list[str] = []

    async def handle_data(smtp: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = message_from_bytes(envelope.content, policy=policy.default)
        refused.append(str(message["Message-ID"]))
        return "451 4.3.0 Try again later"

    # aiosmtpd looks its hooks up on the handler for each new connection
    server.mailbox.handle_DATA = handle_data  # type: ignore[method-assign]
    return refused


def heal(server: Server) -> None:
    del server.mailbox.handle_DATA  # back to Mailbox.handle_DATA, which accepts


def test_a_tick_emails_once_stays_quiet_within_cooldown_resolves_and_retries_a_failed_channel(
    scenario: tuple[Scenario, Server],
) -> None:
    alert, server = scenario
    mailbox = server.mailbox

    # 10:00 ALERT: FIRING goes out, and history says so
    run = alert.tick(T0)
    assert (run["status"], run["decision"], run["actual_value"]) == ("ALERT", "firing", 42)
    assert [(n["channel"], n["kind"], n["ok"], n["attempts"]) for n in run["notifications"]] == [
        ("email", "FIRING", True, 1)
    ]
    [firing] = mailbox.messages
    assert mailbox.envelopes == [[RECIPIENT]]
    assert firing["X-Sentinel-Idempotency-Key"] == key(T0, "FIRING")
    assert "FIRING" in firing["Subject"]
    [recorded] = alert.history()
    assert (recorded["slot"], recorded["status"], recorded["actual_value"]) == (
        iso(T0),
        "ALERT",
        42,
    )
    assert recorded["notifications"] == [
        {"channel": "email", "kind": "FIRING", "ok": True, "attempts": 1, "error": None}
    ]

    # 10:01 still ALERT, within the cooldown: nothing is sent
    run = alert.tick(T0 + timedelta(minutes=1))
    assert run["status"] == "ALERT"
    assert run["decision"].startswith("within cooldown"), run["decision"]
    assert run["notifications"] == []
    assert len(mailbox.messages) == 1

    # 10:02 the data recovers: RESOLVED goes out
    alert.set_value(5)
    run = alert.tick(T0 + timedelta(minutes=2))
    assert (run["status"], run["decision"]) == ("OK", "resolved")
    assert [(n["kind"], n["ok"]) for n in run["notifications"]] == [("RESOLVED", True)]
    resolved = mailbox.messages[-1]
    assert len(mailbox.messages) == 2
    assert resolved["X-Sentinel-Idempotency-Key"] == key(T0 + timedelta(minutes=2), "RESOLVED")
    assert "RESOLVED" in resolved["Subject"]

    # 10:03 ALERT again, but the server answers 451 to everything: not delivered, exit 1
    alert.set_value(50)
    refused = refuse_everything(server)
    failed_slot = T0 + timedelta(minutes=3)
    run = alert.tick(failed_slot, expect=1)
    assert (run["status"], run["decision"]) == ("ALERT", "firing")
    [outcome] = run["notifications"]
    assert (outcome["kind"], outcome["ok"], outcome["attempts"]) == ("FIRING", False, 3)
    assert "451" in outcome["error"]
    assert len(refused) == 3
    assert len(set(refused)) == 1  # one message, tried three times
    assert len(mailbox.messages) == 2

    # 10:04 still ALERT, server healthy: the FIRING of 10:03 is re-sent, same Message-ID
    heal(server)
    run = alert.tick(T0 + timedelta(minutes=4))
    assert "retry the FIRING of " + iso(failed_slot) in run["decision"], run["decision"]
    assert [(n["kind"], n["ok"], n["attempts"]) for n in run["notifications"]] == [
        ("FIRING", True, 1)
    ]
    assert len(mailbox.messages) == 3
    retried = mailbox.messages[-1]
    assert retried["Message-ID"] == refused[0]
    assert retried["X-Sentinel-Idempotency-Key"] == key(failed_slot, "FIRING")

    # 10:05 still ALERT: delivered once, so now within the cooldown
    run = alert.tick(T0 + timedelta(minutes=5))
    assert run["decision"].startswith("within cooldown"), run["decision"]
    assert len(mailbox.messages) == 3
    keys = [m["X-Sentinel-Idempotency-Key"] for m in mailbox.messages]
    assert keys.count(key(failed_slot, "FIRING")) == 1

    # history: one row per tick, each with its email outcome, in the state database too
    history = alert.history()
    assert [(r["slot"], r["status"]) for r in reversed(history)] == [
        (iso(T0 + timedelta(minutes=m)), status)
        for m, status in enumerate(["ALERT", "ALERT", "OK", "ALERT", "ALERT", "ALERT"])
    ]
    assert [[(n["kind"], n["ok"]) for n in r["notifications"]] for r in reversed(history)] == [
        [("FIRING", True)],
        [],
        [("RESOLVED", True)],
        [("FIRING", False)],
        [("FIRING", True)],
        [],
    ]
    decisions = alert.decisions()
    assert decisions[0] == "firing"
    assert decisions[1].startswith("within cooldown")
    assert decisions[2] == "resolved"
