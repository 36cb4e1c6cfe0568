"""A local SMS gateway for tests and benchmarks: a real HTTP server on 127.0.0.1.

``POST /send`` with ``{"to", "text"}`` (bearer token) records the message and answers ``{"id": "gw-N"}``,
the id its delivery reports name; it can be told to fail the next N sends (503). The gateway's other half
(delivery reports and inbound SMS, which a real gateway posts to our webhooks) is built here as signed
requests: ``signed(body, secret)`` gives the headers and bytes to post to ``/api/v1/sms-gateway/...``.

Run alone: ``python -m tests.fakes.sms_gateway --port 8124``.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lsso_mobile.services.phones import normalise_lao_mobile
from lsso_mobile.services.sms import webhook_signature


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class FakeSmsGateway:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self.fail_next = 0
        self.failures = 0
        self.lock = threading.Lock()
        self._server: _Server | None = None

    # -- the server
    def start(self, port: int = 0) -> FakeSmsGateway:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with gateway.lock:
                    if gateway.fail_next > 0:
                        gateway.fail_next -= 1
                        gateway.failures += 1
                        self._answer(503, {"error": "unavailable"})
                        return
                    message_id = f"gw-{len(gateway.messages) + 1}"
                    gateway.messages.append({"to": body.get("to"), "text": body.get("text"), "id": message_id})
                    gateway.auth_headers.append(self.headers.get("Authorization", ""))
                self._answer(200, {"id": message_id, "status": "queued"})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/send"

    # -- what was sent
    def to(self, phone: str) -> list[dict[str, Any]]:
        phone = normalise_lao_mobile(phone)
        with self.lock:
            return [m for m in self.messages if m["to"] == phone]

    def count_to(self, phone: str) -> int:
        return len(self.to(phone))

    def last_code(self, phone: str) -> str:
        for message in reversed(self.to(phone)):
            found = re.search(r"\b(\d{6})\b", message["text"])
            if found:
                return found.group(1)
        raise AssertionError(f"no code was sent to {phone}")

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.auth_headers.clear()
            self.fail_next = self.failures = 0

    # -- what a real gateway posts back to us
    @staticmethod
    def signed(payload: dict[str, Any], secret: str, at: float | None = None) -> tuple[dict[str, str], bytes]:
        body = json.dumps(payload, ensure_ascii=False).encode()
        timestamp = str(int(at if at is not None else time.time()))
        return (
            {
                "Content-Type": "application/json",
                "X-Lsso-Timestamp": timestamp,
                "X-Lsso-Signature": webhook_signature(secret, timestamp, body),
            },
            body,
        )

    @staticmethod
    def delivery_report(message_id: str, status: str = "delivered", error_code: str | None = None) -> dict[str, Any]:
        return {"reports": [{"message_id": message_id, "status": status, "error_code": error_code}]}

    @staticmethod
    def inbound(sender: str, text: str, message_id: str) -> dict[str, Any]:
        return {"message_id": message_id, "from": sender, "text": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8124)
    port = parser.parse_args().port
    gateway = FakeSmsGateway().start(port)
    print(f"fake SMS gateway on {gateway.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        gateway.stop()


if __name__ == "__main__":
    main()
