"""A client generated from the OpenAPI document (openapi-python-client) runs a member's whole journey against
the service as production runs it: gunicorn, PostgreSQL, Redis, a worker, SMS codes to the test gateway.

Sign up, register (an officer approves, the core system sends a contribution), devices, inbox, contributions,
conversation. The generated client parses every answer into the document's models and raises on any status
the document does not list, so a document that is wrong about a field, a status or a shape fails here.
The client is generated into a temporary directory on each run and never committed; what the generator
trips on is fixed in the document, and a warning from it fails this test.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import requests

from tests.conftest import POSTGRES_ADMIN_URL, REDIS_URL
from tests.contract.service import BIN, ROOT, Service, running_service
from tests.scratch_db import scratch_postgres_database
from tests.support import SmsGateway, start_sms_gateway, wait_until

PACKAGE = "lsso_generated_client"
PHONE = "+8562055571001"
PIN = "482913"
# openapi-python-client does not support CSV request bodies at all: it leaves out the CSV form of each core
# import (saying so) and generates the JSON form. That is the one warning allowed; any other fails the test.
UNSUPPORTED_CSV = "Unsupported content type text/csv"


@pytest.fixture(scope="module")
def gateway() -> Iterator[SmsGateway]:
    gateway = start_sms_gateway()
    yield gateway
    gateway.server.shutdown()


@pytest.fixture(scope="module")
def service(gateway: SmsGateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    sms = {"sms_backend": "http", "sms_gateway_url": gateway.url, "sms_gateway_token": "sms-test-token"}
    with scratch_postgres_database(POSTGRES_ADMIN_URL, "lsso_client") as url:
        work_dir = tmp_path_factory.mktemp("client-service")
        with running_service(url, REDIS_URL, work_dir, gunicorn_workers=1, settings_overrides=sms) as service:
            yield service


@pytest.fixture(scope="module")
def generated(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated from the document the running service serves."""
    work = tmp_path_factory.mktemp("generated-client")
    spec_file = work / "openapi.json"
    spec_file.write_text(json.dumps(requests.get(f"{service.base_url}/api/openapi.json", timeout=30).json()))
    result = subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(spec_file),
            "--meta",
            "none",
            "--output-path",
            str(work / PACKAGE),
        ],
        capture_output=True,
        text=True,
        cwd=work,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},  # its ruff post-hook
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # each problem is one "WARNING ..." line followed by its reason; only the CSV bodies may be left out
    problems = [line for line in output.splitlines() if line.startswith("WARNING")]
    assert len(problems) == output.count(UNSUPPORTED_CSV), f"the generator tripped on the document:\n{output}"
    assert "Error" not in output, output
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _model(name: str) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response.parsed is not None and not isinstance(response.parsed, _model("Error")), response.parsed
    return response.parsed


def test_a_member_journey_with_the_generated_client(service: Service, gateway: SmsGateway, generated: ModuleType):
    base = service.base_url
    anonymous = generated.Client(base_url=base, raise_on_unexpected_status=True)

    def signed_in(token: str) -> Any:
        return generated.AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)

    # sign up: a code by SMS, then phone + code + PIN
    auth = "auth"
    sent = _ok(
        _api(f"{auth}.request_code").sync_detailed(
            client=anonymous, body=_model("CodeRequest").from_dict({"phone": PHONE})
        ),
        202,
    )
    assert sent.expires_in > 0
    wait_until(lambda: gateway.count_to(PHONE) > 0, message="the sign-up code at the SMS gateway")
    body = {"phone": PHONE, "code": gateway.last_code(PHONE), "pin": PIN, "language": "en"}
    tokens = _ok(_api(f"{auth}.sign_up").sync_detailed(client=anonymous, body=_model("SignUp").from_dict(body)), 201)
    member = signed_in(tokens.access_token)
    profile = _ok(_api("members.get_my_profile").sync_detailed(client=member), 200)
    assert profile.phone == PHONE and profile.member_number is None

    # register: the member applies, the demo officer of the office approves
    form = {
        "name_lo": "ນາງ ແກ້ວ ສີລາ",
        "name_latin": "Keo Sila",
        "date_of_birth": "1990-06-01",
        "sex": "female",
        "national_id": "LA-0101-571001",
        "province_code": "01",
        "district_code": "0101",
        "village_code": "01010001",
        "occupation": "Weaver",
        "scheme": "voluntary",
        "declared_monthly_income": 2_000_000,
        "consent": True,
    }
    application = _ok(
        _api("registration.apply_for_registration").sync_detailed(
            client=member, body=_model("ApplicationForm").from_dict(form)
        ),
        201,
    )
    staff_body = _model("StaffSignIn").from_dict({"username": "officer.vte", "password": "demo-password-1"})
    officer = signed_in(
        _ok(_api(f"{auth}.sign_in_staff").sync_detailed(client=anonymous, body=staff_body), 200).access_token
    )
    decision = _model("Decision").from_dict({"decision": "approve"})
    decided = _ok(
        _api("staff_registrations.decide_application").sync_detailed(application.id, client=officer, body=decision), 200
    )
    member_number = decided.member_number
    assert member_number and len(member_number) == 10
    assert _ok(_api("members.get_my_profile").sync_detailed(client=member), 200).member_number == member_number

    # devices
    device = {
        "token": f"journey-token-{uuid.uuid4().hex}",
        "platform": "android",
        "app_version": "1.0.0",
        "locale": "en",
    }
    _ok(
        _api("notifications.register_device").sync_detailed(
            client=member, body=_model("DeviceRegistration").from_dict(device)
        ),
        201,
    )
    devices = _ok(_api("notifications.list_devices").sync_detailed(client=member), 200)
    assert [d.platform.value for d in devices] == ["android"]

    # inbox: the registration notices, newest first; read one
    inbox = _ok(_api("notifications.list_notifications").sync_detailed(client=member), 200)
    links = [item.data.to_dict().get("deep_link") for item in inbox.items]
    assert f"lsso://registration/{application.id}" in links, links  # the decision, with its deep link
    assert inbox.unread_count >= 1 and inbox.server_time is not None
    first = inbox.items[0]
    read = _ok(_api("notifications.mark_notification_read").sync_detailed(first.id, client=member), 200)
    assert read.read_at is not None

    # contributions: the core system sends a paid month for the new member number
    client_line = subprocess.run(
        [str(BIN / "lsso-mobile"), "create-client", "--name", "journey core"],
        env=service.environ,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    credentials = dict(line.split(": ", 1) for line in client_line.splitlines() if ": " in line)
    core_body = _model("ClientCredentials").from_dict(credentials)
    core = signed_in(
        _ok(_api("integration.get_client_token").sync_detailed(client=anonymous, body=core_body), 200).access_token
    )
    record = {
        "source_id": f"journey-{member_number}-2025-09",
        "member_number": member_number,
        "period": "2025-09",
        "scheme": "voluntary",
        "insurable_earnings": 2_000_000,
        "employee_share": 180_000,
        "employer_share": 0,
        "total": 180_000,
        "status": "paid",
        "paid_date": "2025-10-05",
        "payment_channel": "bank",
    }
    imported = _ok(
        _api("integration.import_contributions").sync_detailed(
            client=core, body=_model("ImportContributionsJsonBody").from_dict({"records": [record]})
        ),
        200,
    )
    assert imported.accepted == 1 and imported.rejected == []
    summary = _ok(_api("contributions.get_contribution_summary").sync_detailed(client=member), 200)
    assert summary.member_number == member_number and summary.total_months == 1
    assert summary.last_paid_period == "2025-09"
    months = _ok(_api("contributions.list_contributions").sync_detailed(client=member), 200)
    assert [(m.period, m.status.value, m.total) for m in months.items] == [("2025-09", "paid", 180_000)]
    statement = _ok(_api("contributions.get_contribution_statement").sync_detailed(client=member, year=2025), 200)
    assert statement.months_contributed == 1
    _ok(_api("contributions.list_my_claims").sync_detailed(client=member), 200)
    _ok(_api("contributions.list_my_payments").sync_detailed(client=member), 200)

    # conversation: ask, answered by the officer, follow up, read the thread
    question = {
        "category": "contributions",
        "subject": "September",
        "body": "Is September recorded?",
        "idempotency_key": str(uuid.uuid4()),
    }
    posted = _ok(
        _api("conversations.start_conversation").sync_detailed(
            client=member, body=_model("StartConversation").from_dict(question)
        ),
        201,
    )
    conversation_id = posted.conversation.id
    reply = _model("StaffReplyIn").from_dict({"body": "Yes, it is recorded.", "idempotency_key": str(uuid.uuid4())})
    _ok(_api("staff_conversations.reply_to_member").sync_detailed(conversation_id, client=officer, body=reply), 201)
    follow_up = _model("MemberMessageIn").from_dict({"body": "Thank you!", "idempotency_key": str(uuid.uuid4())})
    _ok(_api("conversations.send_message").sync_detailed(conversation_id, client=member, body=follow_up), 201)
    thread = _ok(_api("conversations.list_messages").sync_detailed(conversation_id, client=member), 200)
    assert [m.body for m in thread.items] == ["Thank you!", "Yes, it is recorded.", "Is September recorded?"]
    conversations = _ok(_api("conversations.list_conversations").sync_detailed(client=member), 200)
    assert [c.id for c in conversations.items] == [conversation_id]
    _ok(_api("conversations.mark_conversation_read").sync_detailed(conversation_id, client=member), 200)

    # and out: this sign-in ends
    assert _api(f"{auth}.sign_out").sync_detailed(client=member).status_code == 204
    with pytest.raises(AssertionError):
        _ok(_api("members.get_my_profile").sync_detailed(client=member), 200)  # 401 now: documented, so parsed
