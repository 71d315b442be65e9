"""botocore's exceptions become ours: throttling retried, everything else permanent and explained.

The errors are botocore's own exception classes, built as botocore builds them; the
end-to-end cases drive a real boto3 client whose responses come from ``botocore.stub.Stubber``
(botocore's own test double for the AWS side), so no network and no service are involved.
The last section checks where the AWS channels find their region (SNS: the topic's ARN; SES:
the channel, the environment, or an AWS config file) and SES its sender, at create time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore import exceptions as bx
from botocore.stub import Stubber

from sqlsentinel.config import load_config_text
from sqlsentinel.errors import ConfigError, NotifyError
from sqlsentinel.models import Kind, QueryResult, Status
from sqlsentinel.notifications import aws
from sqlsentinel.notifications.base import Notification, Notifier, Unavailable
from sqlsentinel.notifications.delivery import deliver
from sqlsentinel.notifications.factory import build_notifiers, check_channels
from sqlsentinel.notifications.ses import SesNotifier
from sqlsentinel.notifications.sns import SnsNotifier

REGION = "eu-west-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:alerts"
NOW = datetime(2026, 3, 4, 10, 15, tzinfo=UTC)


def client_error(
    code: str, message: str = "", status: int = 400, headers: dict[str, str] | None = None
) -> bx.ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    return bx.ClientError(response, "Publish")


def translated(exc: Exception, permission: str = "sns:Publish") -> NotifyError:
    error = aws.translate(exc, "SNS", permission)
    assert error is not None
    return error


@pytest.mark.parametrize(
    "code",
    [
        "Throttling",
        "ThrottlingException",
        "Throttled",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
    ],
)
def test_throttling_and_aws_side_failures_are_transient(code: str) -> None:
    error = translated(client_error(code, "Rate exceeded"))
    assert error.permanent is False
    assert error.retry_after is None
    assert str(error) == f"SNS refused the request: {code}: Rate exceeded"


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_any_429_or_5xx_is_transient_whatever_its_code(status: int) -> None:
    assert translated(client_error("SomethingNew", status=status)).permanent is False


def test_a_retry_after_header_is_passed_on() -> None:
    error = translated(client_error("Throttling", status=400, headers={"retry-after": "7"}))
    assert (error.permanent, error.retry_after) == (False, 7.0)


@pytest.mark.parametrize(
    ("code", "message", "hint"),
    [
        ("MessageRejected", "Email address is not verified.", "verify the sender address"),
        ("NotFound", "Topic does not exist", "check the ARN, the account and the region"),
        ("AuthorizationError", "User is not authorized", "allow sns:Publish"),
        ("AccessDeniedException", "not authorized", "allow sns:Publish"),
        ("InvalidClientTokenId", "The security token is invalid", "wrong or expired"),
        ("InvalidParameter", "Invalid parameter: Subject", ""),
        ("BadRequestException", "Missing final '@domain'", ""),
    ],
)
def test_other_client_errors_are_permanent_with_code_message_and_what_to_fix(
    code: str, message: str, hint: str
) -> None:
    error = translated(client_error(code, message))
    assert error.permanent is True
    assert str(error).startswith(f"SNS refused the request: {code}: {message}")
    assert hint in str(error)


@pytest.mark.parametrize(
    "exc",
    [
        bx.EndpointConnectionError(endpoint_url="https://sns.eu-west-1.amazonaws.com/"),
        bx.ConnectTimeoutError(endpoint_url="https://sns.eu-west-1.amazonaws.com/"),
        bx.ReadTimeoutError(endpoint_url="https://sns.eu-west-1.amazonaws.com/"),
        bx.ConnectionClosedError(endpoint_url="https://sns.eu-west-1.amazonaws.com/"),
    ],
)
def test_connection_failures_and_timeouts_are_transient(exc: Exception) -> None:
    error = translated(exc)
    assert error.permanent is False
    assert str(error).startswith("SNS could not be reached: ")
    assert "sns.eu-west-1.amazonaws.com" in str(error)


@pytest.mark.parametrize(
    "exc",
    [bx.NoCredentialsError(), bx.PartialCredentialsError(provider="env", cred_var="secret")],
)
def test_missing_credentials_are_permanent_and_say_so(exc: Exception) -> None:
    error = translated(exc)
    assert error.permanent is True
    assert str(error).startswith("SNS: no AWS credentials found: ")
    assert "AWS_ACCESS_KEY_ID" in str(error)


def test_a_missing_region_is_permanent_and_says_where_to_set_it() -> None:
    error = translated(bx.NoRegionError())
    assert error.permanent is True
    assert "set region on the channel or AWS_REGION" in str(error)


def test_other_botocore_errors_are_permanent() -> None:
    error = translated(bx.ParamValidationError(report="Invalid length for parameter Subject"))
    assert error.permanent is True
    assert "Invalid length for parameter Subject" in str(error)


def test_the_context_manager_chains_botocore_errors_and_lets_others_through() -> None:
    original = client_error("Throttling")
    with pytest.raises(NotifyError) as caught, aws.aws_errors("SES", "ses:SendEmail"):
        raise original
    assert caught.value.__cause__ is original
    with pytest.raises(KeyError), aws.aws_errors("SES"):
        raise KeyError("a bug is not an AWS error")


# --- through a real boto3 client ------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Isolate boto3 from the machine: fake credentials, no config files, no region."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    aws.client.cache_clear()
    yield
    aws.client.cache_clear()


def never_sleep(seconds: float) -> None:
    raise AssertionError(f"a permanent failure must not wait ({seconds}s asked)")


def sns_channel(region: str | None = REGION) -> tuple[Notification, SnsNotifier]:
    where = f", region: {region}" if region else ""
    config = load_config_text(
        'database: "sqlite:///data.db"\nalerts:\n  - name: orders_stalled\n'
        '    query: SELECT 1\n    schedule: "@hourly"\n'
        f"    notify: [{{channel: sns, topic_arn: '{TOPIC}'{where}}}]\n",
        environ={},
    )
    alert = config.alerts[0]
    (notifier,) = build_notifiers(alert, config.notifications, {})
    assert isinstance(notifier, SnsNotifier)
    result = QueryResult(Status.ALERT, 3, 10)
    return Notification(alert, Kind.FIRING, result, slot=NOW, sent_at=NOW), notifier


def stubbed(notifier: SnsNotifier) -> Stubber:
    """Return a Stubber on the very client the notifier sends with."""
    return Stubber(aws.client("sns", notifier.region, notifier.timeout))


def test_a_throttled_publish_is_retried_after_the_backoff_and_delivered_once() -> None:
    notification, notifier = sns_channel()
    waits: list[float] = []
    with stubbed(notifier) as stub:
        stub.add_client_error("publish", "Throttling", "Rate exceeded", http_status_code=400)
        stub.add_response("publish", {"MessageId": "m-1"}, notifier.message(notification))
        (outcome,) = deliver(notification, [notifier], attempts=3, backoff=2.0, sleep=waits.append)
        stub.assert_no_pending_responses()
    assert (outcome.ok, outcome.attempts, outcome.error) == (True, 2, None)
    assert waits == [2.0]


def test_a_denied_publish_stops_at_once_naming_the_permission_to_grant() -> None:
    notification, notifier = sns_channel()
    with stubbed(notifier) as stub:
        stub.add_client_error("publish", "AuthorizationError", "User: x is not authorized")
        (outcome,) = deliver(notification, [notifier], sleep=never_sleep)
    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert outcome.error == (
        "SNS refused the request: AuthorizationError: User: x is not authorized "
        "(allow sns:Publish for the identity sqlsentinel runs as)"
    )


def test_sending_without_boto3_fails_permanently_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    notification, notifier = sns_channel()
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if it were not installed

    (outcome,) = deliver(notification, [notifier], sleep=never_sleep)

    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert outcome.error == aws.EXTRA_HINT
    assert "pip install 'sqlsentinel[aws]'" in outcome.error


# --- where the region comes from ------------------------------------------------------------


def channel_for(entry: str, environ: dict[str, str]) -> Notifier:
    config = load_config_text(
        'database: "sqlite:///data.db"\nalerts:\n  - name: orders_stalled\n'
        f'    query: SELECT 1\n    schedule: "@hourly"\n    notify: [{entry}]\n',
        environ={},
    )
    (notifier,) = build_notifiers(config.alerts[0], config.notifications, environ)
    return notifier


def test_sns_publishes_in_the_region_its_topic_arn_names_whatever_aws_region_says() -> None:
    notifier = channel_for(f"{{channel: sns, topic_arn: '{TOPIC}'}}", {"AWS_REGION": "us-east-1"})
    assert isinstance(notifier, SnsNotifier)
    assert notifier.region == REGION


def test_sns_needs_no_region_anywhere_but_in_its_arn() -> None:
    notifier = channel_for(f"{{channel: sns, topic_arn: '{TOPIC}'}}", {})
    assert isinstance(notifier, SnsNotifier)
    assert notifier.region == REGION


def test_sns_with_a_region_that_agrees_with_its_arn_uses_it() -> None:
    entry = f"{{channel: sns, topic_arn: '{TOPIC}', region: {REGION}}}"
    notifier = channel_for(entry, {"AWS_REGION": "us-east-1"})
    assert isinstance(notifier, SnsNotifier)
    assert notifier.region == REGION


def test_sns_with_a_region_other_than_its_arns_is_a_config_error_naming_both() -> None:
    entry = f"{{channel: sns, topic_arn: '{TOPIC}', region: us-east-1}}"
    config = load_config_text(
        'database: "sqlite:///data.db"\nalerts:\n  - name: orders_stalled\n'
        f'    query: SELECT 1\n    schedule: "@hourly"\n    notify: [{entry}]\n',
        source="alerts.yaml",
        environ={},
    )
    (notifier,) = build_notifiers(config.alerts[0], config.notifications, {})
    assert isinstance(notifier, Unavailable)
    assert notifier.reason == (
        f"the channel's region is us-east-1 but the topic ARN is in {REGION}, and a topic can "
        "only be published to in its own region; remove region from the channel, or correct "
        "the ARN"
    )
    assert notifier.target == TOPIC
    with pytest.raises(ConfigError, match=r"alert 'orders_stalled' field 'notify\[0\]'"):
        check_channels(config, {})


SES = "{channel: ses, recipients: oncall@example.com, from_address: sentinel@example.com}"


def test_ses_with_no_region_anywhere_is_a_config_error_saying_where_to_set_one() -> None:
    notifier = channel_for(SES, {})
    assert isinstance(notifier, Unavailable)
    assert notifier.reason == (
        "no AWS region for SES: set region on the channel, or the AWS_REGION environment "
        "variable (or a region in the AWS config file, ~/.aws/config)"
    )


@pytest.mark.parametrize("name", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_ses_takes_its_region_from_the_environment(name: str) -> None:
    notifier = channel_for(SES, {name: REGION})
    assert isinstance(notifier, SesNotifier)
    assert notifier.region == REGION


def test_ses_leaves_the_region_to_boto3_when_an_aws_config_file_exists(tmp_path: Path) -> None:
    config_file = tmp_path / "aws-config"
    config_file.write_text(f"[default]\nregion = {REGION}\n", encoding="utf-8")
    notifier = channel_for(SES, {"AWS_CONFIG_FILE": str(config_file)})
    assert isinstance(notifier, SesNotifier)
    assert notifier.region is None  # boto3 reads it from the file when it sends


@pytest.mark.parametrize(
    ("environ", "sender"),
    [
        ({"SMTP_FROM_ADDRESS": "  sentinel@example.com \n"}, "sentinel@example.com"),
        (
            {"SMTP_FROM_ADDRESS": " ", "SMTP_FROM": "Alerts <a@example.com>"},
            "Alerts <a@example.com>",
        ),
    ],
)
def test_ses_reads_the_sender_from_the_environment_as_email_does(
    environ: dict[str, str], sender: str
) -> None:
    entry = "{channel: ses, recipients: oncall@example.com}"
    notifier = channel_for(entry, {**environ, "AWS_REGION": REGION})
    assert isinstance(notifier, SesNotifier)
    assert notifier.sender == sender


@pytest.mark.parametrize(
    ("value", "says"),
    [("alerts", "'alerts' is not an email address"), ("a@example.com\rBcc: x@y.z", "control")],
)
def test_ses_refuses_a_sender_from_the_environment_that_is_not_an_address(
    value: str, says: str
) -> None:
    entry = "{channel: ses, recipients: oncall@example.com}"
    notifier = channel_for(entry, {"SMTP_FROM_ADDRESS": value, "AWS_REGION": REGION})
    assert isinstance(notifier, Unavailable)
    assert says in notifier.reason
