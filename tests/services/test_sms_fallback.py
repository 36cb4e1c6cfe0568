"""SMS fallback, acknowledgements, look-ups and delivery reports, in-process (jobs run inline, the SMS
gateway is the local fake over HTTP). The end-to-end version with workers is tests/notify/test_sms_pipeline.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from lsso_mobile import i18n, runtime
from lsso_mobile.i18n import Money
from lsso_mobile.models import (
    Contribution,
    ContributionStatus,
    InboundSms,
    InsuredPerson,
    Member,
    Notification,
    Office,
    Scheme,
    Sex,
    SmsMessage,
)
from lsso_mobile.notify.sms_text import fit, measure
from lsso_mobile.notify.templates import TEMPLATES, localised_params, render, render_sms
from lsso_mobile.services.sms_fallback import scan_once
from tests.sms_support import fake_sms_fixture, post_signed, sms_overrides  # noqa: F401 - the fixture
from tests.support import bearer, make_member_with_devices, notify, sign_up

WINDOWS = "registration_approved=60,benefits=60,contributions=60,registration_rejected=60"


@pytest.fixture
def settings_overrides(fake_sms):
    return sms_overrides(fake_sms, sms_fallback_windows=WINDOWS, sms_daily_cap=3, sms_lookups_per_hour=3)


def notice_sms(db, notification_id):
    db.expire_all()
    return db.scalars(select(SmsMessage).where(SmsMessage.notification_id == notification_id)).all()


def scan(at):
    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        return scan_once(session, rt.settings, at)


# -- SMS text built for Lao -------------------------------------------------------------------------------


def test_segments_gsm7_and_ucs2():
    assert measure("a" * 160).parts == 1 and measure("a" * 161).parts == 2
    assert measure("a" * 306).parts == 2 and measure("a" * 307).parts == 3
    assert measure("€" * 80) == measure("€" * 80) and measure("€" * 80).units == 160  # extension: two septets
    assert measure("€" * 81).parts == 2
    lao = "ກ" * 70
    assert measure(lao).encoding == "ucs2" and measure(lao).parts == 1
    assert measure(lao + "ກ").parts == 2 and measure("ກ" * 134).parts == 2 and measure("ກ" * 135).parts == 3
    # vowel signs and tone marks are characters: ກິ່ is three
    assert measure("ກິ່").units == 3
    assert measure("hello ກ").encoding == "ucs2"  # one Lao letter makes the whole SMS UCS-2


def test_fit_cuts_to_the_parts_and_keeps_marks_with_their_consonant():
    text = "ຄຳຮ້ອງຂໍ ເງິນອຸດໜູນເຈັບປ່ວຍ ຂອງທ່ານ ໄດ້ຮັບການອະນຸມັດແລ້ວ. " * 5
    for parts in (1, 2, 3):
        cut = fit(text, parts)
        assert measure(cut).parts <= parts and cut.endswith("…")
        assert measure(cut).units > (parts - 1) * 67  # not needlessly short
        assert not cut[:-1].endswith(("\u0eb4", "\u0ec8", "\u0ec9"))  # no dangling vowel sign or tone mark
    assert fit("short", 1) == "short"
    assert fit("x" * 400, 1).endswith("...") and measure(fit("x" * 400, 1)).encoding == "gsm7"


PARAMS = {
    "application_id": 1,
    "member_number": "0112345678",
    "reason": "ເອກະສານບໍ່ຄົບ ກະລຸນາສົ່ງສຳເນົາບັດປະຈຳຕົວ ແລະ ສຳມະໂນຄົວ ມາໃໝ່ ທີ່ຫ້ອງການປະກັນສັງຄົມເມືອງ " * 3,
    "office_name_lo": "ຫ້ອງການ ປກສ ເມືອງຈັນທະບູລີ",
    "office_name_en": "Chanthabouly office",
    "count": 3,
    "benefit_lo": "ເງິນອຸດໜູນເຈັບປ່ວຍ",
    "status_lo": "ອະນຸມັດແລ້ວ",
    "benefit_en": "sickness benefit",
    "status_en": "approved",
    "claim_id": 1,
    "amount": Money(600000),
    "months": "2026-10 - 2026-12 (3)",
    "bill_number": "2611234567",
    "bill_id": 5,
    "period": "2026-10",
    "due_date": "2026-11-20",
    "account_phone": "+85620****0001",
    "conversation_id": 2,
    "subject": "s",
    "preview": "p",
}


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_template_has_a_short_form_within_its_parts(key):
    template = TEMPLATES[key]
    assert template.sms_lo and template.sms_en, f"{key} has no SMS short form"
    lo, en = render_sms(key, render(key, PARAMS), PARAMS)
    assert measure(lo).parts <= template.sms_parts and measure(en).parts <= template.sms_parts
    assert measure(lo).encoding == "ucs2" and lo.startswith("ປກສ")
    short = {**PARAMS, "reason": "ok"}
    whole = i18n.translate(template.sms, i18n.LAO, localised_params(short, i18n.LAO))
    assert whole == render_sms(key, render(key, short), short)[0]  # fits uncut


# -- fallback ------------------------------------------------------------------------------------------


def test_no_device_goes_by_sms_at_once_in_the_members_language_with_its_parts(app, db, fake_sms):
    member = make_member_with_devices(db, "+8562055580001", [], language="en")
    nid = notify(member, "registration_approved")
    (sent,) = fake_sms.to("+8562055580001")
    assert sent["text"] == "LSSO: your registration is approved. Member number: 0100000001"
    (row,) = notice_sms(db, nid)
    assert row.sent_at is not None and row.sealed_text is None and row.gateway_message_id == sent["id"]
    assert (row.parts, row.encoding, row.category, row.member_id) == (1, "gsm7", "registration", member)
    notice = db.get(Notification, nid)
    assert notice.sms_outcome == "queued" and notice.sms_due_at is None and notice.sms_lo is None
    assert scan(datetime.now(UTC) + timedelta(hours=1)) == {}  # nothing is due any more
    assert fake_sms.count_to("+8562055580001") == 1


def test_window_then_exactly_one_sms_and_acks_in_time_prevent_it(app, client, db, fake_sms):
    session = sign_up(client, fake_sms, "+8562055580002")
    headers = bearer(session["access_token"])
    device = {"token": "tok-fallback-0123456789", "platform": "android", "app_version": "1.0.0"}
    assert client.post("/api/v1/me/devices", json=device, headers=headers).status_code == 201
    member = db.scalar(select(Member.id).where(Member.phone == "+8562055580002"))
    acked, ignored = notify(member, "registration_approved"), notify(member, "registration_approved")
    fake_sms.clear()
    assert fake_sms.count_to("+8562055580002") == 0  # a device: the app has its window
    answer = client.post("/api/v1/me/notifications/acks", json={"notification_ids": [acked, 999999]}, headers=headers)
    assert answer.status_code == 200 and answer.json == {"recorded": 1, "already": 0, "ignored": 1}
    assert scan(datetime.now(UTC) + timedelta(seconds=30)) == {}  # not due yet
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert scan(later) == {"queued": 1}
    assert scan(later) == {}  # a second scan finds nothing
    texts = [m["text"] for m in fake_sms.to("+8562055580002")]
    assert texts == ["ປກສ: ການລົງທະບຽນຂອງທ່ານອະນຸມັດແລ້ວ. ເລກສະມາຊິກ: 0100000001"]
    assert notice_sms(db, acked) == [] and len(notice_sms(db, ignored)) == 1
    # duplicate and late acknowledgements change nothing
    again = client.post("/api/v1/me/notifications/acks", json={"notification_ids": [acked, ignored]}, headers=headers)
    assert again.json == {"recorded": 1, "already": 1, "ignored": 0}
    third = client.post("/api/v1/me/notifications/acks", json={"notification_ids": [acked, ignored]}, headers=headers)
    assert third.json == {"recorded": 0, "already": 2, "ignored": 0}
    assert scan(later + timedelta(hours=1)) == {}
    assert fake_sms.count_to("+8562055580002") == 1
    db.expire_all()
    assert db.get(Notification, ignored).sms_outcome == "queued"
    # another member's notice is not acknowledged by this member
    other = make_member_with_devices(db, "+8562055580003", ["tok-other-0123456789"])
    theirs = notify(other, "registration_approved")
    assert (
        client.post("/api/v1/me/notifications/acks", json={"notification_ids": [theirs]}, headers=headers).json[
            "ignored"
        ]
        == 1
    )
    db.expire_all()
    assert db.get(Notification, theirs).acked_at is None


def test_muted_quiet_hours_cap_and_critical(app, client, db, fake_sms):
    member = make_member_with_devices(db, "+8562055580004", [])
    headers = None
    del headers
    from lsso_mobile.notify.preferences import update_preferences

    rt = runtime.current()
    with rt.db.unit_of_work() as session:
        update_preferences(session, member, ["contributions"], None, None, set_quiet=False)
    muted = notify(member, "contributions_received", count=2)
    assert db.get(Notification, muted).sms_due_at is None and notice_sms(db, muted) == []
    with rt.db.unit_of_work() as session:
        update_preferences(session, member, [], time(0, 0), time(23, 59), set_quiet=True)  # always quiet
    quiet = notify(member, "contributions_received", count=2)
    db.expire_all()
    assert notice_sms(db, quiet) == [] and db.get(Notification, quiet).sms_due_at > datetime.now(UTC)
    critical = notify(member, "registration_rejected")  # critical: quiet hours do not apply
    assert len(notice_sms(db, critical)) == 1
    with rt.db.unit_of_work() as session:
        update_preferences(session, member, [], None, None, set_quiet=True)
    assert scan(datetime.now(UTC) + timedelta(days=1)) == {"queued": 1}  # the quiet one, once they ended
    # the daily cap (3): two sent so far; the third goes, the fourth is capped, a critical one still goes
    third, fourth = notify(member, "contributions_received", count=1), notify(member, "contributions_received", count=1)
    db.expire_all()
    assert len(notice_sms(db, third)) == 1 and notice_sms(db, fourth) == []
    assert db.get(Notification, fourth).sms_outcome == "capped"
    assert len(notice_sms(db, notify(member, "registration_rejected"))) == 1
    assert fake_sms.count_to("+8562055580004") == 4


def test_sms_only_members_get_sms_and_no_push(app, client, db, fake_sms):
    session = sign_up(client, fake_sms, "+8562055580005")
    headers = bearer(session["access_token"])
    device = {"token": "tok-sms-only-0123456789", "platform": "android", "app_version": "1.0.0"}
    assert client.post("/api/v1/me/devices", json=device, headers=headers).status_code == 201
    prefs = client.get("/api/v1/me/notification-preferences", headers=headers).json
    assert prefs["channel"] == "push"
    body = {"muted_categories": [], "quiet_start": None, "quiet_end": None, "channel": "sms"}
    assert client.put("/api/v1/me/notification-preferences", json=body, headers=headers).json["channel"] == "sms"
    wrong = client.put("/api/v1/me/notification-preferences", json={**body, "channel": "fax"}, headers=headers)
    assert wrong.status_code == 422
    member = db.scalar(select(Member.id).where(Member.phone == "+8562055580005"))
    fake_sms.clear()
    nid = notify(member, "registration_received")  # no window for it: SMS only sends it anyway
    db.expire_all()
    notice = db.get(Notification, nid)
    assert notice.dispatch_status.value == "skipped"
    assert [m["text"] for m in fake_sms.to("+8562055580005")] == ["ປກສ: ໄດ້ຮັບຄຳຮ້ອງລົງທະບຽນຂອງທ່ານແລ້ວ. ຈະແຈ້ງຜົນໃຫ້ທ່ານຮູ້."]


# -- delivery reports and look-ups -------------------------------------------------------------------------


def test_delivery_reports_are_signed_and_final_ones_stay(app, client, db, fake_sms):
    member = make_member_with_devices(db, "+8562055580006", [])
    nid = notify(member, "registration_approved")
    (row,) = notice_sms(db, nid)
    path = "/api/v1/sms-gateway/delivery-reports"
    report = fake_sms.delivery_report(row.gateway_message_id)
    assert client.post(path, json=report).status_code == 401  # unsigned
    assert post_signed(client, path, report, secret="another-secret-0123456789abcdef").status_code == 401
    assert post_signed(client, path, report, at=datetime.now(UTC).timestamp() - 3600).status_code == 401  # replay
    answer = post_signed(client, path, report)
    assert answer.status_code == 200 and answer.json == {"recorded": 1, "ignored": 0}
    late = post_signed(client, path, fake_sms.delivery_report(row.gateway_message_id, "failed", "EXPIRED"))
    assert late.json == {"recorded": 1, "ignored": 0}
    db.expire_all()
    row = db.get(SmsMessage, row.id)
    assert (row.report_status, row.report_error) == ("delivered", None)
    assert post_signed(client, path, fake_sms.delivery_report("gw-nobody")).json == {"recorded": 0, "ignored": 1}


@pytest.fixture
def insured(db):
    office = db.query(Office).filter(Office.code == "P01").one()
    person = InsuredPerson(
        member_number="0100000777",
        name_lo="ນາງ ທົດສອບ",
        name_latin="Test",
        sex=Sex.FEMALE,
        date_of_birth=date(1980, 1, 1),
        national_id="ID-777",
        scheme=Scheme.VOLUNTARY,
        office_id=office.id,
        province_code="01",
        phone="+8562055580777",
    )
    db.add(person)
    db.flush()
    for period, status in (("2025-01", ContributionStatus.PAID), ("2025-02", ContributionStatus.PAID)):
        db.add(
            Contribution(
                insured_person_id=person.id,
                period=period,
                scheme=Scheme.VOLUNTARY,
                insurable_earnings=1_300_000,
                employee_share=117_000,
                employer_share=0,
                total=117_000,
                status=status,
                source_id=f"src-{period}",
            )
        )
    db.add(
        Contribution(
            insured_person_id=person.id,
            period="2025-03",
            scheme=Scheme.VOLUNTARY,
            insurable_earnings=1_300_000,
            employee_share=108_000,
            employer_share=0,
            total=108_000,
            status=ContributionStatus.UNPAID,
            source_id="src-2025-03",
        )
    )
    db.commit()
    return person


def test_balance_lookup_in_lao_refusal_and_flood(app, client, db, fake_sms, insured):
    path = "/api/v1/sms-gateway/inbound"
    answer = post_signed(client, path, fake_sms.inbound("020 5558 0777", "ຍອດ", "in-1"))
    assert answer.status_code == 200 and answer.json == {"outcome": "answered"}
    (reply,) = fake_sms.to("+8562055580777")
    assert reply["text"] == (
        "ປກສ 0100000777: ສົ່ງເງິນສົມທົບແລ້ວ 2 ເດືອນ, ເດືອນລ່າສຸດ 2025-02. ຄ້າງຈ່າຍ 1 ເດືອນ ແຕ່ 2025-03: 108.000 ກີບ."
    )
    assert post_signed(client, path, fake_sms.inbound("+8562055580777", "ຍອດ", "in-1")).json == {"outcome": "duplicate"}
    assert fake_sms.count_to("+8562055580777") == 1
    help_reply = post_signed(client, path, fake_sms.inbound("+8562055580777", "HELP", "in-2"))
    assert help_reply.json == {"outcome": "answered"} and "ຍອດ" in fake_sms.to("+8562055580777")[-1]["text"]
    # a phone not on record: a polite refusal, no figures
    stranger = post_signed(client, path, fake_sms.inbound("+8562055589999", "balance", "in-3"))
    assert stranger.json == {"outcome": "refused"}
    (refusal,) = fake_sms.to("+8562055589999")
    assert refusal["text"].startswith("ປກສ: ຂໍອະໄພ") and "0100000777" not in refusal["text"]
    # a flood: the limit is 3 an hour per phone; the rest get nothing
    outcomes = [
        post_signed(client, path, fake_sms.inbound("+8562055580777", "ຍອດ", f"flood-{i}")).json["outcome"]
        for i in range(5)
    ]
    assert outcomes == ["answered", "limited", "limited", "limited", "limited"]
    assert fake_sms.count_to("+8562055580777") == 3
    assert db.scalar(select(func.count()).select_from(InboundSms)) == 8
    assert post_signed(client, path, {"message_id": "x", "from": "+85620", "text": 1}).status_code == 422


def test_a_broadcast_goes_by_sms_only_when_ops_choose_it_and_once(app, client, db, fake_sms, staff):
    from lsso_mobile.models import StaffRole
    from lsso_mobile.services.accounts import create_staff_user
    from lsso_mobile.tasks.sms import send_broadcast_sms
    from tests.conftest import STAFF_PASSWORD, office_id
    from tests.support import staff_sign_in

    create_staff_user(db, runtime.current().settings, "ops.two", STAFF_PASSWORD, StaffRole.OPS, "Ops two", None)
    db.commit()
    no_app = make_member_with_devices(db, "+8562055580010", [])
    with_app = make_member_with_devices(db, "+8562055580011", ["tok-bc-app-0123456789"])
    for member in (no_app, with_app):
        db.get(Member, member).office_id = office_id(db, "D0101")
    db.commit()
    ops = bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"])
    ops2 = bearer(staff_sign_in(client, "ops.two", STAFF_PASSWORD)["access_token"])
    texts = {"title_lo": "ແຈ້ງການ", "body_lo": "ຫ້ອງການປິດວັນຈັນ", "title_en": "Notice", "body_en": "Closed Monday"}
    for flag in (False, True):
        created = client.post(
            "/api/v1/staff/broadcasts",
            json={**texts, "audience": {"districts": ["0101"]}, "sms_fallback": flag},
            headers=ops,
        )
        assert created.status_code == 201 and created.json["sms_fallback"] is flag
        url = f"/api/v1/staff/broadcasts/{created.json['id']}"
        assert client.post(f"{url}/submit", headers=ops).status_code == 200
        assert client.post(f"{url}/approve", headers=ops2).status_code == 200
    # only the flagged one, only to the member without the app, once however often it runs
    assert [m["text"] for m in fake_sms.to("+8562055580010")] == ["ປກສ: ແຈ້ງການ. ຫ້ອງການປິດວັນຈັນ"]
    assert fake_sms.count_to("+8562055580011") == 0
    assert send_broadcast_sms(created.json["id"]) == {}
    assert fake_sms.count_to("+8562055580010") == 1
    delivery = client.get(f"{url}/delivery", headers=ops).json
    assert delivery["sms"] == 1 and delivery["sms_parts"] == 1 and delivery["sms_fallback"] is True
    costs = client.get("/api/v1/staff/sms/costs", headers=ops).json
    assert {"office_code": "D0101", "category": "news", "messages": 1, "parts": 1, "cost": 200}.items() <= next(
        r for r in costs["rows"] if r["category"] == "news"
    ).items()
    health = client.get(f"/api/v1/staff/members/{no_app}/channel-health", headers=ops).json
    assert health["active_devices"] == 0 and health["sms"] == 1 and health["ack_share"] is None
