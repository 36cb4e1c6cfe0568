"""Test helpers: a recording SMS gateway (a real HTTP server) and sign-up/sign-in shortcuts."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask.testing import FlaskClient

from lsso_mobile.services.phones import normalise_lao_mobile

PIN = "135790"


@dataclass
class SmsGateway:
    """A local SMS gateway that records every message and can be told to fail."""

    server: ThreadingHTTPServer
    messages: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/send"

    def last_code(self, phone: str) -> str:
        phone = normalise_lao_mobile(phone)
        for message in reversed(self.messages):
            if message["to"] == phone:
                return re.search(r"\b(\d{6})\b", message["text"]).group(1)
        raise AssertionError(f"no SMS was sent to {phone}")

    def count_to(self, phone: str) -> int:
        return sum(1 for m in self.messages if m["to"] == phone)


def start_sms_gateway() -> SmsGateway:
    gateway: SmsGateway

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with gateway.lock:
                if gateway.fail_next > 0:
                    gateway.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                gateway.messages.append(body)
                gateway.auth_headers.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status":"queued"}')

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    gateway = SmsGateway(server=server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return gateway


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.05, message: str = "") -> Any:
    """Poll until predicate() is truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
        time.sleep(interval)


def request_code(
    client: FlaskClient, gateway: SmsGateway, phone: str, purpose: str | None = None, address: str | None = None
) -> str:
    """Ask for a code and read it at the gateway (sent in-process, or by a worker when Redis is used)."""
    before = gateway.count_to(normalise_lao_mobile(phone))
    body = {"phone": phone} if purpose is None else {"phone": phone, "purpose": purpose}
    environ = {"REMOTE_ADDR": address} if address else {}
    response = client.post("/api/v1/auth/otp", json=body, environ_base=environ)
    assert response.status_code == 202, response.json
    wait_until(lambda: gateway.count_to(normalise_lao_mobile(phone)) > before, message=f"an SMS to {phone}")
    return gateway.last_code(phone)


def sign_up(client: FlaskClient, gateway: SmsGateway, phone: str, language: str = "lo") -> dict[str, Any]:
    code = request_code(client, gateway, phone)
    response = client.post("/api/v1/auth/signup", json={"phone": phone, "code": code, "pin": PIN, "language": language})
    assert response.status_code == 201, response.json
    return response.json


def staff_sign_in(client: FlaskClient, username: str, password: str) -> dict[str, Any]:
    response = client.post("/api/v1/auth/staff/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.json
    return response.json


def application_form(**overrides: Any) -> dict[str, Any]:
    form = {
        "name_lo": "ນາງ ບົວໄລ ສີສຸວັນ",
        "name_latin": "Bualai Sisouvan",
        "date_of_birth": "1988-04-12",
        "sex": "female",
        "national_id": "LA-0101-123456",
        "province_code": "01",
        "district_code": "0101",
        "village_code": "01010001",
        "occupation": "Market vendor",
        "scheme": "voluntary",
        "declared_monthly_income": 2500000,
        "consent": True,
    }
    form.update(overrides)
    return form


def make_member_with_devices(session: Any, phone: str, tokens: list[str], language: str = "lo") -> int:
    """A member and active devices written straight to the database (for push tests that need no sign-up)."""
    from lsso_mobile.models import Device, Language, Member, Platform, utcnow
    from lsso_mobile.services.secrets_hashing import hash_secret

    now = utcnow()
    member = Member(
        phone=phone, pin_hash=hash_secret(PIN, "fast"), language=Language(language), created_at=now, updated_at=now
    )
    session.add(member)
    session.flush()
    session.add_all(
        [
            Device(
                member_id=member.id,
                token=token,
                platform=Platform.ANDROID if i % 2 == 0 else Platform.IOS,
                app_version="1.0.0",
                locale=language,
                created_at=now,
                last_seen_at=now,
            )
            for i, token in enumerate(tokens)
        ]
    )
    session.commit()
    return member.id


def notify(member_id: int, template: str = "registration_approved", **params: Any) -> int:
    """Record a notification the way a service does, commit, and let the after-commit job go."""
    from lsso_mobile import runtime
    from lsso_mobile.models import utcnow
    from lsso_mobile.notify.outbox import record_notification

    rt = runtime.current()
    values = {
        "application_id": 1,
        "member_number": "0100000001",
        "reason": "r",
        "office_name_lo": "ຫ້ອງການ",
        "office_name_en": "Office",
    }
    values.update(params)
    with rt.db.unit_of_work() as session:
        notification = record_notification(
            session, member_id, template, values, utcnow(), collapse_key=f"test-{member_id}"
        )
        notification_id = notification.id
    return notification_id


def field_codes(body: dict[str, Any]) -> dict[str, list[str]]:
    """An error answer's field codes: ``{"field": ["code", ...]}``."""
    return {field: [entry["error"] for entry in entries] for field, entries in (body.get("errors") or {}).items()}


def field_messages(body: dict[str, Any]) -> dict[str, list[str]]:
    """An error answer's field messages: ``{"field": ["message", ...]}``."""
    return {field: [entry["message"] for entry in entries] for field, entries in (body.get("errors") or {}).items()}
