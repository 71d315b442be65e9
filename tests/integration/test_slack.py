"""The Slack channel against a real HTTP receiver (pytest-httpserver on 127.0.0.1).

Every test builds its channel through ``slack.create`` from a loaded config and sends through
``delivery.deliver``, as a run does; the backoff sleep is a list that records the delays, so
nothing waits for real.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sqlsentinel.config import Config, load_config_text
from sqlsentinel.config.schema import SlackChannel
from sqlsentinel.errors import ConfigError, NotifyError
from sqlsentinel.executor.values import json_safe
from sqlsentinel.models import Kind, QueryResult, Status
from sqlsentinel.notifications import slack
from sqlsentinel.notifications.base import ChannelOutcome, Notification
from sqlsentinel.notifications.delivery import deliver
from sqlsentinel.redact import redactor

SLOT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SENT_AT = datetime(2026, 11, 27, 9, 0, 3, tzinfo=UTC)
TOKEN = "s3cr3tW3bh00kT0k3n"
HOOK = f"/services/T0001/B0001/{TOKEN}"
EVIL = "<!channel> & <https://evil.example|click>"


def load(entry: str = "", settings: str = "", runbook: bool = True) -> Config:
    """Load a config with one Slack entry (``entry`` adds keys to it)."""
    text = (
        'database: "sqlite:///x.db"\n'
        + (f"notifications:\n{settings}" if settings else "")
        + "alerts:\n"
        "  - name: daily_revenue\n"
        "    description: Revenue fell below the floor\n"
        "    query: SELECT 'ALERT' AS status\n"
        "    schedule: '0 9 * * *'\n"
        "    severity: critical\n"
        + ("    runbook_url: https://wiki.example.com/revenue\n" if runbook else "")
        + "    notify:\n"
        "      - channel: slack\n" + entry
    )
    return load_config_text(text, environ={})


def entry_url(httpserver: HTTPServer, path: str = HOOK) -> str:
    return f"        webhook_url: {httpserver.url_for(path)}\n"


def notification(config: Config, result: QueryResult | None = None, **kw: Any) -> Notification:
    result = result or QueryResult(
        Status.ALERT, actual_value=8420.5, threshold=10000, context={"region": "EU"}
    )
    return Notification(config.alerts[0], Kind.FIRING, result, SLOT, SENT_AT, **kw)


def channel(config: Config, environ: dict[str, str] | None = None) -> slack.SlackNotifier:
    spec = config.alerts[0].notify[0]
    assert isinstance(spec, SlackChannel)
    return slack.create(spec, config.notifications, environ or {})


def send(
    config: Config, note: Notification | None = None, *, attempts: int = 3
) -> tuple[ChannelOutcome, list[float]]:
    sleeps: list[float] = []
    [outcome] = deliver(
        note or notification(config), [channel(config)], attempts=attempts, sleep=sleeps.append
    )
    return outcome, sleeps


def received(httpserver: HTTPServer) -> list[Request]:
    return [request for request, _ in httpserver.log]


def texts(payload: dict[str, Any]) -> list[str]:
    """Return every text in a Block Kit payload, in order."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload)
    return found


# --- what is posted --------------------------------------------------------------------------


def test_it_posts_block_kit_with_a_fallback_text_username_and_channel(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request(HOOK, method="POST").respond_with_data("ok")
    config = load(
        entry_url(httpserver) + "        slack_channel: '#data-alerts'\n",
        settings="  slack: {username: sentinel-bot}\n",
    )

    outcome, _ = send(config)

    assert outcome.ok, outcome.error
    assert outcome.attempts == 1
    [request] = received(httpserver)
    payload = request.get_json()
    assert payload["text"] == "daily_revenue is FIRING: 8420.5 (threshold 10000)"
    assert payload["username"] == "sentinel-bot"
    assert payload["channel"] == "#data-alerts"
    blocks = payload["blocks"]
    types = [block["type"] for block in blocks]
    assert types[0] == "header"
    assert blocks[0]["text"]["type"] == "plain_text"
    assert blocks[0]["text"]["text"] == "[FIRING] daily_revenue"
    assert len(blocks[0]["text"]["text"]) <= 150
    assert "actions" in types
    [button] = next(block for block in blocks if block["type"] == "actions")["elements"]
    assert (button["text"]["text"], button["url"]) == (
        "Runbook",
        "https://wiki.example.com/revenue",
    )
    fields = [f["text"] for block in blocks for f in block.get("fields", [])]
    for label in ("Status", "Severity", "Actual value", "Threshold", "Slot", "region"):
        assert any(text.startswith(f"*{label}*\n") for text in fields), label
    assert "*Actual value*\n8420.5" in fields
    assert "*region*\nEU" in fields
    assert any("Revenue fell below the floor" in text for text in texts(payload))


def test_it_sends_json_with_the_idempotency_key_header(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(HOOK, method="POST").respond_with_data("ok")
    config = load(entry_url(httpserver))

    outcome, _ = send(config)

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "daily_revenue:2026-11-27T09:00:00Z:FIRING"
    assert request.headers["User-Agent"].startswith("sqlsentinel/")


def test_it_leaves_out_username_channel_and_runbook_button_when_unset(
    httpserver: HTTPServer,
) -> None:
    config = load(entry_url(httpserver), runbook=False)

    payload = json.loads(channel(config).render(notification(config)))

    assert "username" not in payload
    assert "channel" not in payload
    assert "actions" not in [block["type"] for block in payload["blocks"]]


def test_a_test_notification_says_so_in_the_header_text_and_a_note(
    httpserver: HTTPServer,
) -> None:
    config = load(entry_url(httpserver))

    payload = json.loads(channel(config).render(notification(config, test=True)))

    assert payload["text"].startswith("[TEST] ")
    assert payload["blocks"][0]["text"]["text"].startswith("[TEST] ")
    assert any("notify-test" in text for text in texts(payload))


# --- where the URL comes from ----------------------------------------------------------------


def test_the_entrys_webhook_url_wins_over_settings_and_environment(httpserver: HTTPServer) -> None:
    config = load(
        entry_url(httpserver, "/entry"),
        settings=f"  slack: {{webhook_url: '{httpserver.url_for('/settings')}'}}\n",
    )
    notifier = channel(config, {"SLACK_WEBHOOK_URL": httpserver.url_for("/environment")})
    assert notifier.url == httpserver.url_for("/entry")


def test_notifications_slack_webhook_url_wins_over_the_environment(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request("/settings", method="POST").respond_with_data("ok")
    config = load(settings=f"  slack: {{webhook_url: '{httpserver.url_for('/settings')}'}}\n")
    notifier = channel(config, {"SLACK_WEBHOOK_URL": httpserver.url_for("/environment")})

    [outcome] = deliver(notification(config), [notifier], sleep=[].append)

    assert outcome.ok, outcome.error
    assert [request.path for request in received(httpserver)] == ["/settings"]


def test_slack_webhook_url_from_the_environment_is_the_last_fallback(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request("/environment", method="POST").respond_with_data("ok")
    config = load()
    notifier = channel(config, {"SLACK_WEBHOOK_URL": httpserver.url_for("/environment")})

    [outcome] = deliver(notification(config), [notifier], sleep=[].append)

    assert outcome.ok, outcome.error
    assert [request.path for request in received(httpserver)] == ["/environment"]


def test_no_webhook_url_anywhere_is_a_config_error_saying_what_to_set(
    httpserver: HTTPServer,
) -> None:
    with pytest.raises(ConfigError) as caught:
        channel(load(), {"SLACK_WEBHOOK_URL": "  "})
    assert str(caught.value) == (
        "no Slack webhook URL: set webhook_url on the entry, notifications.slack.webhook_url, "
        "or the SLACK_WEBHOOK_URL environment variable"
    )


def test_a_slack_webhook_url_variable_that_is_not_http_is_a_config_error(
    httpserver: HTTPServer,
) -> None:
    with pytest.raises(ConfigError, match="must be an http:// or https:// URL") as caught:
        channel(load(), {"SLACK_WEBHOOK_URL": f"file:///etc/{TOKEN}"})
    assert TOKEN not in str(caught.value)


def test_a_url_from_the_environment_is_named_as_the_target_and_its_query_kept_secret(
    httpserver: HTTPServer,
) -> None:
    key = "aZ9kEy0fAnAzureFunction-Qx7w=="
    httpserver.expect_oneshot_request("/relay", method="POST").respond_with_data(
        f"no such key: {key}", status=403
    )
    url = httpserver.url_for("/relay") + f"?code={key}"
    notifier = channel(load(), {"SLACK_WEBHOOK_URL": url})

    [outcome] = deliver(notification(load()), [notifier], sleep=[].append)

    assert key in redactor.secrets
    assert notifier.target == httpserver.url_for("/***") + "?***"
    assert (outcome.ok, outcome.target) == (False, notifier.target)
    assert outcome.error is not None
    assert "403" in outcome.error
    assert key not in outcome.error
    assert key not in repr(notifier)


# --- data stays data -------------------------------------------------------------------------


def test_query_values_are_escaped_so_they_cannot_mention_or_link(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(HOOK, method="POST").respond_with_data("ok")
    config = load(entry_url(httpserver))
    result = QueryResult(Status.ALERT, actual_value=1, threshold=2, context={"note": EVIL})

    outcome, _ = send(config, notification(config, result))

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    raw = request.get_data(as_text=True)
    assert "<!channel>" not in raw
    assert "<https://evil" not in raw
    fields = [f for block in request.get_json()["blocks"] for f in block.get("fields", [])]
    [note] = [f for f in fields if f["text"].startswith("*note*")]
    assert note["text"] == "*note*\n&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"
    assert note["verbatim"] is True  # no automatic links or mentions either


def test_long_values_are_clipped_to_slacks_limits_without_splitting_an_entity(
    httpserver: HTTPServer,
) -> None:
    config = load(entry_url(httpserver))
    context = {f"col{i}": "<&>" * 1000 for i in range(57)}
    result = QueryResult(Status.ALERT, actual_value="x" * 5000, threshold=1, context=context)

    payload = json.loads(channel(config).render(notification(config, result)))

    blocks = payload["blocks"]
    assert len(blocks[0]["text"]["text"]) <= 150
    assert len(blocks) <= 50
    for block in blocks:
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
            if field["text"].startswith(("*col", "*Actual value*")):
                assert field["text"].endswith(("&lt;…", "&amp;…", "&gt;…", "x…"))
        assert len(block.get("fields", [])) <= 10
        if isinstance(block.get("text"), dict):
            assert len(block["text"]["text"]) <= 3000
    shown = [f for block in blocks for f in block.get("fields", []) if "*col" in f["text"]]
    assert len(shown) == 50
    assert any("7 more context columns not shown" in text for text in texts(payload))


def test_decimal_and_datetime_values_arrive_as_query_results_carry_them(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request(HOOK, method="POST").respond_with_data("ok")
    config = load(entry_url(httpserver))
    result = QueryResult(
        Status.ALERT,
        actual_value=json_safe(Decimal("8420.10")),
        threshold=json_safe(Decimal("10000.00")),
        context={
            "last_order": json_safe(datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)),
            "exact": json_safe(Decimal("0.1000000000000000000001")),
        },
    )

    outcome, _ = send(config, notification(config, result))

    assert outcome.ok, outcome.error
    fields = [
        f["text"]
        for block in received(httpserver)[0].get_json()["blocks"]
        for f in block.get("fields", [])
    ]
    assert "*Actual value*\n8420.1" in fields
    assert "*Threshold*\n10000" in fields
    assert "*last_order*\n2026-11-26T23:59:59+00:00" in fields
    assert "*exact*\n0.1000000000000000000001" in fields


# --- failures --------------------------------------------------------------------------------


def test_it_retries_a_500_then_delivers_exactly_once(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(HOOK, method="POST").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request(HOOK, method="POST").respond_with_data("ok")
    config = load(entry_url(httpserver))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts) == (True, 2)
    assert sleeps == [1.0]
    assert [response.status_code for _, response in httpserver.log] == [500, 200]
    keys = {request.headers["Idempotency-Key"] for request in received(httpserver)}
    assert len(keys) == 1  # the receiver can tell the retry from a new notification


def test_a_400_invalid_payload_is_not_retried_and_says_what_slack_said(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(HOOK, method="POST").respond_with_data("invalid_payload", status=400)
    config = load(entry_url(httpserver))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 1, [])
    assert outcome.error is not None
    assert "400 BAD REQUEST" in outcome.error.upper()
    assert '"invalid_payload"' in outcome.error
    assert "Block Kit" in outcome.error
    assert len(httpserver.log) == 1


def test_a_revoked_webhook_is_permanent_and_never_shows_the_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request(HOOK, method="POST").respond_with_data("no_service", status=404)
    config = load(entry_url(httpserver))
    notifier = channel(config)

    with pytest.raises(NotifyError) as caught:
        notifier.send(notification(config))

    assert caught.value.permanent
    message = str(caught.value)
    assert "create a new incoming webhook" in message
    assert TOKEN not in message
    assert notifier.target.endswith("/services/***")
    assert TOKEN not in notifier.render(notification(config))
    assert TOKEN not in repr(notifier)


def test_a_429_waits_as_long_as_retry_after_asks(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(HOOK, method="POST").respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "2"}
    )
    httpserver.expect_ordered_request(HOOK, method="POST").respond_with_data("ok")
    config = load(entry_url(httpserver))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts) == (True, 2)
    assert len(sleeps) == 1
    assert sleeps[0] >= 2


@pytest.fixture
def stalled() -> Iterator[tuple[HTTPServer, threading.Event]]:
    """Yield a receiver that does not answer until the event is set (or 5 s pass)."""
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return Response("ok")

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(HOOK).respond_with_handler(hang)
    server.start()
    try:
        yield server, release
    finally:
        release.set()
        server.stop()


def test_a_receiver_that_does_not_answer_in_time_is_a_transient_failure(
    stalled: tuple[HTTPServer, threading.Event],
) -> None:
    server, _ = stalled
    config = load(entry_url(server), settings="  http: {timeout: 0.2s}\n")

    outcome, sleeps = send(config, attempts=2)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 2, [1.0])
    assert outcome.error is not None
    assert "no answer within 0.2s" in outcome.error
    assert TOKEN not in outcome.error
