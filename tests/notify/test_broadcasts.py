"""Broadcasts over HTTP with the real firebase-admin SDK against the local FCM server.

Jobs run in-process here (no Redis), so each request's pushes have gone out when it returns; the
worker-process path, including a worker killed mid-send, is in test_broadcast_pipeline.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from lsso_mobile import runtime
from lsso_mobile.api.schemas import encode_key_cursor
from lsso_mobile.models import (
    Broadcast,
    BroadcastDeferral,
    BroadcastSlice,
    BroadcastStatus,
    DeferralStatus,
    Device,
    Member,
    Notification,
    NotificationPreference,
    SliceStatus,
    StaffRole,
    utcnow,
)
from lsso_mobile.notify.preferences import VIENTIANE
from lsso_mobile.services.accounts import create_staff_user
from lsso_mobile.services.broadcast_delivery import (
    BROADCAST_DEEP_LINK,
    BROADCAST_PUSH_DATA_KEYS,
    relay_broadcasts,
    send_broadcast_slice,
)
from lsso_mobile.services.broadcasts import start_broadcast
from tests.conftest import STAFF_PASSWORD, office_id
from tests.support import bearer, notify, sign_up, staff_sign_in

OPS2 = "ops.second"


@pytest.fixture
def settings_overrides(fcm_server):
    return {
        "push_backend": "fcm",
        "fcm_endpoint": fcm_server.url,
        "fcm_project_id": "lsso-test",
        "fcm_http_timeout": 10.0,
        "broadcast_slice_devices": 2,
    }  # tiny slices: several per broadcast


@pytest.fixture
def ops(client, staff, db):
    create_staff_user(db, runtime.current().settings, OPS2, STAFF_PASSWORD, StaffRole.OPS, "Second ops", None)
    db.commit()
    return (
        bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"]),
        bearer(staff_sign_in(client, OPS2, STAFF_PASSWORD)["access_token"]),
    )


def _member(client, sms_gateway, db, phone, token, province, language="lo"):
    headers = bearer(sign_up(client, sms_gateway, phone, language=language)["access_token"])
    assert (
        client.post(
            "/api/v1/me/devices", json={"token": token, "platform": "android", "app_version": "1.0"}, headers=headers
        ).status_code
        == 201
    )
    db.execute(update(Member).where(Member.phone == phone).values(office_id=office_id(db, f"P{province}")))
    db.commit()
    return headers


NOTICE = {
    "title_lo": "ຫ້ອງການປິດ",
    "body_lo": "ຫ້ອງການປິດວັນຈັນ",
    "title_en": "Office closed",
    "body_en": "The office is closed on Monday",
    "category": "news",
}


def _send(client, author, approver, **body):
    created = client.post("/api/v1/staff/broadcasts", json={**NOTICE, **body}, headers=author)
    assert created.status_code == 201, created.json
    broadcast_id = created.json["id"]
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=author).status_code == 200
    approved = client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=approver)
    assert approved.status_code == 200, approved.json
    return broadcast_id


def _inbox(client, headers, **query):
    response = client.get("/api/v1/me/notifications", query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def _broadcast_ids(page):
    return [item["id"] for item in page["items"] if item["kind"] == "broadcast" and not item["removed"]]


def test_four_eyes_audience_muting_late_joiners_and_withdrawal(client, sms_gateway, db, ops, fcm_server, staff):
    author, approver = ops
    in_vientiane = _member(client, sms_gateway, db, "+8562055581001", "tok-bc-vientiane-0001", "01")
    in_champasak = _member(client, sms_gateway, db, "+8562055581002", "tok-bc-champasak-0001", "16", "en")
    muted = _member(client, sms_gateway, db, "+8562055581003", "tok-bc-muted-000000001", "01")
    assert (
        client.put(
            "/api/v1/me/notification-preferences",
            headers=muted,
            json={"muted_categories": ["news"], "quiet_start": None, "quiet_end": None},
        ).status_code
        == 200
    )

    preview = client.post("/api/v1/staff/broadcasts/preview", json={"provinces": ["01"]}, headers=author)
    assert preview.status_code == 200
    assert (preview.json["members"], preview.json["devices"]) == (2, 2)

    created = client.post(
        "/api/v1/staff/broadcasts", json={**NOTICE, "audience": {"provinces": ["01"]}}, headers=author
    )
    broadcast_id = created.json["id"]
    assert created.json["status"] == "draft"
    # not yet submitted; then the author may not approve their own notice; officers may not touch it
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=approver).status_code == 409
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=approver).status_code == 403
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=author).status_code == 200
    refused = client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=author)
    assert refused.status_code == 403 and "different ops user" in refused.json["message"]
    officer = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=officer).status_code == 403
    assert fcm_server.accepted_count() == 0

    approved = client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=approver)
    assert approved.status_code == 200
    detail = client.get(f"/api/v1/staff/broadcasts/{broadcast_id}", headers=approver).json
    assert detail["status"] == "sent" and detail["approved_by"] != detail["created_by"]
    assert [e["action"] for e in detail["events"]] == ["created", "submitted", "approved", "sending", "sent"]
    assert detail["audience_members"] == 2 and detail["audience_devices"] == 2

    # pushes: the audience only, and not the member who muted news
    assert fcm_server.counts_by_token() == {"tok-bc-vientiane-0001": 1}
    pushed = fcm_server.accepted("tok-bc-vientiane-0001")[0]
    assert pushed["notification"]["title"] == NOTICE["title_lo"]
    assert pushed["data"]["broadcast_id"] == str(broadcast_id)
    assert set(pushed["data"]) == set(BROADCAST_PUSH_DATA_KEYS)  # what the API document's PushData lists
    assert pushed["data"]["deep_link"] == BROADCAST_DEEP_LINK.format(broadcast_id=broadcast_id)
    stats = client.get(f"/api/v1/staff/broadcasts/{broadcast_id}/stats", headers=author).json
    assert stats["totals"] == {"sent": 1, "failed": 0, "unregistered": 0, "muted": 1, "waiting": 0, "dropped": 0}
    assert stats["by_province"] == [
        {"province_code": "01", "sent": 1, "failed": 0, "unregistered": 0, "muted": 1, "waiting": 0, "dropped": 0}
    ]
    assert stats["slices_done"] == stats["slices_total"] >= 2

    # inboxes: the audience (muted or not) has it, the rest never sees it
    assert _broadcast_ids(_inbox(client, in_vientiane)) == [broadcast_id]
    assert _broadcast_ids(_inbox(client, muted)) == [broadcast_id]
    assert _inbox(client, in_champasak)["items"] == []
    assert client.post(f"/api/v1/me/broadcasts/{broadcast_id}/read", headers=in_champasak).status_code == 404

    # a member who joins afterwards still finds it while it is current; reading it is theirs alone
    late = _member(client, sms_gateway, db, "+8562055581004", "tok-bc-late-0000000001", "01")
    page = _inbox(client, late)
    assert _broadcast_ids(page) == [broadcast_id] and page["unread_count"] == 1
    item = page["items"][0]
    assert (item["title"], item["title_en"], item["read_at"]) == (NOTICE["title_lo"], NOTICE["title_en"], None)
    read = client.post(f"/api/v1/me/broadcasts/{broadcast_id}/read", headers=late)
    assert read.status_code == 200 and read.json["read_at"] is not None
    assert _inbox(client, late)["unread_count"] == 0
    assert _inbox(client, in_vientiane)["unread_count"] == 1
    assert fcm_server.counts_by_token().get("tok-bc-late-0000000001") is None  # joined after: inbox only

    # withdrawal: out of every inbox; delta sync says so
    since = _inbox(client, in_vientiane)["server_time"]
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/withdraw", headers=approver).status_code == 200
    assert _broadcast_ids(_inbox(client, in_vientiane)) == []
    assert _inbox(client, in_vientiane)["unread_count"] == 0
    delta = _inbox(client, in_vientiane, updated_since=since)["items"]
    assert [(i["kind"], i["id"], i["removed"], i["title"]) for i in delta] == [("broadcast", broadcast_id, True, "")]
    assert _inbox(client, in_champasak, updated_since=since)["items"] == []
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/withdraw", headers=approver).status_code == 409


def test_critical_notice_ignores_muting_and_quiet_hours_waits(client, sms_gateway, db, ops, fcm_server):
    author, approver = ops
    quiet = _member(client, sms_gateway, db, "+8562055582001", "tok-bc-quiet-000000001", "01")
    local = utcnow().astimezone(VIENTIANE)
    start, end = (local - timedelta(hours=1)).time().replace(microsecond=0), (local + timedelta(hours=1)).time()
    assert (
        client.put(
            "/api/v1/me/notification-preferences",
            headers=quiet,
            json={
                "muted_categories": ["news"],
                "quiet_start": start.strftime("%H:%M"),
                "quiet_end": end.strftime("%H:%M"),
            },
        ).status_code
        == 200
    )
    critical = _send(client, author, approver, critical=True, title_en="Urgent")
    assert fcm_server.counts_by_token() == {"tok-bc-quiet-000000001": 1}

    # unmuted, but in quiet hours: the ordinary notice waits, and is counted as waiting
    client.put(
        "/api/v1/me/notification-preferences",
        headers=quiet,
        json={"muted_categories": [], "quiet_start": start.strftime("%H:%M"), "quiet_end": end.strftime("%H:%M")},
    )
    ordinary = _send(client, author, approver)
    assert fcm_server.counts_by_token() == {"tok-bc-quiet-000000001": 1}
    stats = client.get(f"/api/v1/staff/broadcasts/{ordinary}/stats", headers=author).json
    assert stats["status"] == "sent" and stats["totals"]["waiting"] == 1
    assert _broadcast_ids(_inbox(client, quiet)) == [ordinary, critical]

    relay_broadcasts()  # not due yet: nothing happens
    assert fcm_server.counts_by_token() == {"tok-bc-quiet-000000001": 1}
    # quiet hours end (moved into the past here); the relay sends it once, however often it runs
    db.execute(update(NotificationPreference).values(quiet_start=None, quiet_end=None))
    db.execute(update(BroadcastDeferral).values(due_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    relay_broadcasts()
    relay_broadcasts()
    assert fcm_server.counts_by_token() == {"tok-bc-quiet-000000001": 2}
    assert db.scalar(select(BroadcastDeferral.status)) is DeferralStatus.SENT
    stats = client.get(f"/api/v1/staff/broadcasts/{ordinary}/stats", headers=author).json
    assert stats["totals"]["sent"] == 1 and stats["totals"]["waiting"] == 0


def test_dead_tokens_are_switched_off_and_counted(client, sms_gateway, db, ops, fcm_server):
    author, approver = ops
    _member(client, sms_gateway, db, "+8562055583001", "tok-bc-dead-0000000001", "01")
    _member(client, sms_gateway, db, "+8562055583002", "tok-bc-alive-000000001", "16")
    fcm_server.set_rule("tok-bc-dead-0000000001", "unregistered")
    broadcast_id = _send(client, author, approver)
    stats = client.get(f"/api/v1/staff/broadcasts/{broadcast_id}/stats", headers=author).json
    assert stats["totals"]["sent"] == 1 and stats["totals"]["unregistered"] == 1
    assert {p["province_code"]: (p["sent"], p["unregistered"]) for p in stats["by_province"]} == {
        "01": (0, 1),
        "16": (1, 0),
    }
    dead = db.scalar(select(Device).where(Device.token == "tok-bc-dead-0000000001"))
    assert (dead.active, dead.deactivated_reason) == (False, "unregistered")


def test_schedule_cancel_edit_and_validation(client, db, ops, fcm_server):
    author, approver = ops
    bad = client.post("/api/v1/staff/broadcasts", json={**NOTICE, "audience": {"provinces": ["99"]}}, headers=author)
    assert bad.status_code == 422 and "99" in str(bad.json["errors"])
    assert (
        client.post("/api/v1/staff/broadcasts", json={**NOTICE, "category": "spam"}, headers=author).status_code == 422
    )
    past = (utcnow() - timedelta(minutes=5)).isoformat()
    assert client.post("/api/v1/staff/broadcasts", json={**NOTICE, "send_at": past}, headers=author).status_code == 422

    later = (utcnow() + timedelta(days=1)).isoformat()
    broadcast_id = client.post("/api/v1/staff/broadcasts", json={**NOTICE, "send_at": later}, headers=author).json["id"]
    assert (
        client.put(
            f"/api/v1/staff/broadcasts/{broadcast_id}", json={**NOTICE, "title_en": "x"}, headers=approver
        ).status_code
        == 403
    )
    edited = client.put(
        f"/api/v1/staff/broadcasts/{broadcast_id}",
        json={**NOTICE, "title_en": "Changed", "send_at": later},
        headers=author,
    )
    assert edited.status_code == 200 and edited.json["title_en"] == "Changed"
    client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=author)
    rejected = client.post(
        f"/api/v1/staff/broadcasts/{broadcast_id}/reject", json={"note": "Add the date"}, headers=approver
    )
    assert rejected.json["status"] == "draft" and rejected.json["events"][-1]["note"] == "Add the date"
    client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=author)
    scheduled = client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=approver)
    assert scheduled.json["status"] == "scheduled"
    relay_broadcasts()  # not due: stays scheduled
    listed = client.get("/api/v1/staff/broadcasts", query_string={"status": "scheduled"}, headers=approver).json
    assert [b["id"] for b in listed["items"]] == [broadcast_id]
    cancelled = client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/cancel", headers=approver)
    assert cancelled.json["status"] == BroadcastStatus.CANCELLED.value
    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/approve", headers=approver).status_code == 409
    assert fcm_server.accepted_count() == 0


def test_lost_start_job_expiry_read_all_and_mixed_pages(client, sms_gateway, db, ops, fcm_server, staff):
    author, approver = ops
    member = _member(client, sms_gateway, db, "+8562055584001", "tok-bc-pages-00000001", "01")
    member_id = db.scalar(select(Member.id).where(Member.phone == "+8562055584001"))

    # approved while Redis was away: its start job never ran; the relay starts it
    created = client.post("/api/v1/staff/broadcasts", json=NOTICE, headers=author).json["id"]
    client.post(f"/api/v1/staff/broadcasts/{created}/submit", headers=author)
    db.execute(update(Broadcast).where(Broadcast.id == created).values(status=BroadcastStatus.SCHEDULED))
    db.commit()
    relay_broadcasts()
    assert client.get(f"/api/v1/staff/broadcasts/{created}", headers=author).json["status"] == "sent"
    assert fcm_server.counts_by_token() == {"tok-bc-pages-00000001": 1}

    # notices and the broadcast at the very same moment page through in one order, each once
    published = db.scalar(select(Broadcast.published_at).where(Broadcast.id == created))
    notice_ids = [notify(member_id) for _ in range(3)]
    db.execute(update(Notification).where(Notification.id.in_(notice_ids)).values(created_at=published))
    db.commit()
    seen, cursor = [], None
    while True:
        page = _inbox(client, member, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [(i["kind"], i["id"]) for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [("broadcast", created)] + [("notice", i) for i in sorted(notice_ids, reverse=True)]
    assert _inbox(client, member)["unread_count"] == 4
    read_all = client.post("/api/v1/me/notifications/read-all", headers=member).json
    assert read_all == {"marked": 4, "unread_count": 0}

    # expired: out of the list; delta sync marks it removed
    since = _inbox(client, member)["server_time"]
    db.execute(update(Broadcast).where(Broadcast.id == created).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert _broadcast_ids(_inbox(client, member)) == []
    delta = [i for i in _inbox(client, member, updated_since=since)["items"] if i["kind"] == "broadcast"]
    assert [(i["id"], i["removed"]) for i in delta] == [(created, True)]

    # forged cursors are refused, not a server error
    forged = encode_key_cursor("inbox", (999_999_999_999_999_999, 0, 1))
    assert client.get("/api/v1/me/notifications", query_string={"cursor": forged}, headers=member).status_code == 422

    # admins read broadcasts but do not write, approve or preview them
    admin = bearer(staff_sign_in(client, staff["admin"], STAFF_PASSWORD)["access_token"])
    assert client.get("/api/v1/staff/broadcasts", headers=admin).status_code == 200
    assert client.post("/api/v1/staff/broadcasts", json=NOTICE, headers=admin).status_code == 403
    assert client.post("/api/v1/staff/broadcasts/preview", json={}, headers=admin).status_code == 403
    assert client.post(f"/api/v1/staff/broadcasts/{created}/withdraw", headers=admin).status_code == 403


def test_withdrawn_while_sending_stops_its_slices_and_waiting_pushes(client, sms_gateway, db, ops, fcm_server):
    author, approver = ops
    for n in range(3):
        _member(client, sms_gateway, db, f"+856205558500{n}", f"tok-bc-stop-00000000{n}", "01")
    broadcast_id = client.post("/api/v1/staff/broadcasts", json=NOTICE, headers=author).json["id"]
    client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/submit", headers=author)
    # sending has begun (slices cut) but no slice job has run yet; one device waits for quiet hours
    db.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(status=BroadcastStatus.SCHEDULED))
    slice_ids = start_broadcast(db, db.get(Broadcast, broadcast_id), utcnow(), 2)
    device_id = db.scalar(select(Device.id).where(Device.token == "tok-bc-stop-000000000"))
    db.add(
        BroadcastDeferral(
            broadcast_id=broadcast_id,
            device_id=device_id,
            province_code="01",
            reason="quiet_hours",
            status=DeferralStatus.WAITING,
            due_at=utcnow(),
            attempts=0,
        )
    )
    db.commit()
    assert len(slice_ids) >= 2

    assert client.post(f"/api/v1/staff/broadcasts/{broadcast_id}/withdraw", headers=approver).status_code == 200
    for slice_id in slice_ids:
        assert send_broadcast_slice(slice_id) == {"claimed": 0}
    relay_broadcasts()
    assert fcm_server.accepted_count() == 0
    db.expire_all()
    assert {s.status for s in db.scalars(select(BroadcastSlice))} == {SliceStatus.STOPPED}
    assert db.scalar(select(BroadcastDeferral.status)) is DeferralStatus.DROPPED
    stats = client.get(f"/api/v1/staff/broadcasts/{broadcast_id}/stats", headers=author).json
    assert stats["status"] == "withdrawn" and stats["totals"]["dropped"] == 1 and stats["totals"]["sent"] == 0
