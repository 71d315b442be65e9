"""The HTTP seam's pure parts: reading Retry-After and classifying failures that need no server."""

from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error
from datetime import UTC, datetime

import pytest

from sqlsentinel.errors import NotifyError
from sqlsentinel.notifications.http import body_excerpt, parse_retry_after, send, translate
from sqlsentinel.notifications.slack import escape

NOW = datetime(2026, 11, 27, 9, 0, 0, tzinfo=UTC)
WHERE = "POST https://hooks.example.com/services/***"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2", 2.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("Fri, 27 Nov 2026 09:00:30 GMT", 30.0),
        ("Fri, 27 Nov 2026 09:00:30 -0000", 30.0),  # "UTC, source unknown"
        ("Friday, 27-Nov-26 09:01:00 GMT", 60.0),  # RFC 850, still allowed to be sent
        ("Fri, 27 Nov 2026 08:00:00 GMT", 0.0),  # in the past: retry now
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize("value", [None, "", "  ", "-5", "1.5", "soon", "Fri, 99 Nov 2026"])
def test_retry_after_that_says_nothing_usable_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    ("failure", "permanent", "says"),
    [
        (urllib.error.URLError(ConnectionRefusedError(111, "refused")), False, "refused"),
        (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")), False,
         "could not be resolved (Name or service not known)"),
        (urllib.error.URLError(TimeoutError("timed out")), False, "no answer within 0.5s"),
        (TimeoutError("timed out"), False, "no answer within 0.5s"),
        (ConnectionResetError(104, "reset"), False, "connection broke"),
        (http.client.RemoteDisconnected("closed"), False, "connection broke"),
        (http.client.IncompleteRead(b"x"), False, "connection broke"),
        (urllib.error.URLError(ssl.SSLEOFError(8, "EOF")), False, "TLS handshake"),
        (urllib.error.URLError(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version")),
         True, "scheme (http or https) and port"),
    ],
)  # fmt: skip
def test_failures_without_an_answer_are_classified(
    failure: BaseException, permanent: bool, says: str
) -> None:
    error = translate(failure, where=WHERE, timeout=0.5)
    assert isinstance(error, NotifyError)
    assert error.permanent is permanent
    assert says in str(error)
    assert str(error).startswith(WHERE + ": ")


def test_an_untrusted_certificate_is_permanent_and_says_why() -> None:
    failure = ssl.SSLCertVerificationError(1, "certificate verify failed")
    failure.verify_message = "self-signed certificate"
    error = translate(urllib.error.URLError(failure), where=WHERE, timeout=1)
    assert error.permanent
    assert "(self-signed certificate)" in str(error)
    assert "SSL_CERT_FILE" in str(error)


def test_a_value_http_client_refuses_is_permanent_and_not_quoted() -> None:
    # http.client quotes the offending header value, which may be a token.
    failure = ValueError("Invalid header value b'Bearer tok-123\\r\\nX: y'")
    error = translate(failure, where=WHERE, timeout=1)
    assert error.permanent
    assert "tok-123" not in str(error)


def test_only_http_and_https_urls_are_sent() -> None:
    with pytest.raises(NotifyError, match="only http:// and https://") as caught:
        send("POST", "file:///etc/passwd", body=b"", headers={}, timeout=1, shown="file:///***")
    assert caught.value.permanent


def test_a_response_body_is_quoted_on_one_line_and_cut() -> None:
    assert body_excerpt("  invalid_payload\n") == "invalid_payload"
    assert body_excerpt("a\x00b\r\nc\td") == "a b c d"
    long = body_excerpt("x" * 500)
    assert len(long) == 200
    assert long.endswith("…")


def test_slack_escaping_follows_slacks_three_rules() -> None:
    assert escape("<!here> & <@U123> > 1") == "&lt;!here&gt; &amp; &lt;@U123&gt; &gt; 1"
    assert escape("&amp;") == "&amp;amp;"  # data that looks escaped is still data
