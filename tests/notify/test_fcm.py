"""The push sender over HTTP: the real firebase-admin SDK against the local fake FCM server."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import firebase_admin
import pytest
import requests
from firebase_admin import messaging

from lsso_mobile.notify.fcm import (
    FcmPushSender,
    LogPushSender,
    PushMessage,
    PushOutcome,
    StaticTokenCredentials,
    build_push_sender,
    point_messaging_at,
)
from tests.fakes.fcm import FakeFcmServer, write_service_account_json


@pytest.fixture(scope="module")
def server() -> Iterator[FakeFcmServer]:
    with FakeFcmServer() as fcm:
        yield fcm


@pytest.fixture
def fcm(server: FakeFcmServer) -> FakeFcmServer:
    server.reset()
    return server


@pytest.fixture(scope="module")
def sender(server: FakeFcmServer) -> Iterator[FcmPushSender]:
    fcm_sender = FcmPushSender(endpoint=server.url, project_id="lsso-test", http_timeout=5)
    yield fcm_sender
    fcm_sender.close()


def push(token: str, **fields: object) -> PushMessage:
    return PushMessage(**{"token": token, "title": "Contribution received", "body": "2025-01: 120,000 kip", **fields})


def test_send_delivers_every_payload_field(fcm: FakeFcmServer, sender: FcmPushSender) -> None:
    message = push(
        "tok-payload",
        data={"notification_id": "42", "kind": "contribution"},
        collapse_key="contrib-2025-01",
        ttl_seconds=3600,
        badge=3,
    )
    before = int(time.time())

    [result] = sender.send([message])

    assert result.outcome is PushOutcome.SENT
    assert result.message_id is not None and result.message_id.startswith("projects/lsso-test/messages/")
    [sent] = fcm.accepted("tok-payload")
    assert sent["notification"] == {"title": "Contribution received", "body": "2025-01: 120,000 kip"}
    assert sent["data"] == {"notification_id": "42", "kind": "contribution"}
    assert sent["android"] == {"collapse_key": "contrib-2025-01", "ttl": "3600s", "priority": "high"}
    assert sent["apns"]["payload"] == {"aps": {"badge": 3}}
    headers = sent["apns"]["headers"]
    assert headers["apns-collapse-id"] == "contrib-2025-01"
    assert before + 3600 <= int(headers["apns-expiration"]) <= int(time.time()) + 3600
    assert fcm.bearer_tokens() == {"lsso-local"}


def test_each_fcm_error_maps_to_its_outcome(fcm: FakeFcmServer, sender: FcmPushSender) -> None:
    expected = {
        "unregistered": (PushOutcome.UNREGISTERED, "UNREGISTERED"),
        "quota": (PushOutcome.RETRY, "QUOTA_EXCEEDED"),
        "unavailable": (PushOutcome.RETRY, "UNAVAILABLE"),
        "internal": (PushOutcome.RETRY, "INTERNAL"),
        "invalid": (PushOutcome.FAILED, "INVALID_ARGUMENT"),
        "sender_mismatch": (PushOutcome.FAILED, "SENDER_ID_MISMATCH"),
        "third_party_auth": (PushOutcome.FAILED, "THIRD_PARTY_AUTH_ERROR"),
    }
    for kind in expected:
        fcm.set_rule(f"tok-{kind}", kind, retry_after=7 if kind == "quota" else None)

    results = sender.send([push(f"tok-{kind}") for kind in expected] + [push("tok-fine")])

    assert [(r.outcome, r.error_code) for r in results] == [*expected.values(), (PushOutcome.SENT, None)]
    assert [r.token for r in results] == [f"tok-{kind}" for kind in expected] + ["tok-fine"]
    assert {r.error_code: r.retry_after_seconds for r in results}["QUOTA_EXCEEDED"] == 7.0
    assert fcm.counts_by_token() == {"tok-fine": 1}
    assert fcm.attempts("tok-unavailable") == 1  # the SDK's own retries are off by default


def test_retry_after_as_http_date(fcm: FakeFcmServer, sender: FcmPushSender) -> None:
    fcm.set_rule("tok-busy", "unavailable", retry_after=formatdate(time.time() + 120, usegmt=True))

    [result] = sender.send([push("tok-busy")])

    assert result.outcome is PushOutcome.RETRY
    assert result.retry_after_seconds is not None and 115 < result.retry_after_seconds <= 120


def test_rule_applied_a_limited_number_of_times(fcm: FakeFcmServer, sender: FcmPushSender) -> None:
    fcm.set_rule("tok-flaky", "internal", times=2)

    outcomes = [sender.send([push("tok-flaky")])[0].outcome for _ in range(3)]

    assert outcomes == [PushOutcome.RETRY, PushOutcome.RETRY, PushOutcome.SENT]
    assert fcm.counts_by_token() == {"tok-flaky": 1}


def test_sdk_retries_can_be_turned_back_on(fcm: FakeFcmServer) -> None:
    fcm.set_rule("tok-503-once", "unavailable", times=1)
    retrying = FcmPushSender(endpoint=fcm.url, project_id="lsso-test", http_timeout=5, sdk_retries=True)
    try:
        [result] = retrying.send([push("tok-503-once")])
    finally:
        retrying.close()

    assert result.outcome is PushOutcome.SENT
    assert fcm.attempts("tok-503-once") == 2


def test_a_message_the_sdk_rejects_fails_alone(fcm: FakeFcmServer, sender: FcmPushSender) -> None:
    bad = push("tok-bad", data={"count": 1})  # not a string: the SDK would refuse the whole batch

    results = sender.send([push("tok-a"), bad, push("tok-b")])

    assert [(r.token, r.outcome) for r in results] == [
        ("tok-a", PushOutcome.SENT),
        ("tok-bad", PushOutcome.FAILED),
        ("tok-b", PushOutcome.SENT),
    ]
    assert fcm.counts_by_token() == {"tok-a": 1, "tok-b": 1}


def test_1200_messages_arrive_exactly_once(fcm: FakeFcmServer, sender: FcmPushSender) -> None:
    tokens = [f"tok-{n:04d}" for n in range(1200)]
    messages = [push(token, data={"notification_id": str(n)}) for n, token in enumerate(tokens)]

    started = time.perf_counter()
    results = sender.send(messages)  # send_each refuses more than 500: this needs three chunks
    elapsed = time.perf_counter() - started

    assert [r.token for r in results] == tokens
    assert all(r.outcome is PushOutcome.SENT for r in results)
    assert len({r.message_id for r in results}) == 1200
    assert fcm.counts_by_token() == dict.fromkeys(tokens, 1)
    assert fcm.accepted_count() == 1200
    print(f"\n1200 pushes in {elapsed:.2f} s: {elapsed / 1.2:.2f} ms per message")


def test_service_account_json_with_local_token_endpoint(
    fcm: FakeFcmServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the default universe domain google-auth also looks up the account's "regional access
    # boundary" at iamcredentials.googleapis.com in a background thread. Routing HTTPS through the
    # fake server, which refuses CONNECT, keeps that lookup off the network.
    monkeypatch.setenv("HTTPS_PROXY", fcm.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    path = write_service_account_json(tmp_path / "sa.json", f"{fcm.url}/token", "lsso-sa")
    sa_sender = FcmPushSender(credentials_path=str(path), endpoint=fcm.url, http_timeout=5)
    try:
        results = sa_sender.send([push(f"tok-sa-{n}") for n in range(50)])
    finally:
        sa_sender.close()
        for thread in threading.enumerate():
            if "RegionalAccessBoundary" in type(thread).__name__:
                thread.join(5)

    assert all(r.outcome is PushOutcome.SENT for r in results)
    assert results[0].message_id is not None and results[0].message_id.startswith("projects/lsso-sa/")
    assert fcm.issued_access_tokens() == ["fake-access-token-1"]  # once, not once per sending thread
    assert fcm.bearer_tokens() == {"fake-access-token-1"}


def test_non_google_universe_domain_signs_its_own_token(fcm: FakeFcmServer, tmp_path: Path) -> None:
    path = write_service_account_json(tmp_path / "sa.json", f"{fcm.url}/token", "lsso-sa", universe_domain="local.test")
    sa_sender = FcmPushSender(credentials_path=str(path), endpoint=fcm.url, http_timeout=5)
    try:
        [result] = sa_sender.send([push("tok-jwt")])
    finally:
        sa_sender.close()

    assert result.outcome is PushOutcome.SENT
    assert fcm.issued_access_tokens() == []  # token_uri is never called: a self-signed JWT instead
    [bearer] = fcm.bearer_tokens()
    assert bearer.count(".") == 2


def test_point_messaging_at_rebases_the_real_service_and_fails_loudly_when_it_changes() -> None:
    app = firebase_admin.initialize_app(
        StaticTokenCredentials("t"), {"projectId": "lsso-p"}, name="test-point-messaging-at"
    )
    try:
        service = messaging._get_messaging_service(app)
        assert service._fcm_url == "https://fcm.googleapis.com/v1/projects/lsso-p/messages:send"

        point_messaging_at(app, "http://127.0.0.1:9/")

        assert service._fcm_url == "http://127.0.0.1:9/v1/projects/lsso-p/messages:send"
        assert service._fcm_topic_url == "http://127.0.0.1:9/v1/projects/lsso-p/registrations"
        del service._fcm_topic_url  # what a new SDK version renaming it would look like
        with pytest.raises(RuntimeError, match="no longer has the messaging internals"):
            point_messaging_at(app, "http://127.0.0.1:9")
    finally:
        firebase_admin.delete_app(app)


class _RecordingProxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every FCM call itself, and notes the URL each was for."""

    seen: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(self.path)
        body = b'{"name": "projects/lsso-test/messages/via-proxy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def test_the_environment_s_proxy_is_read_once_when_the_sender_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests would read the environment again for every push (a quarter of a worker's CPU): the sender
    takes the proxy once, and still goes through it."""
    _RecordingProxy.seen = []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    proxied = FcmPushSender(endpoint="http://fcm.lsso.invalid", project_id="lsso-test", http_timeout=5)
    try:
        monkeypatch.delenv("HTTP_PROXY")  # no longer looked at: the sender read it when it started
        [result] = proxied.send([push("tok-proxied")])
    finally:
        proxied.close()
        proxy.shutdown()
        proxy.server_close()

    assert (result.outcome, result.message_id) == (PushOutcome.SENT, "projects/lsso-test/messages/via-proxy")
    assert _RecordingProxy.seen == ["http://fcm.lsso.invalid/v1/projects/lsso-test/messages:send"]


def test_held_message_whose_client_gave_up_is_not_accepted(fcm: FakeFcmServer) -> None:
    impatient = FcmPushSender(endpoint=fcm.url, project_id="lsso-test", http_timeout=0.3)
    fcm.hold(["tok-held"], 0.8)
    fcm.hold(lambda token: token == "tok-slow", 0.1)
    try:
        results = impatient.send([push("tok-held"), push("tok-slow")])
    finally:
        impatient.close()

    assert [(r.outcome, r.error_code) for r in results] == [
        (PushOutcome.RETRY, "DEADLINE_EXCEEDED"),
        (PushOutcome.SENT, None),
    ]
    time.sleep(0.8)  # the held request ends on the server
    assert fcm.counts_by_token() == {"tok-slow": 1}
    assert fcm.attempts("tok-held") == 1  # no resend after a read timeout


def test_control_endpoints(fcm: FakeFcmServer, sender: FcmPushSender) -> None:
    rules = [{"token": "tok-dead", "kind": "unregistered"}, {"token": "tok-429", "kind": "quota", "retry_after": 3}]
    requests.post(f"{fcm.url}/_control/rules", json=rules, timeout=5).raise_for_status()

    results = sender.send([push("tok-dead"), push("tok-429"), push("tok-ok"), push("tok-ok")])

    assert [r.outcome for r in results] == [PushOutcome.UNREGISTERED, PushOutcome.RETRY, *[PushOutcome.SENT] * 2]
    assert results[1].retry_after_seconds == 3.0
    counts = requests.get(f"{fcm.url}/_control/counts", timeout=5).json()
    assert counts == {"total": 2, "by_token": {"tok-ok": 2}}
    requests.post(f"{fcm.url}/_control/reset", timeout=5).raise_for_status()
    assert requests.get(f"{fcm.url}/_control/counts", timeout=5).json() == {"total": 0, "by_token": {}}
    requests.post(f"{fcm.url}/_control/hold", json={"tokens": None, "seconds": 0.05}, timeout=5).raise_for_status()
    assert sender.send([push("tok-x")])[0].outcome is PushOutcome.SENT


def test_runs_as_a_command() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.fcm", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        assert requests.get(f"{url}/_control/counts", timeout=5).json() == {"total": 0, "by_token": {}}
    finally:
        process.terminate()
        process.wait(5)


def test_log_sender_logs_token_prefix_and_title_never_the_body(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lsso_mobile.notify.fcm")

    [result] = LogPushSender().send([push("abcdefgh-secret-rest", body="private body")])

    assert result.outcome is PushOutcome.SENT and result.message_id
    assert "abcdefgh" in caplog.text and "Contribution received" in caplog.text
    assert "secret-rest" not in caplog.text and "private body" not in caplog.text


def test_build_push_sender(server: FakeFcmServer) -> None:
    common = {"credentials_path": "", "project_id": "", "http_timeout": 5.0}
    assert isinstance(build_push_sender("log", endpoint="", **common), LogPushSender)
    fcm_sender = build_push_sender("fcm", endpoint=server.url, **common)
    assert isinstance(fcm_sender, FcmPushSender)
    fcm_sender.close()
    with pytest.raises(ValueError, match="credentials"):
        build_push_sender("fcm", endpoint="", **common)
    with pytest.raises(ValueError, match="unknown push backend"):
        build_push_sender("apns", endpoint="", **common)
