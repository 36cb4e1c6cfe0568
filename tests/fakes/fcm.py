"""A local FCM-compatible HTTP server for tests and benchmarks (standard library only).

It speaks just enough of the FCM HTTP v1 API for the real firebase-admin SDK:

- ``POST /v1/projects/{project}/messages:send`` answers ``{"name": "projects/{project}/messages/{n}"}``
  (a request without an ``Authorization: Bearer`` header gets 401, like FCM);
- ``POST /token`` is an OAuth2 token endpoint for a service-account JSON whose ``token_uri`` points
  here (see ``write_service_account_json``).

Failures are set per device token (``set_rule``): ``unregistered`` (404), ``quota`` (429 with
Retry-After), ``unavailable`` (503), ``internal`` (500), ``invalid`` (400), ``sender_mismatch``
(403), ``third_party_auth`` (401), each for a limited number of requests or forever, with the
error body FCM sends (``details[].errorCode`` is what the SDK maps to its exception classes).

Accepted means "the sender got the 200": a message is recorded only when the server answers 200
and the client was still connected right before the answer (the socket is peeked for EOF just
before writing). A client that gave up during a ``hold`` (timeout, killed worker) has not had
its message accepted, exactly as with FCM, where a request cut off before the response may or
may not have been delivered and the sender must treat it as not sent. (A client that disconnects
between the peek and the write is still counted: the window is a few microseconds.)

In-process::

    with FakeFcmServer() as fcm:           # port 0: a free port; .url is e.g. http://127.0.0.1:41234
        fcm.set_rule("tok-1", "unregistered")
        ...
        assert fcm.counts_by_token() == {"tok-2": 1}

From another process: ``python -m tests.fakes.fcm --port 8123`` and the control
endpoints ``GET /_control/counts``, ``GET /_control/total``, ``GET /_control/receipts``,
``POST /_control/rules`` (a JSON list of ``{"token", "kind", "times", "retry_after"}``),
``POST /_control/reset`` and ``POST /_control/hold`` (``{"tokens": [...] or null for all, "seconds": s}``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# kind -> (HTTP status, google.rpc status, FCM errorCode)
FAILURES: dict[str, tuple[int, str, str]] = {
    "unregistered": (404, "NOT_FOUND", "UNREGISTERED"),
    "quota": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    "unavailable": (503, "UNAVAILABLE", "UNAVAILABLE"),
    "internal": (500, "INTERNAL", "INTERNAL"),
    "invalid": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "sender_mismatch": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    "third_party_auth": (401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"),
}
DEFAULT_QUOTA_RETRY_AFTER = 1
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


@dataclass
class _Rule:
    kind: str
    remaining: int | None  # None: forever
    retry_after: int | str | None


@dataclass
class _Hold:
    matches: Callable[[str], bool]
    seconds: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses pooled connections
    disable_nagle_algorithm = True  # TCP_NODELAY on each accepted socket: no ~40 ms stalls
    wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request)
    server: FakeFcmServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # never one line per request on stderr

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if match := _SEND_PATH.match(path):
            self._send_message(match.group(1), body)
        elif path == "/token":
            self._grant_token(body)
        elif path.startswith("/_control/"):
            self._control(path, body)
        else:
            self._reply(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})

    def do_GET(self) -> None:
        if self.path == "/_control/total":  # cheap enough to poll while measuring
            self._reply(200, {"total": self.server.accepted_count()})
        elif self.path == "/_control/counts":
            self._reply(200, {"total": self.server.accepted_count(), "by_token": self.server.counts_by_token()})
        elif self.path == "/_control/receipts":  # [[unix time, token], ...] in arrival order
            self._reply(200, {"receipts": self.server.receipts()})
        else:
            self._reply(404, {"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}})

    def _send_message(self, project: str, body: bytes) -> None:
        try:
            request = json.loads(body)
            message = request["message"]
            token = message.get("token") or message["fid"]  # fid: SDK 7.7's successor to token
        except (ValueError, KeyError, TypeError):
            self._reply(400, _error_body(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"))
            return
        authorization = self.headers.get("Authorization") or ""
        if not authorization.startswith("Bearer "):
            self._reply(401, _error_body(401, "UNAUTHENTICATED", None))
            return
        server = self.server
        delay = server.begin_send(token, authorization.removeprefix("Bearer "))
        if delay and server.stopping.wait(delay):
            self.close_connection = True
            return
        failure = server.take_failure(token)
        if failure is not None:
            status, headers, error = failure
            self._reply(status, error, headers)
            return
        if not self._client_connected():
            self.close_connection = True
            return
        name = server.accept(project, token, message, dry_run=bool(request.get("validate_only")))
        self._reply(200, {"name": name})

    def _grant_token(self, body: bytes) -> None:
        form = parse_qs(body.decode("ascii", "replace"))
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"] or "assertion" not in form:
            self._reply(400, {"error": "invalid_grant", "error_description": "Bad grant"})
            return
        access_token = self.server.issue_access_token()
        self._reply(200, {"access_token": access_token, "expires_in": 3600, "token_type": "Bearer"})

    def _control(self, path: str, body: bytes) -> None:
        server = self.server
        try:
            payload = json.loads(body) if body else None
            if path == "/_control/rules":
                for rule in payload or []:
                    server.set_rule(rule["token"], rule["kind"], rule.get("times"), rule.get("retry_after"))
            elif path == "/_control/reset":
                server.reset()
            elif path == "/_control/hold":
                server.hold(payload.get("tokens"), float(payload["seconds"]))
            else:
                self._reply(404, {"error": "unknown control endpoint"})
                return
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            self._reply(400, {"error": f"bad control request: {error!r}"})
            return
        self._reply(200, {"ok": True})

    def _client_connected(self) -> bool:
        try:
            return self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            return True  # nothing to read, not closed
        except OSError:
            return False

    def _reply(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _every_token(_token: str) -> bool:
    return True


def _error_body(status: int, rpc_status: str, error_code: str | None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": f"Fake FCM: {error_code or rpc_status}", "status": rpc_status}
    if error_code:
        error["details"] = [{"@type": _FCM_ERROR_TYPE, "errorCode": error_code}]
    return {"error": error}


class FakeFcmServer(ThreadingHTTPServer):
    """The fake FCM server; all state methods are thread-safe."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # send_each opens up to 500 connections at once

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self.reset()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client went away: not news
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeFcmServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes held requests
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> FakeFcmServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- configuration ---------------------------------------------------------------------
    def set_rule(self, token: str, kind: str, times: int | None = None, retry_after: int | str | None = None) -> None:
        """Fail requests for ``token`` with ``kind`` (see FAILURES) ``times`` times, or forever if None.

        ``retry_after`` (seconds, or an HTTP-date string) adds a Retry-After header; ``quota``
        always has one (DEFAULT_QUOTA_RETRY_AFTER seconds unless given)."""
        if kind not in FAILURES:
            raise ValueError(f"unknown failure kind {kind!r}; expected one of {sorted(FAILURES)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None: forever)")
        if kind == "quota" and retry_after is None:
            retry_after = DEFAULT_QUOTA_RETRY_AFTER
        with self._lock:
            self._rules[token] = _Rule(kind, times, retry_after)

    def clear_rules(self) -> None:
        """Remove every failure rule and hold."""
        with self._lock:
            self._rules = {}
            self._holds = []

    def hold(self, tokens: Iterable[str] | Callable[[str], bool] | None, seconds: float) -> None:
        """Delay the answer to messages for ``tokens`` (a collection, a predicate, or None for all)."""
        matches: Callable[[str], bool]
        if tokens is None:
            matches = _every_token
        elif callable(tokens):
            matches = tokens
        else:
            matches = frozenset(tokens).__contains__
        with self._lock:
            self._holds.append(_Hold(matches, seconds))

    def reset(self) -> None:
        """Forget accepted messages, counters, rules and holds."""
        with self._lock:
            self._accepted: dict[str, list[dict[str, Any]]] = {}
            self._receipts: list[tuple[float, str]] = []
            self._attempts: dict[str, int] = {}
            self._rules: dict[str, _Rule] = {}
            self._holds: list[_Hold] = []
            self._issued: list[str] = []
            self._bearers: set[str] = set()

    # -- what arrived ----------------------------------------------------------------------
    def accepted(self, token: str) -> list[dict[str, Any]]:
        """The messages accepted for ``token``, as the SDK sent them (data, notification, android, apns)."""
        with self._lock:
            return list(self._accepted.get(token, []))

    def accepted_count(self) -> int:
        with self._lock:
            return len(self._receipts)

    def counts_by_token(self) -> dict[str, int]:
        with self._lock:
            return {token: len(messages) for token, messages in self._accepted.items()}

    def receipts(self) -> list[tuple[float, str]]:
        """(time.time(), token) of each accepted message, in order of acceptance."""
        with self._lock:
            return list(self._receipts)

    def attempts(self, token: str) -> int:
        """Send requests received for ``token``, failed ones included."""
        with self._lock:
            return self._attempts.get(token, 0)

    def issued_access_tokens(self) -> list[str]:
        """Access tokens granted by ``POST /token``."""
        with self._lock:
            return list(self._issued)

    def bearer_tokens(self) -> set[str]:
        """Bearer tokens seen on send requests."""
        with self._lock:
            return set(self._bearers)

    # -- used by the handler ---------------------------------------------------------------
    def begin_send(self, token: str, bearer: str) -> float:
        """Count an attempt for ``token``; return how long to hold its answer."""
        with self._lock:
            self._attempts[token] = self._attempts.get(token, 0) + 1
            self._bearers.add(bearer)
            return max((h.seconds for h in self._holds if h.matches(token)), default=0.0)

    def take_failure(self, token: str) -> tuple[int, dict[str, str], dict[str, Any]] | None:
        with self._lock:
            rule = self._rules.get(token)
            if rule is None:
                return None
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    del self._rules[token]
        status, rpc_status, error_code = FAILURES[rule.kind]
        headers = {}
        if rule.retry_after is not None:
            after = rule.retry_after
            headers["Retry-After"] = after if isinstance(after, str) else str(math.ceil(after))
        return status, headers, _error_body(status, rpc_status, error_code)

    def accept(self, project: str, token: str, message: dict[str, Any], *, dry_run: bool) -> str:
        with self._lock:
            number = next(self._ids)
            if not dry_run:
                self._accepted.setdefault(token, []).append(message)
                self._receipts.append((time.time(), token))
        return f"projects/{project}/messages/{number}"

    def issue_access_token(self) -> str:
        with self._lock:
            access_token = f"fake-access-token-{len(self._issued) + 1}"
            self._issued.append(access_token)
        return access_token


def write_service_account_json(
    path: str | Path, token_uri: str, project_id: str, *, universe_domain: str | None = None
) -> Path:
    """Write a valid service-account JSON (fresh RSA key) whose OAuth2 ``token_uri`` is ``token_uri``.

    google-auth exchanges a signed JWT at ``token_uri`` only for the default universe domain
    (googleapis.com, i.e. ``universe_domain`` None); with any other universe domain (e.g.
    ``"local.test"``) it signs its own JWT access token and never calls ``token_uri``.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = f"fake-fcm@{project_id}.iam.gserviceaccount.com"
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "fake-key-1",
        "private_key": pem,
        "client_email": email,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
    }
    if universe_domain:
        info["universe_domain"] = universe_domain
    target = Path(path)
    target.write_text(json.dumps(info, indent=2))
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a local FCM-compatible server in the foreground.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args(argv)
    server = FakeFcmServer(args.host, args.port)
    print(f"fake FCM listening on {server.url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
