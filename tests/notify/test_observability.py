"""Metrics and logs with real parts: a scenario (sign-up, a reply pushed, a broadcast) through the API,
Redis/RQ, an `lsso-mobile worker` with its own metrics port and JSON logs, and the local FCM server; then
both endpoints are scraped and one request id is followed from the API call through its job to the push."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from lsso_mobile.models import StaffRole
from lsso_mobile.services.accounts import create_staff_user
from tests.conftest import REDIS_URL, STAFF_PASSWORD
from tests.messaging_support import start
from tests.notify.conftest import pipeline_overrides
from tests.support import bearer, sign_up, staff_sign_in, wait_until
from tests.test_metrics import samples, scrape, value

pytestmark = pytest.mark.slow

PHONE = "+8562055586001"
DEVICE = "tok-observed-0123456789"
TRACE = "trace-4b1d0c9e7a2f4e11"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def settings_overrides(fcm_server, queue_prefix):
    return {**pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix), "relay_interval_seconds": 5}


def _worker_metrics(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:  # noqa: S310
        return samples(answer.read().decode())


def _json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_a_scenario_shows_in_the_metrics_and_one_request_id_reaches_the_push(
    app, client, db, sms_gateway, staff, settings, fcm_server, workers
):
    port = _free_port()
    workers.start(settings.replace(worker_metrics_port=port, log_format="json"))
    before = scrape(client)

    # sign-up (a code by SMS through the worker), a wrong PIN, a device
    member = bearer(sign_up(client, sms_gateway, PHONE, language="en")["access_token"])
    assert client.post("/api/v1/auth/login", json={"phone": PHONE, "pin": "000000"}).status_code == 401
    device = {"token": DEVICE, "platform": "android", "app_version": "1.0"}
    assert client.post("/api/v1/me/devices", json=device, headers=member).status_code == 201

    # a conversation, and the officer's reply pushed to the member, under a request id of our own
    started = start(client, member, body="When?")
    assert started.status_code == 201, started.json
    officer = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    replied = client.post(
        f"/api/v1/staff/conversations/{started.json['conversation']['id']}/replies",
        json={"body": "Next week."},
        headers={**officer, "X-Request-Id": TRACE},
    )
    assert replied.status_code == 201 and replied.headers["X-Request-Id"] == TRACE
    wait_until(lambda: fcm_server.accepted_count() == 1, timeout=30, message="the reply's push")

    # a broadcast to everyone (one member, one device)
    create_staff_user(db, settings, "ops.second", STAFF_PASSWORD, StaffRole.OPS, "Second ops", None)
    db.commit()
    author = bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"])
    approver = bearer(staff_sign_in(client, "ops.second", STAFF_PASSWORD)["access_token"])
    created = client.post(
        "/api/v1/staff/broadcasts",
        headers=author,
        json={"title_lo": "ແຈ້ງການ", "body_lo": "ອັດຕາໃໝ່", "title_en": "Notice", "body_en": "New rate"},
    )
    broadcast_id = created.json["id"]
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=author).status_code == 200
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=approver).status_code == 200
    wait_until(lambda: fcm_server.accepted_count() == 2, timeout=30, message="the broadcast's push")
    pushed = fcm_server.accepted(DEVICE)
    assert [m["android"]["notification"]["tag"] for m in pushed] == [
        f"lsso-n{pushed[0]['data']['notification_id']}",
        f"lsso-b{broadcast_id}",
    ]
    assert [m["apns"]["headers"]["apns-collapse-id"] for m in pushed] == [
        m["android"]["notification"]["tag"] for m in pushed
    ]

    # the app's endpoint: requests per route and status, sign-in failures, state read at scrape time
    wait_until(lambda: value(scrape(client), "lsso_queue_jobs", queue="push", state="started") == 0, timeout=20)
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("lsso_http_requests_total", route="/api/v1/auth/signup", method="POST", status="201") == 1
    assert grew("lsso_http_requests_total", route="/api/v1/auth/login", method="POST", status="401") == 1
    assert grew("lsso_sign_in_failures_total", who="member") == 1
    assert value(after, "lsso_rq_workers") == 1
    assert value(after, "lsso_state_probe_ok") == 1
    for queue in ("sms", "push", "broadcast", "maintenance"):
        assert ("lsso_queue_jobs", (("queue", queue), ("state", "queued"))) in after
    assert value(after, "lsso_outbox_oldest_seconds", outbox="notifications") == 0  # all delivered

    # the worker's endpoint: its jobs, pushes, FCM calls, slices and SMS
    worker = _worker_metrics(port)
    assert value(worker, "lsso_pushes_total", kind="personal", outcome="sent") == 1
    assert value(worker, "lsso_pushes_total", kind="broadcast", outcome="sent") == 1
    assert value(worker, "lsso_fcm_calls_total", result="ok") == 2
    assert value(worker, "lsso_fcm_call_duration_seconds_count") == 2
    assert value(worker, "lsso_broadcast_slices_total", outcome="done") == 1
    assert value(worker, "lsso_sms_total", kind="code", outcome="sent") == 1
    assert value(worker, "lsso_sms_parts_total", kind="code") >= 1
    assert value(worker, "lsso_jobs_total", queue="sms", task="send_code", outcome="finished") == 1
    assert value(worker, "lsso_jobs_total", queue="broadcast", task="send_broadcast_slice", outcome="finished") == 1
    assert value(worker, "lsso_rq_workers") == 1

    # one request id from the API call through its job to the push, in the worker's JSON log
    lines = _json_lines(workers.logs())
    assert lines, "the worker wrote no JSON log lines"
    traced = [line for line in lines if line["request_id"] == TRACE]
    assert any(line["logger"].startswith("rq.") for line in traced), "the job that carried the push"
    push_lines = [line for line in traced if line["message"].startswith("pushed notice(s)")]
    assert len(push_lines) == 1 and push_lines[0]["pushes"] == 1 and "'sent': 1" in push_lines[0]["message"]
    broadcast_lines = [line for line in lines if line["message"].startswith("broadcast slice")]
    approve_id = broadcast_lines[0]["request_id"]
    assert approve_id not in ("-", TRACE) and broadcast_lines[0]["broadcast_id"] == broadcast_id
    assert PHONE not in workers.logs() and PHONE[1:] not in workers.logs()
