"""The notification core on fakes: the notification's facts, templates, content, delivery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sqlsentinel.config import Alert, load_config_text
from sqlsentinel.errors import ConfigError, NotifyError
from sqlsentinel.models import Kind, QueryResult, Status
from sqlsentinel.notifications import content
from sqlsentinel.notifications.base import ChannelOutcome, Notification, Unavailable
from sqlsentinel.notifications.delivery import MAX_WAIT, deliver
from sqlsentinel.notifications.templates import placeholders, render, unknown_placeholders
from sqlsentinel.testing import RecordingNotifier

SLOT = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
SENT = datetime(2026, 11, 27, 8, 0, 3, tzinfo=UTC)


def alert(extra: str = "", name: str = "daily_revenue") -> Alert:
    config = load_config_text(
        'database: "sqlite:///x.db"\n'
        "alerts:\n"
        f"  - name: '{name}'\n"
        "    description: Revenue fell\n"
        "    query: SELECT 'ALERT' AS status, 5 AS actual_value, 10 AS threshold, region\n"
        "    schedule: '0 9 * * *'\n"
        "    timezone: Europe/Berlin\n"
        "    severity: critical\n"
        "    runbook_url: https://wiki.example.com/revenue\n"
        "    labels: {team: data}\n" + extra,
        environ={},
    )
    return config.alerts[0]


def notification(
    kind: Kind = Kind.FIRING, result: QueryResult | None = None, **kwargs: object
) -> Notification:
    result = result or QueryResult(
        Status.ALERT, actual_value=8420.5, threshold=10000, context={"region": "EU"}
    )
    return Notification(alert(**kwargs), kind, result, SLOT, SENT)  # type: ignore[arg-type]


# --- the notification ------------------------------------------------------------------------


def test_the_idempotency_key_is_alert_slot_kind_and_stable() -> None:
    first, second = notification(), notification()
    assert first.idempotency_key == "daily_revenue:2026-11-27T08:00:00Z:FIRING"
    assert first.idempotency_key == second.idempotency_key
    assert first.message_id_hash == second.message_id_hash


def test_a_colon_in_the_alert_name_cannot_be_confused_with_the_separators() -> None:
    key = notification(name="db:orders").idempotency_key
    assert key == "db%3Aorders:2026-11-27T08:00:00Z:FIRING"
    assert key.count(":") == notification().idempotency_key.count(":")


def test_a_test_notification_has_its_own_key() -> None:
    sent = Notification(alert(), Kind.FIRING, QueryResult(Status.ALERT), SLOT, SENT, test=True)
    assert sent.idempotency_key.startswith("test:")


def test_fields_hold_the_standard_names_and_context_but_context_cannot_override_them() -> None:
    result = QueryResult(
        Status.ALERT, actual_value=5, threshold=10, context={"region": "EU", "alert_name": "x"}
    )
    fields = notification(result=result).fields()
    assert fields["alert_name"] == "daily_revenue"
    assert fields["region"] == "EU"
    assert fields["kind"] == "FIRING"
    assert fields["slot"] == "2026-11-27T08:00:00Z"
    assert fields["severity"] == "critical"


def test_the_slot_reads_in_the_alerts_timezone_with_utc_beside_it() -> None:
    assert notification().slot_text == "2026-11-27 09:00 CET (08:00 UTC)"


def test_the_payload_holds_every_fact() -> None:
    payload = notification().payload()
    assert set(payload) == {
        "alert", "kind", "status", "actual_value", "threshold", "description", "severity",
        "labels", "context", "error", "runbook_url", "slot", "timestamp", "idempotency_key",
        "test",
    }  # fmt: skip
    assert payload["labels"] == {"team": "data"}
    assert payload["timestamp"] == "2026-11-27T08:00:03Z"


# --- templates -------------------------------------------------------------------------------


def test_a_template_takes_plain_names_only() -> None:
    assert placeholders("{alert_name} is {status}, {{literal}}") == ["alert_name", "status"]
    for bad in ("{alert.__class__}", "{context[0]}", "{actual_value:.2f}", "{status!r}", "{"):
        with pytest.raises(ValueError, match=r"placeholder|template"):
            placeholders(bad)


def test_values_are_inserted_once_as_data_never_as_template_syntax() -> None:
    rendered = render("[{region}] {alert_name}", {"region": "{alert_name}", "alert_name": "a"})
    assert rendered == "[{alert_name}] a"


def test_a_missing_context_column_renders_empty_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert render("x={region}!", {}) == "x=!"
    assert "no value for {region}" in caplog.text


def test_only_placeholders_the_query_can_produce_are_allowed() -> None:
    query = "SELECT 'OK' AS status, region FROM t"
    assert unknown_placeholders("{alert_name} {region} {nope}", query) == ["nope"]
    for star in ("SELECT * FROM t", "select distinct t.* from t", "SELECT a, * FROM t"):
        assert unknown_placeholders("{anything}", star) == []


@pytest.mark.parametrize(
    "query",
    [
        "SELECT CASE WHEN COUNT(*) > 5 THEN 'ALERT' ELSE 'OK' END AS status, region FROM t",
        "SELECT 'OK' AS status, price * qty AS region FROM t",
    ],
)
def test_count_star_and_multiplication_do_not_allow_any_placeholder(query: str) -> None:
    assert unknown_placeholders("{region} {regoin}", query) == ["regoin"]


def test_names_in_strings_and_comments_are_not_columns() -> None:
    query = "SELECT 'region' AS status -- region\n/* region */ FROM t"
    assert unknown_placeholders("{region}", query) == ["region"]


def test_an_unknown_placeholder_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError) as raised:
        alert("    notify: [{channel: email, recipients: [a@b.co], subject: '{regoin}'}]\n")
    problem = raised.value.problems[0]
    assert problem.field == "notify[0].subject"
    assert "{regoin}" in problem.message


# --- content ---------------------------------------------------------------------------------


def test_the_default_subject_says_kind_alert_and_values() -> None:
    assert content.subject(notification()) == (
        "[FIRING] daily_revenue is FIRING: 8420.5 (threshold 10000)"
    )
    assert content.subject(notification(Kind.REPEAT)).startswith("[STILL FIRING] ")
    resolved = notification(Kind.RESOLVED, QueryResult(Status.OK, actual_value=12000))
    assert content.subject(resolved).startswith("[RESOLVED] daily_revenue is RESOLVED")
    failed = notification(Kind.ERROR, QueryResult(Status.TIMEOUT, error="too slow"))
    assert content.subject(failed) == "[ERROR] daily_revenue could not be checked (TIMEOUT)"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (Kind.FIRING, "Revenue Alert: daily_revenue"),
        (Kind.REPEAT, "[STILL FIRING] Revenue Alert: daily_revenue"),
        (Kind.RESOLVED, "[RESOLVED] Revenue Alert: daily_revenue"),
        (Kind.ERROR, "[ERROR] Revenue Alert: daily_revenue"),
    ],
)
def test_a_subject_template_without_kind_still_says_the_kind(kind: Kind, expected: str) -> None:
    assert content.subject(notification(kind), "Revenue Alert: {alert_name}") == expected
    assert content.subject(notification(kind), "{kind}: {alert_name}") == (
        f"{kind.value}: daily_revenue"
    )


def test_a_body_template_keeps_the_kind_in_the_facts() -> None:
    resolved = notification(Kind.RESOLVED, QueryResult(Status.OK, actual_value=12000))
    body = content.text_body(resolved, "Revenue for {alert_name}")
    assert body.startswith("Revenue for daily_revenue\n")
    assert "Notification: RESOLVED" in body


def test_a_subject_template_is_rendered_on_one_line() -> None:
    result = QueryResult(Status.ALERT, context={"region": "EU\nwest"})
    assert content.subject(notification(result=result), "{alert_name} in {region}") == (
        "daily_revenue in EU west"
    )


def test_a_test_notification_is_marked_in_subject_and_body() -> None:
    sent = Notification(alert(), Kind.FIRING, QueryResult(Status.ALERT), SLOT, SENT, test=True)
    assert content.subject(sent).startswith("[TEST] ")
    assert "notify-test" in content.text_body(sent)
    assert "notify-test" in content.html_body(sent)


def test_the_html_body_escapes_every_value_from_the_query() -> None:
    result = QueryResult(
        Status.ALERT, actual_value="<b>5</b>", context={"<i>col</i>": "<script>alert(1)</script>"}
    )
    body = content.html_body(notification(result=result))
    assert "<script>" not in body
    assert "<b>5</b>" not in body
    assert "<i>col</i>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert '<a href="https://wiki.example.com/revenue">' in body


def test_the_text_body_has_the_facts_context_runbook_and_key() -> None:
    body = content.text_body(notification())
    assert body.startswith("daily_revenue is FIRING: 8420.5 (threshold 10000)\nRevenue fell\n")
    for expected in (
        "Status:       ALERT",
        "Actual value: 8420.5",
        "Threshold:    10000",
        "Slot:         2026-11-27 09:00 CET (08:00 UTC)",
        "Labels:       team=data",
        "  region: EU",
        "Runbook: https://wiki.example.com/revenue",
        "daily_revenue:2026-11-27T08:00:00Z:FIRING",
    ):
        assert expected in body


def test_an_error_notification_shows_the_error_instead_of_values() -> None:
    body = content.text_body(
        notification(Kind.ERROR, QueryResult(Status.ERROR, error="no such table: orders"))
    )
    assert "Error:        no such table: orders" in body
    assert "Notification: ERROR" in body
    assert "Actual value" not in body


# --- delivery --------------------------------------------------------------------------------


def transient(message: str = "451 try later", retry_after: float | None = None) -> NotifyError:
    return NotifyError(message, permanent=False, retry_after=retry_after)


def test_a_transient_failure_is_retried_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    notifier = RecordingNotifier.failing(transient(), transient())
    (outcome,) = deliver(notification(), [notifier], attempts=3, backoff=1.0, sleep=sleeps.append)
    assert outcome == ChannelOutcome("recording", Kind.FIRING, True, 3, None)
    assert sleeps == [1.0, 2.0]
    assert len(notifier.sent) == 1


def test_a_permanent_failure_stops_at_once() -> None:
    sleeps: list[float] = []
    notifier = RecordingNotifier.failing(NotifyError("535 bad credentials", permanent=True))
    (outcome,) = deliver(notification(), [notifier], sleep=sleeps.append)
    assert (outcome.ok, outcome.attempts, outcome.error) == (False, 1, "535 bad credentials")
    assert sleeps == []
    assert notifier.calls == 1


def test_it_gives_up_after_the_last_attempt() -> None:
    notifier = RecordingNotifier.failing(*[transient()] * 5)
    (outcome,) = deliver(notification(), [notifier], attempts=3, sleep=lambda _: None)
    assert (outcome.ok, outcome.attempts) == (False, 3)
    assert notifier.calls == 3


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    sleeps: list[float] = []
    notifier = RecordingNotifier.failing(transient("429", retry_after=7))
    deliver(notification(), [notifier], backoff=1.0, sleep=sleeps.append)
    assert sleeps == [7]


def test_a_retry_after_longer_than_a_run_waits_fails_now_and_keeps_the_wait() -> None:
    sleeps: list[float] = []
    notifier = RecordingNotifier.failing(transient("429", retry_after=MAX_WAIT + 1))
    (outcome,) = deliver(notification(), [notifier], sleep=sleeps.append)
    assert (outcome.ok, outcome.attempts, sleeps) == (False, 1, [])
    assert (outcome.permanent, outcome.retry_after) == (False, MAX_WAIT + 1)
    assert "longer than a run waits" in (outcome.error or "")


def test_a_permanent_outcome_says_so_for_the_next_run() -> None:
    notifier = RecordingNotifier.failing(NotifyError("401", permanent=True))
    (outcome,) = deliver(notification(), [notifier], sleep=lambda _: None)
    assert (outcome.permanent, outcome.retry_after) == (True, None)


def test_one_failing_channel_never_stops_the_others() -> None:
    broken = RecordingNotifier.failing(RuntimeError("bug in a channel"), channel="broken")
    denied = RecordingNotifier.failing(NotifyError("403", permanent=True), channel="denied")
    fine = RecordingNotifier(channel="fine")
    outcomes = deliver(notification(), [broken, denied, fine], sleep=lambda _: None)
    assert [(o.channel, o.ok) for o in outcomes] == [
        ("broken", False), ("denied", False), ("fine", True),
    ]  # fmt: skip
    assert outcomes[0].error == "unexpected RuntimeError: bug in a channel"
    assert len(fine.sent) == 1


def test_an_unavailable_channel_fails_permanently_saying_what_to_set() -> None:
    missing = Unavailable("email", "email", "set SMTP_HOST")
    (outcome,) = deliver(notification(), [missing], sleep=lambda _: None)
    assert (outcome.ok, outcome.attempts, outcome.error) == (False, 1, "set SMTP_HOST")
    assert missing.render(notification()) == "cannot be sent: set SMTP_HOST"


def test_outcomes_serialise_with_the_history_keys() -> None:
    outcome = ChannelOutcome("email", Kind.FIRING, False, 3, "451", target="a@b.co")
    assert outcome.to_dict() == {
        "channel": "email", "kind": "FIRING", "ok": False, "attempts": 3, "error": "451",
    }  # fmt: skip
