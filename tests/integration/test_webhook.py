"""The webhook channel against a real HTTP receiver (pytest-httpserver on 127.0.0.1).

Every test builds its channel through ``webhook.create`` from a loaded config and sends
through ``delivery.deliver``, as a run does; the backoff sleep is a list that records the
delays, so nothing waits for real. The signature is checked the way a receiver would:
``hmac.compare_digest`` over the raw request body, with the recipe in the module docstring.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import socket
import sqlite3
import ssl
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sqlsentinel.cli import main
from sqlsentinel.config import Config, load_config_text
from sqlsentinel.config.schema import WebhookChannel
from sqlsentinel.errors import ConfigError, NotifyError
from sqlsentinel.executor.values import json_safe
from sqlsentinel.models import Kind, QueryResult, Status
from sqlsentinel.notifications import webhook
from sqlsentinel.notifications.base import ChannelOutcome, Notification
from sqlsentinel.notifications.delivery import deliver
from sqlsentinel.redact import redactor

SLOT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SENT_AT = datetime(2026, 11, 27, 9, 0, 3, tzinfo=UTC)
PATH = "/hooks/alerts"
SECRET = "whsec-0123456789abcdef"
TOKEN = "tok-9f8e7d6c5b4a3210"
API_KEY = "key-aabbccddeeff0011"
KEY = "daily_revenue:2026-11-27T09:00:00Z:FIRING"


def load(url: str, extra: str = "", settings: str = "") -> Config:
    """Load a config whose one alert has one webhook entry to ``url`` (``extra`` adds keys)."""
    text = (
        'database: "sqlite:///x.db"\n'
        + (f"notifications:\n{settings}" if settings else "")
        + "alerts:\n"
        "  - name: daily_revenue\n"
        "    description: Revenue fell below the floor\n"
        "    query: SELECT 'ALERT' AS status\n"
        "    schedule: '0 9 * * *'\n"
        "    severity: critical\n"
        "    labels: {team: data}\n"
        "    runbook_url: https://wiki.example.com/revenue\n"
        "    notify:\n"
        "      - channel: webhook\n"
        f"        url: {url}\n" + extra
    )
    return load_config_text(text, environ={})


def notification(config: Config, result: QueryResult | None = None) -> Notification:
    result = result or QueryResult(
        Status.ALERT, actual_value=8420.5, threshold=10000, context={"region": "EU"}
    )
    return Notification(config.alerts[0], Kind.FIRING, result, SLOT, SENT_AT)


def channel(config: Config) -> webhook.WebhookNotifier:
    spec = config.alerts[0].notify[0]
    assert isinstance(spec, WebhookChannel)
    return webhook.create(spec, config.notifications, {})


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


def verify(secret: str, signed: bytes, header: str | None) -> bool:
    """Check a signature as a receiver does: HMAC-SHA256 of the raw bytes, constant-time."""
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


# --- what is sent ----------------------------------------------------------------------------


def test_the_body_is_every_field_of_the_notification_as_compact_sorted_json(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("", status=204)
    config = load(httpserver.url_for(PATH))
    note = notification(config)

    outcome, _ = send(config, note)

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    raw = request.get_data()
    assert json.loads(raw) == note.payload()
    assert set(json.loads(raw)) >= {
        "alert", "kind", "status", "actual_value", "threshold", "description", "severity",
        "labels", "context", "slot", "timestamp", "idempotency_key",
    }  # fmt: skip
    assert raw == webhook.body(note)
    assert raw.startswith(b'{"actual_value":8420.5,"alert":"daily_revenue",')


def test_it_sends_json_the_idempotency_key_and_its_user_agent(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("ok")
    config = load(httpserver.url_for(PATH))

    outcome, _ = send(config)

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == KEY
    assert request.headers["User-Agent"] == f"sqlsentinel/{__import__('sqlsentinel').__version__}"
    assert "X-Sentinel-Signature" not in request.headers


def test_custom_headers_arrive_but_cannot_replace_the_idempotency_key(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("ok")
    config = load(
        httpserver.url_for(PATH),
        "        headers:\n"
        f"          Authorization: Bearer {TOKEN}\n"
        "          X-Environment: production\n"
        "          content-type: application/json; charset=utf-8\n"
        "          Idempotency-Key: mine\n",
    )

    outcome, _ = send(config)

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Environment"] == "production"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers.getlist("Idempotency-Key") == [KEY]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_put_and_patch_send_the_same_json_body(httpserver: HTTPServer, method: str) -> None:
    httpserver.expect_oneshot_request(PATH, method=method).respond_with_data("ok")
    config = load(httpserver.url_for(PATH), f"        method: {method.lower()}\n")
    note = notification(config)

    outcome, _ = send(config, note)

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    assert request.method == method
    assert request.get_data() == webhook.body(note)


def test_get_sends_the_fields_as_query_parameters_and_no_body(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="GET").respond_with_data("ok")
    config = load(httpserver.url_for(PATH) + "?source=sentinel", "        method: GET\n")
    result = QueryResult(
        Status.ALERT, actual_value=1, threshold=2, context={"region": "EU", "gone": None}
    )

    outcome, _ = send(config, notification(config, result))

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    assert request.get_data() == b""
    assert "Content-Type" not in request.headers
    args = request.args.to_dict()
    assert args["source"] == "sentinel"  # the URL's own parameters stay first
    assert request.query_string.startswith(b"source=sentinel&")
    assert args["alert"] == "daily_revenue"
    assert args["kind"] == "FIRING"
    assert args["actual_value"] == "1"
    assert args["labels.team"] == "data"
    assert args["context.region"] == "EU"
    assert "context.gone" not in args  # a NULL is left out
    assert "error" not in args
    assert args["test"] == "false"
    assert request.headers["Idempotency-Key"] == KEY


# --- the signature ---------------------------------------------------------------------------


def signing_receiver(secret: str) -> Any:
    """Return a handler that answers 401 unless the body's signature verifies with ``secret``."""

    def handle(request: Request) -> Response:
        if verify(secret, request.get_data(), request.headers.get("X-Sentinel-Signature")):
            return Response("ok")
        return Response("bad signature", status=401)

    return handle


def test_a_receiver_verifies_the_signature_with_the_documented_recipe(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_handler(
        signing_receiver(SECRET)
    )
    config = load(httpserver.url_for(PATH), f"        secret: {SECRET}\n")

    outcome, _ = send(config)

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    assert request.headers["X-Sentinel-Signature"].startswith("sha256=")
    assert json.loads(request.get_data())["idempotency_key"] == KEY  # signed, so replay-safe


def test_a_signature_made_with_another_secret_is_refused_and_not_retried(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_handler(
        signing_receiver("the-receivers-secret")
    )
    config = load(httpserver.url_for(PATH), f"        secret: {SECRET}\n")

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 1, [])
    assert outcome.error is not None
    assert "401" in outcome.error
    assert "credentials" in outcome.error


def test_a_get_signs_the_query_string_as_sent(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, method="GET").respond_with_data("ok")
    config = load(httpserver.url_for(PATH), f"        method: GET\n        secret: {SECRET}\n")

    outcome, _ = send(config)

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    assert verify(SECRET, request.query_string, request.headers["X-Sentinel-Signature"])


def test_decimal_and_datetime_values_are_sent_as_query_results_carry_them(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_oneshot_request(PATH, method="POST").respond_with_data("ok")
    config = load(httpserver.url_for(PATH), f"        secret: {SECRET}\n")
    result = QueryResult(
        Status.ALERT,
        actual_value=json_safe(Decimal("8420.10")),
        threshold=json_safe(Decimal("10000.00")),
        context={
            "exact": json_safe(Decimal("0.1000000000000000000001")),
            "last_order": json_safe(datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)),
            "city": "Zürich",
        },
    )

    outcome, _ = send(config, notification(config, result))

    assert outcome.ok, outcome.error
    [request] = received(httpserver)
    raw = request.get_data()
    assert "Zürich".encode() in raw  # UTF-8, not \\u escapes
    body = json.loads(raw)
    assert (body["actual_value"], body["threshold"]) == (8420.1, 10000)
    assert body["context"]["exact"] == "0.1000000000000000000001"
    assert body["context"]["last_order"] == "2026-11-26T23:59:59+00:00"
    assert verify(SECRET, raw, request.headers["X-Sentinel-Signature"])


# --- failures --------------------------------------------------------------------------------


def test_it_retries_a_500_then_delivers_exactly_once(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data("down", status=500)
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data("ok")
    config = load(httpserver.url_for(PATH))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (True, 2, [1.0])
    assert [response.status_code for _, response in httpserver.log] == [500, 200]
    assert {r.headers["Idempotency-Key"] for r in received(httpserver)} == {KEY}


def test_a_400_is_not_retried_and_quotes_the_receiver(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(
        {"error": "field 'team' is required"}, status=400
    )
    config = load(httpserver.url_for(PATH))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 1, [])
    assert outcome.error is not None
    assert "400 BAD REQUEST" in outcome.error.upper()
    assert "field 'team' is required" in outcome.error
    assert len(httpserver.log) == 1


def test_a_429_waits_for_retry_after_in_seconds(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data("ok")
    config = load(httpserver.url_for(PATH))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (True, 2, [7.0])


def test_a_429_waits_for_retry_after_as_an_http_date(httpserver: HTTPServer) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    later = format_datetime(now + timedelta(seconds=10), usegmt=True)
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data(
        "slow down", status=429, headers={"Retry-After": later}
    )
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_data("ok")
    config = load(httpserver.url_for(PATH))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts) == (True, 2)
    [slept] = sleeps
    assert 8 <= slept <= 10  # counted from the response's Date, to the second


def test_a_retry_after_beyond_what_a_tick_can_wait_is_left_to_the_next_run(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "3600"}
    )
    config = load(httpserver.url_for(PATH))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 1, [])
    assert outcome.error is not None
    assert "the server asked to wait 3600s, longer than a run waits" in outcome.error


def test_a_refused_connection_is_transient(httpserver: HTTPServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = load(f"http://127.0.0.1:{port}{PATH}")

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 3, [1.0, 2.0])
    assert outcome.error is not None
    assert "connection was refused" in outcome.error


def test_a_redirect_is_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data(
        "", status=302, headers={"Location": "https://elsewhere.example/hook/abcdef"}
    )
    config = load(httpserver.url_for(PATH))

    outcome, _ = send(config)

    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert outcome.error is not None
    assert "redirects to https://elsewhere.example/hook/***" in outcome.error
    assert len(httpserver.log) == 1


@pytest.fixture
def stalled() -> Iterator[HTTPServer]:
    """Yield a receiver that does not answer until the test ends (or 5 s pass)."""
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(5)
        return Response("ok")

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(PATH).respond_with_handler(hang)
    server.start()
    try:
        yield server
    finally:
        release.set()
        server.stop()


def test_a_receiver_that_does_not_answer_in_time_is_a_transient_failure(
    stalled: HTTPServer,
) -> None:
    config = load(stalled.url_for(PATH), settings="  http: {timeout: 0.2s}\n")

    outcome, sleeps = send(config, attempts=2)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 2, [1.0])
    assert outcome.error is not None
    assert "no answer within 0.2s" in outcome.error


@pytest.fixture
def stalling_body() -> Iterator[tuple[HTTPServer, list[str]]]:
    """Yield a receiver that answers 200 with ``Content-Length: 100``, sends 7 bytes of body
    and then nothing until the test ends; and the paths of the requests it was sent."""
    release = threading.Event()
    seen: list[str] = []

    def body() -> Iterator[bytes]:
        yield b"partial"
        release.wait(5)

    def answer(request: Request) -> Response:
        seen.append(request.path)
        headers = {"Content-Length": "100"}
        return Response(body(), status=200, headers=headers, direct_passthrough=True)

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(PATH).respond_with_handler(answer)
    server.start()
    try:
        yield server, seen
    finally:
        release.set()
        server.stop()


@pytest.fixture
def resetting_body() -> Iterator[tuple[str, list[bytes]]]:
    """Yield the URL of a receiver that answers 200 with ``Content-Length: 100``, sends 7
    bytes of body and resets the connection; and the request lines it was sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    listener.settimeout(0.05)  # to notice the end of the test: close() does not wake accept()
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            with conn, contextlib.suppress(OSError):  # a client gone early is its business
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, received = data.partition(b"\r\n\r\n")
                declared = re.search(rb"(?i)content-length: *(\d+)", head)
                while declared and len(received) < int(declared[1]):
                    received += conn.recv(65536)
                seen.append(head.split(b"\r\n")[0])
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
                # linger 0: close with a reset, as a crashing receiver or a proxy does
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}{PATH}", seen
    finally:
        done.set()
        thread.join(5)
        listener.close()


def test_a_2xx_whose_body_stalls_is_delivered_once(
    stalling_body: tuple[HTTPServer, list[str]],
) -> None:
    server, seen = stalling_body
    config = load(server.url_for(PATH), settings="  http: {timeout: 0.2s}\n")

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, outcome.error, sleeps) == (True, 1, None, [])
    assert seen == [PATH]


def test_a_2xx_whose_connection_is_reset_during_the_body_is_delivered_once(
    resetting_body: tuple[str, list[bytes]],
) -> None:
    url, seen = resetting_body
    config = load(url, settings="  http: {timeout: 0.2s}\n")

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, outcome.error, sleeps) == (True, 1, None, [])
    assert seen == [f"POST {PATH} HTTP/1.1".encode()]


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[HTTPServer, Path]]:
    """Yield an HTTPS receiver with a certificate from a private CA, and that CA's file."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.expect_request(PATH, method="POST").respond_with_data("ok")
    server.start()
    try:
        yield server, ca_file
    finally:
        server.stop()


def test_a_certificate_the_client_does_not_trust_is_a_permanent_failure(
    tls_receiver: tuple[HTTPServer, Path],
) -> None:
    server, _ = tls_receiver
    config = load(server.url_for(PATH))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 1, [])
    assert outcome.error is not None
    assert "TLS certificate could not be verified" in outcome.error
    assert server.log == []


def test_a_private_ca_in_ssl_cert_file_is_trusted(
    tls_receiver: tuple[HTTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca_file = tls_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    config = load(server.url_for(PATH))

    outcome, _ = send(config)

    assert outcome.ok, outcome.error
    assert len(server.log) == 1


def test_every_attempt_shares_one_tls_context(
    tls_receiver: tuple[HTTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca_file = tls_receiver
    server.clear_all_handlers()
    server.expect_ordered_request(PATH).respond_with_data("busy", status=503)
    server.expect_ordered_request(PATH).respond_with_data("busy", status=503)
    server.expect_ordered_request(PATH).respond_with_data("ok")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # a path no earlier test has used
    made: list[object] = []
    create_default_context = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(args or kwargs)
        return create_default_context(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    config = load(server.url_for(PATH))

    outcome, _ = send(config)

    assert (outcome.ok, outcome.attempts) == (True, 3)
    assert len(made) == 1


def test_https_to_a_plain_http_port_is_a_permanent_failure(httpserver: HTTPServer) -> None:
    config = load(httpserver.url_for(PATH).replace("http://", "https://"))

    outcome, sleeps = send(config)

    assert (outcome.ok, outcome.attempts, sleeps) == (False, 1, [])
    assert outcome.error is not None
    assert "scheme (http or https) and port" in outcome.error


# --- secrets ---------------------------------------------------------------------------------

SECRET_ENTRY = (
    "        headers:\n"
    f"          Authorization: Bearer {TOKEN}\n"
    f"          X-Api-Key: {API_KEY}\n"
    "          X-Environment: production\n"
    f"        secret: {SECRET}\n"
)


def test_render_masks_credential_headers_and_never_shows_the_secret(
    httpserver: HTTPServer,
) -> None:
    config = load(httpserver.url_for("/hooks/T0KENINPATH"), SECRET_ENTRY)
    notifier = channel(config)

    text = notifier.render(notification(config))

    assert "Authorization: ***" in text
    assert "X-Api-Key: ***" in text
    assert "X-Environment: production" in text
    assert "X-Sentinel-Signature: sha256=" in text
    for secret in (TOKEN, API_KEY, SECRET, "T0KENINPATH"):
        assert secret not in text
        assert secret not in repr(notifier)
    assert text.splitlines()[0] == f"POST {httpserver.url_for('/hooks/***')}"


def test_errors_never_show_secrets_even_when_the_receiver_echoes_them(
    httpserver: HTTPServer,
) -> None:
    def echo(request: Request) -> Response:
        return Response(f"unauthorized: {request.headers['Authorization']}", status=403)

    httpserver.expect_request("/hooks/T0KENINPATH", method="POST").respond_with_handler(echo)
    config = load(httpserver.url_for("/hooks/T0KENINPATH"), SECRET_ENTRY)

    outcome, _ = send(config)

    assert (outcome.ok, outcome.attempts) == (False, 1)
    assert outcome.error is not None
    assert "403" in outcome.error
    for secret in (TOKEN, API_KEY, SECRET, "T0KENINPATH"):
        assert secret not in outcome.error


def test_the_raw_error_names_the_url_redacted(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hooks/T0KENINPATH", method="POST").respond_with_data(
        "nope", status=404
    )
    config = load(httpserver.url_for("/hooks/T0KENINPATH"))

    with pytest.raises(NotifyError) as caught:
        channel(config).send(notification(config))

    assert caught.value.permanent
    assert str(caught.value).startswith(f"POST {httpserver.url_for('/hooks/***')} answered 404")
    assert "T0KENINPATH" not in str(caught.value)


# An Azure Functions key, as its portal hands it out: the URL's query is the credential.
AZURE_KEY = "pQ7vZ2xR9kLm4TnB8wYc3HdJ6sAf1GeU0iOq5yXrVbNh-_aZ=="


def key_forms(key: str) -> set[str]:
    """Return the key as written, percent-encoded, and its first half (a partial leak)."""
    return {key, quote(key, safe=""), quote(key), key[: len(key) // 2]}


def test_the_channel_registers_its_query_values_and_names_its_url_without_them(
    httpserver: HTTPServer,
) -> None:
    url = httpserver.url_for("/api/alert") + f"?code={AZURE_KEY}"
    config = load(url, "        method: GET\n")
    redactor.clear()  # as if the config had been built without the loader

    notifier = channel(config)

    assert AZURE_KEY in redactor.secrets
    redactor.clear()  # what remains must be hidden by the channel itself
    rendered = notifier.render(notification(config))
    assert notifier.target == httpserver.url_for("/api/***") + "?***"
    assert rendered.splitlines()[0].startswith(f"GET {notifier.target}&actual_value=8420.5&")
    for form in key_forms(AZURE_KEY):
        assert form not in notifier.target
        assert form not in rendered
        assert form not in repr(notifier)


def test_an_azure_function_key_never_appears_in_output_errors_or_logs(
    httpserver: HTTPServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def echo(request: Request) -> Response:  # a receiver that quotes the URL it was called at
        return Response(f"no function at {request.url} ({request.query_string!r})", status=404)

    httpserver.expect_request("/api/alert").respond_with_handler(echo)
    httpserver.expect_request("/slack").respond_with_handler(echo)
    sqlite3.connect(tmp_path / "data.db").close()
    webhook_url = f"{httpserver.url_for('/api/alert')}?code={AZURE_KEY}"
    slack_url = f"{httpserver.url_for('/slack')}?code={AZURE_KEY}"
    path = tmp_path / "alerts.yaml"
    path.write_text(
        f'database: "sqlite:///{tmp_path / "data.db"}"\n'
        "alerts:\n"
        "  - name: probe\n"
        "    query: SELECT 'ALERT' AS status, 3 AS actual_value, 1 AS threshold\n"
        "    schedule: '@hourly'\n"
        "    notify:\n"
        f"      - {{channel: webhook, url: '{webhook_url}'}}\n"
        f"      - {{channel: slack, webhook_url: '{slack_url}'}}\n",
        encoding="utf-8",
    )
    runs = [
        ["test", str(path)],
        ["test", str(path), "--format", "json"],
        ["execute", str(path), "probe", "--log-level", "debug"],
        ["execute", str(path), "probe", "--format", "json", "--log-level", "debug"],
        ["execute", str(path), "probe", "--dry-run"],
        ["execute", str(path), "probe", "--dry-run", "--format", "json"],
        ["--debug", "execute", str(path), "probe"],
    ]
    outputs = []
    for argv in runs:
        code = main(argv)
        captured = capsys.readouterr()
        outputs.append((argv, code, captured.out + captured.err))

    assert [code for _, code, _ in outputs] == [0, 0, 1, 1, 0, 0, 1]
    assert len(httpserver.log) == 6  # each real execute reached both receivers
    for argv, _, text in outputs:
        for form in key_forms(AZURE_KEY):
            assert form not in text, f"{form!r} leaked by {argv}:\n{text}"
    summary = outputs[0][2]
    assert f"webhook to {httpserver.url_for('/api/***')}?***" in summary
    failure = outputs[2][2]
    assert "answered 404" in failure
    assert "NOT delivered" in failure  # the log line, on stderr


def test_a_header_http_cannot_carry_is_a_config_error_that_hides_its_value(
    httpserver: HTTPServer,
) -> None:
    config = load(httpserver.url_for(PATH), "        headers: {Authorization: 'Bearer ☃'}\n")
    with pytest.raises(ConfigError, match="header 'Authorization'") as caught:
        channel(config)
    assert "☃" not in str(caught.value)
