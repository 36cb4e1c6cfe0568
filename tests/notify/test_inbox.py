"""Devices and the inbox over HTTP; member A can never read or touch member B's notices or devices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from lsso_mobile.api.schemas import encode_key_cursor
from lsso_mobile.models import Device, Notification
from tests.support import PIN, bearer, notify, sign_up

TOKEN_A = "fcm-token-member-a-000000000001"


def _member(client, sms_gateway, phone):
    tokens = sign_up(client, sms_gateway, phone)
    me = client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    return bearer(tokens["access_token"])


def _member_id(db, phone):
    from lsso_mobile.models import Member

    return db.scalar(select(Member.id).where(Member.phone == phone))


def test_member_a_cannot_read_or_mark_member_b_notices(client, sms_gateway, db):
    a = _member(client, sms_gateway, "+8562055580001")
    b = _member(client, sms_gateway, "+8562055580002")
    notice_of_a = notify(_member_id(db, "+8562055580001"))
    inbox_b = client.get("/api/v1/me/notifications", headers=b).json
    assert inbox_b["items"] == [] and inbox_b["unread_count"] == 0
    assert client.post(f"/api/v1/me/notifications/{notice_of_a}/read", headers=b).status_code == 404
    assert client.post("/api/v1/me/notifications/read-all", headers=b).json == {"marked": 0, "unread_count": 0}
    # cursors only ever narrow the member's own list
    far_future = encode_key_cursor("inbox", (9_000_000_000_000_000, 0, 999999))
    cursor_past_a = client.get(f"/api/v1/me/notifications?cursor={far_future}", headers=b).json
    assert cursor_past_a["items"] == []
    assert client.get("/api/v1/me/notifications", headers=a).json["unread_count"] == 1
    assert client.post(f"/api/v1/me/notifications/{notice_of_a}/read", headers=a).status_code == 200
    assert client.get("/api/v1/me/notifications", headers=a).json["unread_count"] == 0


def test_inbox_pages_and_delta_sync(client, sms_gateway, db):
    member = _member(client, sms_gateway, "+8562055580003")
    member_id = _member_id(db, "+8562055580003")
    ids = [notify(member_id, application_id=i) for i in range(5)]
    first = client.get("/api/v1/me/notifications?limit=2", headers=member).json
    assert [n["id"] for n in first["items"]] == ids[::-1][:2]
    second = client.get(f"/api/v1/me/notifications?limit=2&cursor={first['next_cursor']}", headers=member).json
    third = client.get(f"/api/v1/me/notifications?limit=2&cursor={second['next_cursor']}", headers=member).json
    assert [n["id"] for n in first["items"] + second["items"] + third["items"]] == ids[::-1]
    assert third["next_cursor"] is None
    # server_time lies a margin in the past, so a sync never misses a slow commit (repeats are fine)
    synced_at = datetime.fromisoformat(first["server_time"])
    assert datetime.now(UTC) - synced_at >= timedelta(seconds=25)
    later = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    assert (
        client.get("/api/v1/me/notifications", query_string={"updated_since": later}, headers=member).json["items"]
        == []
    )
    db.execute(update(Notification).values(updated_at=datetime.now(UTC) - timedelta(hours=1)))
    db.commit()
    client.post(f"/api/v1/me/notifications/{ids[1]}/read", headers=member)
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    changed = client.get("/api/v1/me/notifications", query_string={"updated_since": since}, headers=member).json
    assert [n["id"] for n in changed["items"]] == [ids[1]] and changed["items"][0]["read_at"] is not None
    assert changed["unread_count"] == 4
    naive = client.get(
        "/api/v1/me/notifications", query_string={"updated_since": "2026-01-01T00:00:00"}, headers=member
    )
    assert naive.status_code == 422  # a time zone is required


def test_notice_text_follows_the_member_language(client, sms_gateway, db):
    member = _member(client, sms_gateway, "+8562055580004")
    notify(_member_id(db, "+8562055580004"))
    lao = client.get("/api/v1/me/notifications", headers=member).json["items"][0]
    assert lao["title"] == lao["title_lo"]
    client.patch("/api/v1/me", json={"language": "en"}, headers=member)
    english = client.get("/api/v1/me/notifications", headers=member).json["items"][0]
    assert english["title"] == "Your social security registration is approved"


def test_a_token_belongs_to_one_member_and_moves(client, sms_gateway, db):
    a = _member(client, sms_gateway, "+8562055580005")
    b = _member(client, sms_gateway, "+8562055580006")
    body = {"token": TOKEN_A, "platform": "android", "app_version": "1.0.0", "locale": "lo"}
    assert client.post("/api/v1/me/devices", json=body, headers=a).status_code == 201
    assert client.post("/api/v1/me/devices", json=body, headers=a).status_code == 200  # refresh
    assert client.post("/api/v1/me/devices", json=body, headers=b).status_code == 200  # the phone changed hands
    assert client.get("/api/v1/me/devices", headers=a).json == []
    devices_b = client.get("/api/v1/me/devices", headers=b).json
    assert len(devices_b) == 1 and "token" not in devices_b[0]
    assert client.delete(f"/api/v1/me/devices/{devices_b[0]['id']}", headers=a).status_code == 404
    assert client.delete(f"/api/v1/me/devices/{devices_b[0]['id']}", headers=b).status_code == 204
    assert client.get("/api/v1/me/devices", headers=b).json == []


def test_devices_per_member_are_capped(client, sms_gateway, db):
    member = _member(client, sms_gateway, "+8562055580007")
    for i in range(7):
        client.post(
            "/api/v1/me/devices",
            json={"token": f"fcm-token-cap-{i:020d}", "platform": "ios", "app_version": "1.0.0"},
            headers=member,
        )
    assert len(client.get("/api/v1/me/devices", headers=member).json) == 5
    switched_off = db.scalars(select(Device).where(Device.active.is_(False))).all()
    assert sorted(d.token for d in switched_off) == [
        "fcm-token-cap-00000000000000000000",
        "fcm-token-cap-00000000000000000001",
    ]
    assert {d.deactivated_reason for d in switched_off} == {"device_cap"}


def test_stale_devices_are_pruned(app, client, sms_gateway, db):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from lsso_mobile.notify.delivery import prune_stale_devices

    member = _member(client, sms_gateway, "+8562055580008")
    for token in ("fcm-token-fresh-000000000001", "fcm-token-stale-000000000001"):
        client.post(
            "/api/v1/me/devices", json={"token": token, "platform": "android", "app_version": "1"}, headers=member
        )
    db.execute(
        update(Device)
        .where(Device.token == "fcm-token-stale-000000000001")
        .values(last_seen_at=datetime.now(UTC) - timedelta(days=271))
    )
    db.commit()
    assert prune_stale_devices() == 1
    assert [d["id"] for d in client.get("/api/v1/me/devices", headers=member).json] == [
        db.scalar(select(Device.id).where(Device.token == "fcm-token-fresh-000000000001"))
    ]


def test_health_reports_database_and_queue(client, db):
    body = client.get("/api/v1/health").json
    assert body["database"] == "ok" and body["redis"] == "not_configured" and body["status"] == "ok"


def test_logging_out_stops_pushes_to_that_phone(client, sms_gateway, db):
    first = sign_up(client, sms_gateway, "+8562055580009")
    second = client.post("/api/v1/auth/login", json={"phone": "+8562055580009", "pin": PIN}).json
    for tokens, token in ((first, "fcm-token-phone-one-00000001"), (second, "fcm-token-phone-two-00000002")):
        client.post(
            "/api/v1/me/devices",
            json={"token": token, "platform": "android", "app_version": "1"},
            headers=bearer(tokens["access_token"]),
        )
    assert client.post("/api/v1/auth/logout", headers=bearer(first["access_token"])).status_code == 204
    remaining = client.get("/api/v1/me/devices", headers=bearer(second["access_token"])).json
    assert len(remaining) == 1
    assert db.scalar(select(Device.active).where(Device.token == "fcm-token-phone-one-00000001")) is False
    # a PIN change ends every sign-in, and with them every registered phone
    client.post(
        "/api/v1/auth/pin", json={"current_pin": PIN, "new_pin": "802468"}, headers=bearer(second["access_token"])
    )
    db.expire_all()
    assert db.scalar(select(Device.active).where(Device.token == "fcm-token-phone-two-00000002")) is False
