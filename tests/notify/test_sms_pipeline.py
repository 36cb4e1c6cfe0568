"""SMS fallback end to end with real parts: notices -> Redis/RQ -> `lsso-mobile worker` processes ->
firebase-admin -> the local FCM server; the app's acknowledgements over the API; the fallback scan in the
workers' periodic run -> the SMS outbox -> the local SMS gateway over HTTP; its delivery reports back through
the signed webhook. Counted at the FCM server and at the SMS gateway."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from lsso_mobile import runtime
from lsso_mobile.models import Notification, SmsMessage
from lsso_mobile.notify.outbox import fallback_sms_job
from lsso_mobile.notify.preferences import update_preferences
from tests.conftest import REDIS_URL, STAFF_PASSWORD
from tests.notify.conftest import pipeline_overrides
from tests.sms_support import fake_sms_fixture, post_signed, sms_overrides  # noqa: F401 - the fixture
from tests.support import PIN, bearer, make_member_with_devices, notify, staff_sign_in, wait_until

pytestmark = pytest.mark.slow

WINDOW_SECONDS = 6
WINDOWS = f"registration_approved={WINDOW_SECONDS},contributions_received={WINDOW_SECONDS},registration_rejected=3600"


@pytest.fixture
def settings_overrides(fcm_server, queue_prefix, fake_sms):
    return {
        **pipeline_overrides(fcm_server.url, REDIS_URL, queue_prefix),
        **sms_overrides(fake_sms, sms_fallback_windows=WINDOWS),
    }


def sign_in(client, phone):
    answer = client.post("/api/v1/auth/login", json={"phone": phone, "pin": PIN})
    assert answer.status_code == 200, answer.json
    return bearer(answer.json["access_token"])


def acknowledge(client, headers, *ids):
    answer = client.post("/api/v1/me/notifications/acks", json={"notification_ids": list(ids)}, headers=headers)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_fallback_end_to_end(app, client, db, fcm_server, fake_sms, workers, staff):
    workers.start()
    warm = make_member_with_devices(db, "+8562055590099", ["tok-warm-up-0123456789"])
    notify(warm, "registration_received")  # no window: only a push, to know the worker is up
    wait_until(lambda: fcm_server.accepted("tok-warm-up-0123456789"), timeout=30, message="a worker at work")
    phones = {k: f"+856205559000{i}" for i, k in enumerate("ABCDE", start=1)}
    acking = make_member_with_devices(db, phones["A"], ["tok-acking-0123456789"])
    silent = make_member_with_devices(db, phones["B"], ["tok-silent-0123456789"], language="en")
    deviceless = make_member_with_devices(db, phones["C"], [])
    muting = make_member_with_devices(db, phones["D"], ["tok-muting-0123456789"])
    sms_only = make_member_with_devices(db, phones["E"], ["tok-sms-only-0123456789"])
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        update_preferences(session, muting, ["contributions"], None, None, set_quiet=False)
        update_preferences(session, sms_only, None, None, None, set_quiet=False, channel="sms")

    acked = notify(acking, "registration_approved")
    never_acked = notify(silent, "registration_approved")
    no_device = notify(deviceless, "registration_rejected")  # a window of an hour, but no device: at once
    muted = notify(muting, "contributions_received", count=1)
    only_sms = notify(sms_only, "registration_received")

    wait_until(lambda: fcm_server.accepted("tok-acking-0123456789"), message="the push to the acking app")
    headers_a = sign_in(client, phones["A"])
    assert acknowledge(client, headers_a, acked) == {"recorded": 1, "already": 0, "ignored": 0}
    wait_until(lambda: fake_sms.count_to(phones["C"]) == 1, timeout=WINDOW_SECONDS, message="the SMS at once")
    wait_until(lambda: fake_sms.count_to(phones["E"]) == 1, timeout=10, message="the SMS-only member's SMS")
    wait_until(lambda: fake_sms.count_to(phones["B"]) == 1, timeout=20, message="the fallback SMS after the window")
    db.expire_all()
    fallback = db.scalars(select(SmsMessage).where(SmsMessage.notification_id == never_acked)).one()
    waited = fallback.created_at - db.get(Notification, never_acked).created_at
    assert waited.total_seconds() >= WINDOW_SECONDS  # not before the window

    # duplicated jobs, more scans, duplicate and late acknowledgements: nothing more is sent
    rt.job_queue.submit_many([fallback_sms_job(n) for n in (acked, never_acked, no_device, muted, only_sms)])
    assert acknowledge(client, headers_a, acked) == {"recorded": 0, "already": 1, "ignored": 0}
    assert acknowledge(client, sign_in(client, phones["B"]), never_acked) == {"recorded": 1, "already": 0, "ignored": 0}
    time.sleep(3)  # several scans (every second)
    counts = {k: fake_sms.count_to(p) for k, p in phones.items()}
    assert counts == {"A": 0, "B": 1, "C": 1, "D": 0, "E": 1}
    assert fake_sms.to(phones["B"])[0]["text"] == "LSSO: your registration is approved. Member number: 0100000001"
    assert fake_sms.to(phones["C"])[0]["text"] == "ປກສ: ຄຳຮ້ອງລົງທະບຽນບໍ່ໄດ້ຮັບອະນຸມັດ. ເຫດຜົນ: r"
    assert fcm_server.counts_by_token() == {
        "tok-warm-up-0123456789": 1,
        "tok-acking-0123456789": 1,
        "tok-silent-0123456789": 1,
    }  # none to the muting member nor to the SMS-only one
    db.expire_all()
    outcomes = {n: db.get(Notification, n).sms_outcome for n in (acked, never_acked, no_device, muted, only_sms)}
    assert outcomes == {acked: None, never_acked: "queued", no_device: "queued", muted: None, only_sms: "queued"}
    assert db.get(Notification, never_acked).acked_at is not None  # the late one is kept, and changed nothing else
    # what ops and the office see
    ops = bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"])
    seen = client.get(f"/api/v1/staff/notifications/{never_acked}/delivery", headers=ops).json
    assert seen["pushes"] == {"sent": 1} and seen["sms_outcome"] == "queued" and seen["acked_at"] is not None
    assert seen["sms"]["parts"] == 1 and seen["sms"]["encoding"] == "gsm7" and seen["sms"]["sent_at"] is not None
    health = client.get(f"/api/v1/staff/members/{acking}/channel-health", headers=ops).json
    assert (health["notices"], health["pushed"], health["acknowledged"], health["ack_share"]) == (1, 1, 1, 1.0)
    assert health["last_ack"] is not None and health["active_devices"] == 1 and health["sms"] == 0
    assert client.get(f"/api/v1/staff/members/{sms_only}/channel-health", headers=ops).json["channel"] == "sms"
    rows = db.scalars(select(SmsMessage).where(SmsMessage.notification_id.is_not(None))).all()
    assert sorted((r.notification_id, r.parts, r.encoding) for r in rows) == sorted(
        [(never_acked, 1, "gsm7"), (no_device, 1, "ucs2"), (only_sms, 1, "ucs2")]
    )


def test_a_gateway_failure_is_retried_and_its_delivery_report_recorded(app, client, db, fake_sms, workers):
    workers.start()
    member = make_member_with_devices(db, "+8562055590009", [])
    fake_sms.fail_next = 1
    nid = notify(member, "registration_rejected")
    wait_until(lambda: fake_sms.count_to("+8562055590009") == 1, timeout=30, message="the retried SMS")
    assert fake_sms.failures == 1

    def sent_row():
        db.expire_all()
        row = db.scalars(select(SmsMessage).where(SmsMessage.notification_id == nid)).one()
        return row if row.sent_at is not None else None

    row = wait_until(sent_row, message="the SMS recorded as sent")
    assert row.attempts == 2
    assert row.gateway_message_id == fake_sms.to("+8562055590009")[0]["id"]
    report = post_signed(
        client, "/api/v1/sms-gateway/delivery-reports", fake_sms.delivery_report(row.gateway_message_id)
    )
    assert report.json == {"recorded": 1, "ignored": 0}
    db.expire_all()
    assert db.get(SmsMessage, row.id).report_status == "delivered"
