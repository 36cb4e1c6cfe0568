"""The delivery job in-process with the real firebase-admin SDK against the local FCM server:
each FCM error class, retries honouring Retry-After, quiet hours and muting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from lsso_mobile import runtime
from lsso_mobile.models import Delivery, DeliveryStatus, Device, DispatchStatus, Notification
from lsso_mobile.notify.delivery import NOTICE_PUSH_DATA_KEYS, deliver_notification, relay_undelivered, retry_delay
from lsso_mobile.notify.preferences import VIENTIANE, quiet_period_end
from lsso_mobile.notify.templates import TEMPLATES, render
from tests.conftest import STAFF_PASSWORD
from tests.support import application_form, bearer, make_member_with_devices, notify, sign_up, staff_sign_in


@pytest.fixture
def settings_overrides(fcm_server):
    return {
        "push_backend": "fcm",
        "fcm_endpoint": fcm_server.url,
        "fcm_project_id": "lsso-test",
        "push_retry_base_seconds": 1,
        "relay_grace_seconds": 1,
    }


def _deliveries(db, notification_id):
    db.expire_all()
    rows = db.execute(
        select(Device.token, Delivery.status, Delivery.error_code)
        .join(Device)
        .where(Delivery.notification_id == notification_id)
    ).all()
    return {token: (status, code) for token, status, code in rows}


def _make_due(db, notification_id):
    db.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(deliver_after=datetime.now(UTC) - timedelta(seconds=5))
    )
    db.commit()


def test_a_notice_reaches_each_device_once_in_the_members_language(app, db, fcm_server):
    member_id = make_member_with_devices(db, "+8562055560001", ["tok-android-1", "tok-ios-2"], language="en")
    notification_id = notify(member_id, member_number="0100000042")
    assert fcm_server.counts_by_token() == {"tok-android-1": 1, "tok-ios-2": 1}
    sent = fcm_server.accepted("tok-android-1")[0]
    assert sent["notification"]["title"] == "Your social security registration is approved"
    assert "0100000042" in sent["notification"]["body"]
    assert sent["data"]["notification_id"] == str(notification_id)
    assert sent["data"]["deep_link"] == "lsso://registration/1"
    assert set(sent["data"]) == set(NOTICE_PUSH_DATA_KEYS)  # what the API document's PushData lists
    assert sent["android"]["collapse_key"] == f"test-{member_id}"
    assert sent["android"]["ttl"] == f"{28 * 24 * 3600}s"
    assert sent["apns"]["payload"]["aps"]["badge"] == 1
    # a duplicated job and the relay find nothing left to send
    assert deliver_notification(notification_id) == "nothing to do"
    assert relay_undelivered() == 0
    assert fcm_server.counts_by_token() == {"tok-android-1": 1, "tok-ios-2": 1}
    assert db.get(Notification, notification_id).dispatch_status is DispatchStatus.DONE


def test_each_fcm_error_class_gets_its_treatment(app, db, fcm_server):
    tokens = ["tok-ok", "tok-unregistered", "tok-quota", "tok-unavailable", "tok-internal", "tok-invalid", "tok-sender"]
    fcm_server.set_rule("tok-unregistered", "unregistered")
    fcm_server.set_rule("tok-quota", "quota", times=1, retry_after=7)
    fcm_server.set_rule("tok-unavailable", "unavailable", times=1)
    fcm_server.set_rule("tok-internal", "internal", times=1)
    fcm_server.set_rule("tok-invalid", "invalid")
    fcm_server.set_rule("tok-sender", "sender_mismatch")
    with runtime.current().db.unit_of_work() as session:
        member_id = make_member_with_devices(session, "+8562055560002", tokens)

    before = datetime.now(UTC)
    notification_id = notify(member_id)
    assert _deliveries(db, notification_id) == {
        "tok-ok": (DeliveryStatus.SENT, None),
        "tok-unregistered": (DeliveryStatus.UNREGISTERED, "UNREGISTERED"),
        "tok-quota": (DeliveryStatus.RETRY, "QUOTA_EXCEEDED"),
        "tok-unavailable": (DeliveryStatus.RETRY, "UNAVAILABLE"),
        "tok-internal": (DeliveryStatus.RETRY, "INTERNAL"),
        "tok-invalid": (DeliveryStatus.FAILED, "INVALID_ARGUMENT"),
        "tok-sender": (DeliveryStatus.FAILED, "SENDER_ID_MISMATCH"),
    }
    dead = db.scalars(select(Device).where(Device.token == "tok-unregistered")).one()
    assert not dead.active and dead.deactivated_reason == "unregistered"
    notification = db.get(Notification, notification_id)
    assert notification.dispatch_status is DispatchStatus.PENDING
    # Retry-After (7 s) wins over the 1 s backoff
    assert notification.deliver_after >= before + timedelta(seconds=7)
    assert deliver_notification(notification_id) == "not due yet"

    _make_due(db, notification_id)
    assert deliver_notification(notification_id) == "done"
    statuses = _deliveries(db, notification_id)
    assert {t: s for t, (s, _) in statuses.items() if s is DeliveryStatus.SENT}.keys() == {
        "tok-ok",
        "tok-quota",
        "tok-unavailable",
        "tok-internal",
    }
    # permanent failures and dead tokens were not tried again; every device got at most one push
    assert fcm_server.attempts("tok-invalid") == 1 and fcm_server.attempts("tok-unregistered") == 1
    assert fcm_server.counts_by_token() == {"tok-ok": 1, "tok-quota": 1, "tok-unavailable": 1, "tok-internal": 1}


def test_retries_stop_after_the_configured_attempts(app, db, fcm_server):
    settings = runtime.current().settings
    fcm_server.set_rule("tok-down", "unavailable")
    member_id = make_member_with_devices(db, "+8562055560003", ["tok-down"])
    notification_id = notify(member_id)
    for _ in range(settings.push_max_attempts - 1):
        _make_due(db, notification_id)
        deliver_notification(notification_id)
    assert _deliveries(db, notification_id) == {"tok-down": (DeliveryStatus.FAILED, "RETRIES_EXHAUSTED")}
    assert db.get(Notification, notification_id).dispatch_status is DispatchStatus.DONE
    assert fcm_server.attempts("tok-down") == settings.push_max_attempts


def test_backoff_doubles_and_is_capped():
    assert [retry_delay(n, None, 15) for n in (1, 2, 3)] == [15, 30, 60]
    assert retry_delay(20, None, 15) == 3600
    assert retry_delay(1, 120, 15) == 120


def test_relay_picks_up_what_no_job_delivered(app, db, fcm_server):
    member_id = make_member_with_devices(db, "+8562055560004", ["tok-relay"])
    fcm_server.set_rule("tok-relay", "unavailable", times=1)
    notification_id = notify(member_id)
    _make_due(db, notification_id)
    assert relay_undelivered() == 1  # the in-process queue runs the job at once
    assert fcm_server.counts_by_token() == {"tok-relay": 1}
    assert db.get(Notification, notification_id).dispatch_status is DispatchStatus.DONE


# -- quiet hours and muting ---------------------------------------------------------------------


def test_quiet_period_end_in_vientiane_time():
    def utc(local: str) -> datetime:
        return datetime.fromisoformat(local).replace(tzinfo=VIENTIANE).astimezone(UTC)

    from datetime import time as t

    assert quiet_period_end(utc("2026-11-22T23:30"), t(22), t(6)) == utc("2026-11-23T06:00")
    assert quiet_period_end(utc("2026-11-23T05:59"), t(22), t(6)) == utc("2026-11-23T06:00")
    assert quiet_period_end(utc("2026-11-23T06:00"), t(22), t(6)) is None
    assert quiet_period_end(utc("2026-11-23T13:00"), t(12), t(14)) == utc("2026-11-23T14:00")
    assert quiet_period_end(utc("2026-11-23T13:00"), None, None) is None


def _quiet_now() -> dict:
    local = datetime.now(VIENTIANE)
    return {
        "quiet_start": (local - timedelta(hours=1)).strftime("%H:%M:00"),
        "quiet_end": (local + timedelta(hours=1)).strftime("%H:%M:00"),
    }


def _member_with_device(client, sms_gateway, phone, token):
    headers = bearer(sign_up(client, sms_gateway, phone)["access_token"])
    assert (
        client.post(
            "/api/v1/me/devices", json={"token": token, "platform": "android", "app_version": "1.2.0"}, headers=headers
        ).status_code
        == 201
    )
    return headers


def test_quiet_hours_defer_non_critical_pushes_but_not_decisions(app, client, sms_gateway, staff, db, fcm_server):
    member = _member_with_device(client, sms_gateway, "+8562055560010", "tok-quiet-member")
    prefs = client.put(
        "/api/v1/me/notification-preferences", json={"muted_categories": [], **_quiet_now()}, headers=member
    )
    assert prefs.status_code == 200, prefs.json
    application_id = client.post("/api/v1/me/registration", json=application_form(), headers=member).json["id"]
    inbox = client.get("/api/v1/me/notifications", headers=member).json
    assert [n["category"] for n in inbox["items"]] == ["registration"]  # in the inbox at once
    assert fcm_server.counts_by_token() == {}  # ... but no push during quiet hours
    received = db.scalars(select(Notification)).one()
    assert received.deliver_after > datetime.now(UTC) + timedelta(minutes=50)

    officer = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    client.post(f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=officer)
    pushes = fcm_server.accepted("tok-quiet-member")
    assert len(pushes) == 1 and pushes[0]["data"]["template"] == "registration_approved"


def test_muted_category_gets_no_push_but_stays_in_the_inbox(app, client, sms_gateway, staff, db, fcm_server):
    member = _member_with_device(client, sms_gateway, "+8562055560011", "tok-muted-member")
    client.put(
        "/api/v1/me/notification-preferences",
        json={"muted_categories": ["registration"], "quiet_start": None, "quiet_end": None},
        headers=member,
    )
    application_id = client.post("/api/v1/me/registration", json=application_form(), headers=member).json["id"]
    assert relay_undelivered() == 0
    assert fcm_server.counts_by_token() == {}
    assert db.scalars(select(Notification)).one().dispatch_status is DispatchStatus.SKIPPED
    officer = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    client.post(f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=officer)
    assert fcm_server.counts_by_token() == {"tok-muted-member": 1}  # critical: always comes through
    assert len(client.get("/api/v1/me/notifications", headers=member).json["items"]) == 2


def test_preferences_are_validated(client, sms_gateway):
    member = bearer(sign_up(client, sms_gateway, "+8562055560012")["access_token"])
    bad = client.put(
        "/api/v1/me/notification-preferences",
        json={"muted_categories": ["jokes"], "quiet_start": None, "quiet_end": None},
        headers=member,
    )
    assert bad.status_code == 422
    half = client.put(
        "/api/v1/me/notification-preferences",
        json={"muted_categories": [], "quiet_start": "22:00:00", "quiet_end": None},
        headers=member,
    )
    assert half.status_code == 422


# -- the template catalogue -----------------------------------------------------------------------


def test_every_template_has_lao_and_english_text():
    for template in TEMPLATES.values():
        for text in (template.title_lo, template.body_lo, template.title_en, template.body_en):
            assert text.strip(), template.key
        assert any("\u0e80" <= ch <= "\u0eff" for ch in template.title_lo + template.body_lo), template.key
        assert template.title_en.isascii(), template.key
        params = {name: "x" for name in template.parameters()}
        rendered = render(template.key, params)
        assert len((rendered.title_lo + rendered.body_lo).encode()) < 2048


def test_a_token_handed_to_another_member_never_gets_the_first_members_notice(app, db, fcm_server):
    from lsso_mobile.models import Platform
    from lsso_mobile.notify import devices
    from tests.support import make_member_with_devices as make

    fcm_server.set_rule("tok-shared-phone", "unavailable", times=1)
    member_a = make(db, "+8562055560020", ["tok-shared-phone"])
    notification_id = notify(member_a, reason="private reason for A")
    assert _deliveries(db, notification_id)["tok-shared-phone"][0] is DeliveryStatus.RETRY
    member_b = make(db, "+8562055560021", [])
    devices.register_device(db, member_b, "tok-shared-phone", Platform.ANDROID, "1.0", "lo", datetime.now(UTC), 5)
    db.commit()
    _make_due(db, notification_id)
    deliver_notification(notification_id)
    assert _deliveries(db, notification_id)["tok-shared-phone"] == (DeliveryStatus.FAILED, "DEVICE_INACTIVE")
    assert fcm_server.counts_by_token() == {}


def test_a_long_reason_is_clipped_in_the_push_but_whole_in_the_inbox(app, client, sms_gateway, staff, db, fcm_server):
    member = _member_with_device(client, sms_gateway, "+8562055560022", "tok-long-reason-000000001")
    application_id = client.post("/api/v1/me/registration", json=application_form(), headers=member).json["id"]
    officer = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    reason = "ເອກະສານບໍ່ຄົບ " * 140  # about 2,000 characters of Lao: ~6 KB in UTF-8
    decided = client.post(
        f"/api/v1/staff/registrations/{application_id}/decision",
        json={"decision": "reject", "reason": reason[:2000]},
        headers=officer,
    )
    assert decided.status_code == 200
    push = fcm_server.accepted("tok-long-reason-000000001")[-1]
    assert push["data"]["template"] == "registration_rejected"
    assert len(push["notification"]["body"]) <= 400 and push["notification"]["body"].endswith("…")
    inbox = client.get("/api/v1/me/notifications", headers=member).json["items"][0]
    assert reason[:2000].strip() in inbox["body"]


def test_a_retry_that_falls_in_quiet_hours_waits_for_them_to_end(app, client, sms_gateway, db, fcm_server):
    member = _member_with_device(client, sms_gateway, "+8562055560030", "tok-quiet-retry-000000001")
    fcm_server.set_rule("tok-quiet-retry-000000001", "unavailable", times=1)
    client.post("/api/v1/me/registration", json=application_form(), headers=member)  # non-critical notice
    received = db.scalars(select(Notification)).one()
    assert _deliveries(db, received.id)["tok-quiet-retry-000000001"][0] is DeliveryStatus.RETRY
    client.put("/api/v1/me/notification-preferences", json={"muted_categories": [], **_quiet_now()}, headers=member)
    _make_due(db, received.id)
    assert deliver_notification(received.id) == "not due yet"
    db.expire_all()
    assert db.get(Notification, received.id).deliver_after > datetime.now(UTC) + timedelta(minutes=50)
    assert fcm_server.counts_by_token() == {}


def test_a_notice_that_reached_no_device_falls_back_to_sms_at_once_and_one_that_did_waits(app, db, fcm_server):
    """In one batch: a member whose only token is dead (SMS due now) and one whose push went out (SMS only if the
    app does not acknowledge it within the registration window)."""
    from lsso_mobile.models import utcnow
    from lsso_mobile.notify.outbox import record_notification

    fcm_server.set_rule("tok-dead-only", "unregistered")
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        unreached_member = make_member_with_devices(session, "+8562055560031", ["tok-dead-only"])
        reached_member = make_member_with_devices(session, "+8562055560032", ["tok-alive"])
    params = {"application_id": 1, "member_number": "0100000001"}
    no_device_sends = REGISTRY.get_sample_value("lsso_sms_fallback_sends_total", {"reason": "no_device"}) or 0.0
    before = utcnow()
    with rt.db.unit_of_work() as session:  # one commit: both notices go to the delivery as one batch
        unreached = record_notification(session, unreached_member, "registration_approved", params, before).id
        reached = record_notification(session, reached_member, "registration_approved", params, before).id

    db.expire_all()
    unreached_notice, reached_notice = db.get(Notification, unreached), db.get(Notification, reached)
    assert unreached_notice.dispatch_status is reached_notice.dispatch_status is DispatchStatus.DONE
    # the unreached notice's SMS went at once (handed to the gateway: nothing left due); the other one's waits
    assert (unreached_notice.sms_outcome, unreached_notice.sms_due_at) == ("queued", None)
    assert (reached_notice.sms_outcome, reached_notice.sms_due_at) == (None, before + timedelta(seconds=900))
    assert fcm_server.counts_by_token() == {"tok-alive": 1} and fcm_server.attempts("tok-dead-only") == 1
    # counted as an SMS for a member no device took a push for, not as an unacknowledged push
    after = REGISTRY.get_sample_value("lsso_sms_fallback_sends_total", {"reason": "no_device"})
    assert after == no_device_sends + 1
