"""The whole conversation with real parts: a member asks with a photo, an officer answers, and the answer
reaches the member's phone exactly once through Redis/RQ, a `lsso-mobile worker` process, firebase-admin
and the local FCM server; notes never push; resolving and writing again reopens."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from lsso_mobile.models import Notification
from tests.conftest import REDIS_URL
from tests.messaging_support import member, new_key, officer, pixels, png_bytes, upload
from tests.notify.conftest import pipeline_overrides
from tests.support import wait_until

pytestmark = pytest.mark.slow

TOKEN = "tok-conversation-phone-0123456789"


@pytest.fixture
def settings_overrides(fcm_server, queue_prefix):
    return pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix)


def test_member_asks_with_a_photo_and_gets_one_push_for_the_answer(
    app, client, sms_gateway, staff, db, fcm_server, workers
):
    workers.start()
    alice = member(client, sms_gateway, "+8562055590001", language="en")
    assert (
        client.post(
            "/api/v1/me/devices", json={"token": TOKEN, "platform": "android", "app_version": "1.0.0"}, headers=alice
        ).status_code
        == 201
    )

    photo = upload(client, alice, png_bytes(4, 3), filename="IMG_2041.jpg", content_type="image/jpeg")
    assert photo.status_code == 201 and photo.json["content_type"] == "image/png"
    asked = client.post(
        "/api/v1/conversations",
        headers=alice,
        json={
            "office_code": "D0101",
            "category": "contributions",
            "subject": "Missing month",
            "body": "My receipt for March is attached; the month is missing in the app.",
            "attachment_ids": [photo.json["id"]],
            "idempotency_key": new_key(),
        },
    )
    assert asked.status_code == 201, asked.json
    cid = asked.json["conversation"]["id"]

    desk = officer(client, staff["officer"])
    inbox = client.get("/api/v1/staff/conversations", query_string={"status": "open"}, headers=desk).json
    assert [c["id"] for c in inbox["items"]] == [cid]
    thread = client.get(f"/api/v1/staff/conversations/{cid}/messages", headers=desk).json
    attachment = thread["items"][0]["attachments"][0]
    served = client.get(f"/api/v1/staff/conversations/attachments/{attachment['id']}", headers=desk)
    assert (
        served.status_code == 200 and pixels(served.data) == pixels(png_bytes(4, 3)) and served.mimetype == "image/png"
    )
    assert (
        client.post(f"/api/v1/staff/conversations/{cid}/assign", json={"assignee": "me"}, headers=desk).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/v1/staff/conversations/{cid}/notes", json={"body": "Employer paid late"}, headers=desk
        ).status_code
        == 201
    )
    replied = client.post(
        f"/api/v1/staff/conversations/{cid}/replies", headers=desk, json={"body": "We found March; it is added now."}
    )
    assert replied.status_code == 201

    wait_until(lambda: fcm_server.accepted_count() >= 1, timeout=20, message="the reply push")
    time.sleep(1.5)  # room for a duplicate or a push for the note to show up
    pushes = fcm_server.accepted(TOKEN)
    assert fcm_server.accepted_count() == 1 and len(pushes) == 1
    push = pushes[0]
    assert push["android"]["collapse_key"] == f"conversation-{cid}"
    assert push["notification"]["title"] == "Reply from the Chanthabouly District Social Security Office"
    assert "We found March" in push["notification"]["body"]
    assert push["data"]["deep_link"] == f"lsso://conversations/{cid}"
    notification = db.scalars(select(Notification).where(Notification.template == "conversation_reply")).one()
    assert notification.collapse_key == f"conversation-{cid}"

    mine = client.get(f"/api/v1/conversations/{cid}/messages", headers=alice).json
    assert mine["conversation"]["status"] == "pending" and mine["conversation"]["unread_count"] == 1
    assert [m["body"] for m in mine["items"]][0] == "We found March; it is added now."
    assert mine["items"][1]["read_at"] is not None  # the office read the question
    assert "Employer paid late" not in str(mine)

    assert client.post(f"/api/v1/staff/conversations/{cid}/resolve", headers=desk).json["status"] == "resolved"
    again = client.post(
        f"/api/v1/conversations/{cid}/messages",
        headers=alice,
        json={"body": "Thank you! And April?", "idempotency_key": new_key()},
    )
    assert again.status_code == 201 and again.json["conversation"]["status"] == "open"
    assert (
        client.get("/api/v1/staff/conversations", query_string={"status": "open"}, headers=desk).json["items"][0]["id"]
        == cid
    )
