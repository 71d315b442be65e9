"""The SES and SNS channels against moto's AWS: what arrives, what fails, and what never loads.

Every test runs inside ``mock_aws`` with fake credentials; nothing here can reach real AWS.
Messages are read back where moto keeps them: SES's sent-message store, and an SQS queue
subscribed to the SNS topic.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from sqlsentinel.config import Config, load_config_text
from sqlsentinel.errors import ConfigError
from sqlsentinel.models import Kind, QueryResult, Status
from sqlsentinel.notifications import aws
from sqlsentinel.notifications.base import ChannelOutcome, Notification, Notifier, Unavailable
from sqlsentinel.notifications.delivery import deliver
from sqlsentinel.notifications.factory import build_notifiers, check_channels

REGION = "eu-west-1"
SENDER = "sentinel@example.com"
RECIPIENTS = ["oncall@example.com", "ops@example.com"]
SLOT = datetime(2026, 3, 4, 10, 15, tzinfo=UTC)
SENT_AT = datetime(2026, 3, 4, 10, 15, 3, tzinfo=UTC)


def config_with(channel: str) -> Config:
    """Return a config with one alert whose only channel is the YAML mapping ``channel``."""
    text = (
        'database: "sqlite:///data.db"\n'
        "alerts:\n"
        "  - name: orders_stalled\n"
        "    description: No orders for an hour\n"
        "    query: SELECT 'ALERT' AS status, 3 AS actual_value, 10 AS threshold, 'eu' AS shop\n"
        '    schedule: "*/5 * * * *"\n'
        "    severity: critical\n"
        "    runbook_url: https://runbooks.example.com/orders\n"
        f"    notify:\n      - {channel}\n"
    )
    return load_config_text(text, source="alerts.yaml", environ={})


def firing(config: Config, shop: str = "eu <script>") -> Notification:
    result = QueryResult(Status.ALERT, 3, 10, {"shop": shop})
    return Notification(config.alerts[0], Kind.FIRING, result, slot=SLOT, sent_at=SENT_AT)


def notifiers(config: Config, environ: dict[str, str] | None = None) -> list[Notifier]:
    return build_notifiers(config.alerts[0], config.notifications, environ or {})


def send(
    notification: Notification, channels: list[Notifier]
) -> tuple[list[ChannelOutcome], list[float]]:
    """Deliver with the default retry policy; return the outcomes and the waits asked for."""
    waits: list[float] = []
    outcomes = deliver(notification, channels, attempts=3, backoff=1.0, sleep=waits.append)
    return outcomes, waits


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Give boto3 fake credentials and no config files, and serve AWS from moto."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    aws.client.cache_clear()  # a client made for another test must not be reused here
    with mock_aws():
        yield
    aws.client.cache_clear()


# --- SES ------------------------------------------------------------------------------------


SES_CHANNEL = (
    "{channel: ses, recipients: [oncall@example.com, ops@example.com], "
    f"from_address: {SENDER}, region: {REGION}}}"
)


def captured_requests(service: str, notifier: Any) -> list[dict[str, Any]]:
    """Return a list that fills with each JSON request body the notifier's client sends."""
    bodies: list[dict[str, Any]] = []
    client = aws.client(service, notifier.region, notifier.timeout)  # the one send() uses

    def record(params: dict[str, Any], **_: Any) -> None:
        bodies.append(json.loads(params["body"]))

    client.meta.events.register("before-call", record)
    return bodies


def test_ses_sends_the_subject_text_and_html_from_the_sender_to_every_recipient() -> None:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    config = config_with(SES_CHANNEL)
    (notifier,) = notifiers(config)
    requests = captured_requests("sesv2", notifier)

    outcomes, waits = send(firing(config), [notifier])

    assert [(o.channel, o.ok, o.attempts, o.error) for o in outcomes] == [("ses", True, 1, None)]
    assert outcomes[0].target == "oncall@example.com, ops@example.com"
    assert waits == []
    (stored,) = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert stored.source == SENDER
    assert stored.destinations == {"ToAddresses": RECIPIENTS}
    assert stored.subject == "[FIRING] orders_stalled is FIRING: 3 (threshold 10)"
    assert stored.body.startswith("<!DOCTYPE html>")
    assert "eu &lt;script&gt;" in stored.body
    simple = requests[0]["Content"]["Simple"]
    assert simple["Subject"] == {"Data": stored.subject, "Charset": "UTF-8"}
    assert simple["Body"]["Html"] == {"Data": stored.body, "Charset": "UTF-8"}
    text = simple["Body"]["Text"]
    assert text["Charset"] == "UTF-8"
    assert "No orders for an hour" in text["Data"]
    assert "shop: eu <script>" in text["Data"]
    assert "Runbook: https://runbooks.example.com/orders" in text["Data"]


def test_ses_uses_the_alert_templates_and_the_smtp_sender_from_the_environment() -> None:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    config = config_with(
        "{channel: ses, recipients: oncall@example.com, "
        "subject: '{severity}: {alert_name} in {shop}', body: 'Shop {shop} stalled.'}"
    )
    (notifier,) = notifiers(config, {"SMTP_FROM_ADDRESS": SENDER, "AWS_REGION": REGION})

    outcomes, _ = send(firing(config, shop="Zürich"), [notifier])

    assert outcomes[0].ok, outcomes[0].error
    (stored,) = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert (stored.source, stored.subject) == (SENDER, "critical: orders_stalled in Zürich")
    assert "Shop Zürich stalled." in stored.body
    rendered = notifier.render(firing(config, shop="Zürich"))
    assert "Subject: critical: orders_stalled in Zürich" in rendered
    assert f"From: {SENDER}" in rendered
    assert "To: oncall@example.com" in rendered
    assert "Shop Zürich stalled." in rendered


def test_ses_from_an_unverified_sender_fails_at_once_saying_to_verify_it() -> None:
    config = config_with(SES_CHANNEL)

    outcomes, waits = send(firing(config), notifiers(config))

    (outcome,) = outcomes
    assert (outcome.ok, outcome.attempts, waits) == (False, 1, [])
    assert "MessageRejected" in outcome.error
    assert SENDER in outcome.error
    assert "verify the sender address" in outcome.error
    assert ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages == []


def test_ses_without_any_sender_address_is_a_config_error_naming_what_to_set() -> None:
    config = config_with("{channel: ses, recipients: oncall@example.com}")

    (notifier,) = notifiers(config)

    assert isinstance(notifier, Unavailable)
    assert "SMTP_FROM_ADDRESS" in notifier.reason
    assert "from_address" in notifier.reason
    with pytest.raises(ConfigError, match=r"notify\[0\].*the ses channel cannot send"):
        check_channels(config, {})


# --- SNS ------------------------------------------------------------------------------------


def topic_with_queue(name: str) -> tuple[str, str]:
    """Create an SNS topic and an SQS queue subscribed to it (envelope kept); return both."""
    fifo = name.endswith(".fifo")
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name=name, Attributes={"FifoTopic": "true"} if fifo else {})
    queue = sqs.create_queue(
        QueueName=f"inbox-{name}", Attributes={"FifoQueue": "true"} if fifo else {}
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic["TopicArn"],
        Protocol="sqs",
        Endpoint=queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "false"},
    )
    return topic["TopicArn"], queue


def received(queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    response = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )
    return response.get("Messages", [])


def test_sns_publishes_subject_message_and_filterable_attributes() -> None:
    topic, queue = topic_with_queue("alerts")
    config = config_with(f"{{channel: sns, topic_arn: '{topic}', region: {REGION}}}")
    notification = firing(config)

    outcomes, _ = send(notification, notifiers(config))

    assert [(o.channel, o.ok, o.attempts, o.target) for o in outcomes] == [("sns", True, 1, topic)]
    (message,) = received(queue)
    envelope = json.loads(message["Body"])
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"] == "[FIRING] orders_stalled is FIRING: 3 (threshold 10)"
    assert envelope["Message"].startswith("orders_stalled is FIRING: 3 (threshold 10)\n")
    assert "shop: eu <script>" in envelope["Message"]
    attributes = {k: (v["Type"], v["Value"]) for k, v in envelope["MessageAttributes"].items()}
    assert attributes == {
        "alert": ("String", "orders_stalled"),
        "kind": ("String", "FIRING"),
        "severity": ("String", "critical"),
        "status": ("String", "ALERT"),
        "idempotency_key": ("String", notification.idempotency_key),
    }
    assert "MessageGroupId" not in message.get("Attributes", {})


def test_sns_fifo_topic_gets_the_alert_as_group_and_a_dedup_id_from_the_key() -> None:
    topic, queue = topic_with_queue("alerts.fifo")
    config = config_with(f"{{channel: sns, topic_arn: '{topic}'}}")
    notification = firing(config)

    outcomes, _ = send(notification, notifiers(config, {"AWS_DEFAULT_REGION": REGION}))

    assert outcomes[0].ok, outcomes[0].error
    (message,) = received(queue)
    assert message["Attributes"]["MessageGroupId"] == "orders_stalled"
    dedup = message["Attributes"]["MessageDeduplicationId"]
    assert dedup == notification.idempotency_key == "orders_stalled:2026-03-04T10:15:00Z:FIRING"


def test_sns_makes_a_long_non_ascii_subject_valid_and_keeps_the_full_text_in_the_message() -> None:
    topic, queue = topic_with_queue("alerts")
    template = (
        "Überlauf — {alert_name} in {shop} ≥ {threshold}: 売上 " + "Bestellungen fehlen; " * 6
    )
    config = config_with(f"{{channel: sns, topic_arn: '{topic}', subject: '{template}'}}")

    outcomes, _ = send(firing(config, shop="Zürich"), notifiers(config, {"AWS_REGION": REGION}))

    assert outcomes[0].ok, outcomes[0].error
    subject = json.loads(received(queue)[0]["Body"])["Subject"]
    assert subject.startswith("Uberlauf - orders_stalled in Zurich >= 10: ? Bestellungen fehlen;")
    assert len(subject) <= 100
    assert subject.isascii()
    assert subject.isprintable()
    assert subject.endswith("...")


def test_sns_to_a_topic_that_does_not_exist_fails_at_once_as_not_found() -> None:
    missing = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:no-such-topic"
    config = config_with(f"{{channel: sns, topic_arn: '{missing}', region: {REGION}}}")

    outcomes, waits = send(firing(config), notifiers(config))

    (outcome,) = outcomes
    assert (outcome.ok, outcome.attempts, waits) == (False, 1, [])
    assert outcome.error.startswith("SNS refused the request: NotFound")
    assert "check the ARN, the account and the region" in outcome.error


def test_sns_publishes_in_the_topics_region_when_aws_region_names_another() -> None:
    topic, queue = topic_with_queue("alerts")
    config = config_with(f"{{channel: sns, topic_arn: '{topic}'}}")

    outcomes, waits = send(firing(config), notifiers(config, {"AWS_REGION": "us-east-1"}))

    assert [(o.ok, o.attempts, o.error) for o in outcomes] == [(True, 1, None)]
    assert waits == []
    assert len(received(queue)) == 1


def test_ses_finds_its_region_in_the_aws_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config_file = tmp_path / "aws-config"
    config_file.write_text(f"[default]\nregion = {REGION}\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    config = config_with(
        f"{{channel: ses, recipients: oncall@example.com, from_address: {SENDER}}}"
    )

    outcomes, _ = send(firing(config), notifiers(config))

    assert outcomes[0].ok, outcomes[0].error
    assert len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages) == 1


def test_ses_with_no_region_anywhere_fails_sqlsentinel_test() -> None:
    config = config_with(
        f"{{channel: ses, recipients: oncall@example.com, from_address: {SENDER}}}"
    )

    with pytest.raises(ConfigError, match=r"notify\[0\].*no AWS region for SES"):
        check_channels(config, {})


# --- boto3 is optional and loaded late ------------------------------------------------------


def test_without_boto3_both_channels_are_config_errors_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # find_spec() and import now fail
    aws.client.cache_clear()
    topic = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:alerts"
    for channel in (SES_CHANNEL, f"{{channel: sns, topic_arn: '{topic}'}}"):
        config = config_with(channel)
        (notifier,) = notifiers(config)
        assert isinstance(notifier, Unavailable)
        assert "pip install 'sqlsentinel[aws]'" in notifier.reason
        with pytest.raises(ConfigError, match=r"pip install 'sqlsentinel\[aws\]'"):
            check_channels(config, {})


COLD_START = """
import json, sys
import sqlsentinel.notifications.ses, sqlsentinel.notifications.sns
from datetime import datetime, timezone
from sqlsentinel.config import load_config_text
from sqlsentinel.models import Kind, QueryResult, Status
from sqlsentinel.notifications.base import Notification
from sqlsentinel.notifications.factory import build_notifiers

config = load_config_text(sys.stdin.read(), environ={})
alert = config.alerts[0]
notifiers = build_notifiers(alert, config.notifications, {"AWS_REGION": "eu-west-1"})
now = datetime(2026, 3, 4, tzinfo=timezone.utc)
note = Notification(alert, Kind.FIRING, QueryResult(Status.ALERT, 1), slot=now, sent_at=now)
rendered = [n.render(note) for n in notifiers]
print(json.dumps({
    "notifiers": [type(n).__name__ for n in notifiers],
    "aws_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore")),
}))
"""


def test_building_and_rendering_aws_channels_imports_no_boto3() -> None:
    topic = f"arn:aws:sns:{REGION}:{DEFAULT_ACCOUNT_ID}:alerts.fifo"
    config_text = (
        'database: "sqlite:///data.db"\nalerts:\n  - name: a\n    query: SELECT 1\n'
        '    schedule: "@hourly"\n    notify:\n'
        f"      - {{channel: ses, recipients: a@example.com, from_address: {SENDER}}}\n"
        f"      - {{channel: sns, topic_arn: '{topic}'}}\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", COLD_START],
        input=config_text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report == {"notifiers": ["SesNotifier", "SnsNotifier"], "aws_modules": []}
