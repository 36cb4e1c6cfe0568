"""Nothing sensitive in the logs: a whole scenario's log records, at DEBUG, hold no phone number in
full, no sign-in code, PIN, password, token or message text."""

from __future__ import annotations

import logging

from tests.conftest import STAFF_PASSWORD
from tests.support import PIN, application_form, bearer, sign_up, staff_sign_in

PHONE = "+8562055587001"
FCM_TOKEN = "fcm-token-log-hygiene-0123456789"
QUESTION = "My secret question about contribution 4471"
ANSWER = "The confidential answer 9923"


def test_a_full_scenario_logs_nothing_sensitive(app, client, sms_gateway, staff, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = sign_up(client, sms_gateway, PHONE)
    member = bearer(tokens["access_token"])
    code = sms_gateway.last_code(PHONE)
    steps = [
        client.post(
            "/api/v1/me/devices", json={"token": FCM_TOKEN, "platform": "android", "app_version": "1.0"}, headers=member
        ),
        client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": "000000"}),  # a failure, logged
    ]
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).json
    application = client.post("/api/v1/me/registration", json=application_form(), headers=member).json
    officer_tokens = staff_sign_in(client, staff["officer"], STAFF_PASSWORD)
    officer = bearer(officer_tokens["access_token"])
    steps.append(
        client.post(
            f"/api/v1/staff/registrations/{application['id']}/decision", json={"decision": "approve"}, headers=officer
        )
    )
    started = client.post(
        "/api/v1/conversations",
        headers=member,
        json={
            "category": "contributions",
            "subject": "Question",
            "body": QUESTION,
            "idempotency_key": "0b0c5a9e-8f4e-4a57-9b1b-7f6f3f0d2a11",
        },
    )
    steps += [
        started,
        client.post(
            f"/api/v1/staff/conversations/{started.json['conversation']['id']}/replies",
            json={"body": ANSWER},
            headers=officer,
        ),
        client.post("/api/v1/auth/staff/login", json={"username": staff["officer"], "password": "wrong-password-1"}),
    ]
    assert [r.status_code for r in steps] == [201, 401, 200, 201, 201, 401]

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged, "the scenario logged nothing: the check below would prove nothing"
    secrets = {
        "the phone number": PHONE,
        "the phone number without +": PHONE[1:],
        "the sign-in code": code,
        "the PIN": PIN,
        "the staff password": STAFF_PASSWORD,
        "the FCM token": FCM_TOKEN,
        "the access token": tokens["access_token"],
        "the refresh token": tokens["refresh_token"],
        "the new refresh token": refreshed["refresh_token"],
        "the officer's token": officer_tokens["access_token"],
        "the member's question": QUESTION,
        "the officer's answer": ANSWER,
    }
    for name, secret in secrets.items():
        assert secret not in logged, f"{name} appears in the log"
