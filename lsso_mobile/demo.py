"""Demo data for a first run: sample areas, a member with a history, an officer, ops and admin users."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from lsso_mobile.models import (
    ConversationCategory,
    Device,
    InsuredPerson,
    Language,
    Member,
    Office,
    Platform,
    Scheme,
    Sex,
    StaffRole,
    StaffUser,
    utcnow,
)
from lsso_mobile.runtime import Runtime
from lsso_mobile.services import broadcasts, canned_replies, conversations, registrations, staff_inbox
from lsso_mobile.services.accounts import Principal, create_staff_user
from lsso_mobile.services.audience import Audience
from lsso_mobile.services.contributions import period_of, shift_period
from lsso_mobile.services.core_import import import_claims, import_contributions, import_payments
from lsso_mobile.services.reference import SAMPLE_AREAS_CSV, import_areas_file
from lsso_mobile.services.registrations import ApplicationForm
from lsso_mobile.services.secrets_hashing import hash_secret

DEMO_PIN = "246810"
DEMO_STAFF_PASSWORD = "demo-password-1"  # noqa: S105 - printed for the demo, never used in production
DEMO_MEMBER_PHONE = "+8562055550001"
DEMO_APPLICANT_PHONE = "+8562055550002"


def _form(name_lo: str, name_latin: str, born: date, sex: Sex, national_id: str) -> ApplicationForm:
    return ApplicationForm(
        name_lo=name_lo,
        name_latin=name_latin,
        date_of_birth=born,
        sex=sex,
        national_id=national_id,
        province_code="01",
        district_code="0101",
        village_code="01010001",
        occupation="Market vendor",
        scheme=Scheme.VOLUNTARY,
        declared_monthly_income=2_500_000,
        consent=True,
    )


def _demo_conversation(session: Any, rt: Runtime, member_id: int, staff: Principal, at: datetime) -> None:
    """A member's question answered with a canned reply, and a new question still open."""
    canned = canned_replies.save_canned_reply(
        session,
        staff,
        None,
        "Contribution recorded",
        "ເງິນສົມທົບຂອງທ່ານໄດ້ບັນທຶກແລ້ວ. ຂອບໃຈ.",
        "Your contribution has been recorded. Thank you.",
        at,
    )
    asked = conversations.start_conversation(
        session,
        rt.settings,
        member_id,
        None,
        ConversationCategory.CONTRIBUTIONS,
        "ເງິນສົມທົບເດືອນນີ້",
        "ຂ້ອຍໄດ້ຈ່າຍເງິນສົມທົບເດືອນນີ້ແລ້ວ, ແຕ່ຍັງບໍ່ເຫັນໃນແອັບ.",
        [],
        str(uuid.uuid4()),
        at,
    )
    staff_inbox.post_staff_message(
        session, rt.settings, staff, asked.conversation.id, None, canned.id, [], None, False, at + timedelta(hours=1)
    )
    conversations.post_member_message(
        session,
        rt.settings,
        member_id,
        asked.conversation.id,
        "ຂອບໃຈ! ແລ້ວເດືອນກ່ອນເດ?",
        [],
        str(uuid.uuid4()),
        at + timedelta(hours=2),
    )


def _demo_records(session: Any, member_id: int, at: datetime) -> list[str]:
    """What the core system would have sent for the registered member: paid months of contributions (the last
    two months unpaid, so the app shows arrears), a sickness claim approved and paid, and its payment.

    Loaded through the core import, as the real records arrive; returns lines for the demo summary."""
    person_id = session.get(Member, member_id).insured_person_id
    number = session.get(InsuredPerson, person_id).member_number
    current = period_of(at)
    months = [shift_period(current, -k) for k in range(14, 0, -1)]
    share = 225_000  # 9% of the declared 2,500,000 kip
    contributions = [
        (
            line,
            {
                "source_id": f"DEMO-CTB-{number}-{period}",
                "member_number": number,
                "period": period,
                "scheme": "voluntary",
                "insurable_earnings": 2_500_000,
                "employee_share": share,
                "employer_share": 0,
                "total": share,
                "status": "unpaid" if line > 12 else ("late" if line == 7 else "paid"),
                "paid_date": None if line > 12 else f"{shift_period(period, 1)}-{10 if line != 7 else 20:02d}",
                "payment_channel": None if line > 12 else "bank",
                "receipt_reference": None if line > 12 else f"BCEL-{period.replace('-', '')}-{number[-4:]}",
            },
        )
        for line, period in enumerate(months, start=1)
    ]
    import_contributions(session, contributions, at)
    claim = {
        "source_id": f"DEMO-CLM-{number}-1",
        "member_number": number,
        "benefit_type": "sickness",
        "status": "approved",
        "amount_claimed": 900_000,
        "amount_approved": 750_000,
        "reason": None,
    }
    import_claims(session, [(1, claim)], at)
    paid_period = shift_period(current, -1)
    payment = {
        "source_id": f"DEMO-PAY-{number}-1",
        "claim_source_id": claim["source_id"],
        "period": paid_period,
        "amount": 750_000,
        "paid_date": f"{paid_period}-25",
        "channel": "bank",
    }
    import_payments(session, [(1, payment)], at)
    claim["status"] = "paid"
    import_claims(session, [(1, claim)], at)
    return [
        f"  member {number}: 12 months contributed, 2 unpaid (arrears), a sickness claim paid (750,000 kip)",
    ]


def _demo_broadcast(session: Any, author_id: int, approver_id: int) -> None:
    """A notice to the capital, through the four-eyes path; it goes out after this commit."""

    def ops(staff_id: int) -> Principal:
        return Principal(kind="staff", id=staff_id, role="ops", office_id=None, session_id="demo")

    at = utcnow()
    draft = broadcasts.BroadcastDraft(
        title_lo="ຫ້ອງການປະກັນສັງຄົມ ປິດວັນບຸນ",
        body_lo="ຫ້ອງການທຸກແຫ່ງໃນນະຄອນຫຼວງ ປິດໃນວັນບຸນທາດຫຼວງ.",
        title_en="Offices closed for That Luang festival",
        body_en="All social security offices in Vientiane Capital are closed on That Luang festival day.",
        category="news",
        critical=False,
        audience=Audience(provinces=("01",)),
        send_at=None,
        expires_at=None,
    )
    broadcast = broadcasts.create_broadcast(session, ops(author_id), draft, at)
    broadcasts.submit_for_approval(session, ops(author_id), broadcast.id, at)
    broadcasts.approve(session, ops(approver_id), broadcast.id, at)


CREDENTIALS = [
    f"  member (registered, with history):  phone {DEMO_MEMBER_PHONE}  PIN {DEMO_PIN}",
    f"  member (application to review):     phone {DEMO_APPLICANT_PHONE}  PIN {DEMO_PIN}",
    f"  officer, Chanthabouly office:        officer.vte / {DEMO_STAFF_PASSWORD}",
    f"  ops:                                 ops.central / {DEMO_STAFF_PASSWORD}",
    f"  ops approving broadcasts:            ops.approver / {DEMO_STAFF_PASSWORD}",
    f"  admin:                               admin / {DEMO_STAFF_PASSWORD}",
    "  sign-in codes (SMS) are written to this log (LSSO_SMS_BACKEND=log)",
]


def seed_demo(rt: Runtime) -> list[str]:
    """Idempotent: loads nothing if the demo officer exists. Returns lines to print: every demo credential, each
    time (a second `make dev` needs them as much as the first)."""
    with rt.db.unit_of_work() as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.username == "officer.vte")) is not None:
            return ["demo data already loaded (`make dev RESET=1` starts it over):", *CREDENTIALS]

    with rt.db.unit_of_work() as session:
        import_areas_file(session, SAMPLE_AREAS_CSV)
        office_id = session.scalar(select(Office.id).where(Office.code == "D0101"))
        officer = create_staff_user(
            session,
            rt.settings,
            "officer.vte",
            DEMO_STAFF_PASSWORD,
            StaffRole.OFFICER,
            "Demo officer, Chanthabouly",
            office_id,
        )
        ops = create_staff_user(
            session, rt.settings, "ops.central", DEMO_STAFF_PASSWORD, StaffRole.OPS, "Demo ops officer", None
        )
        approver = create_staff_user(
            session,
            rt.settings,
            "ops.approver",
            DEMO_STAFF_PASSWORD,
            StaffRole.OPS,
            "Demo second ops officer (approves broadcasts)",
            None,
        )
        create_staff_user(session, rt.settings, "admin", DEMO_STAFF_PASSWORD, StaffRole.ADMIN, "Demo admin", None)
        now = utcnow() - timedelta(days=3)
        member = Member(
            phone=DEMO_MEMBER_PHONE,
            pin_hash=hash_secret(DEMO_PIN, rt.settings.password_hashing),
            language=Language.LAO,
            created_at=now,
            updated_at=now,
        )
        applicant = Member(
            phone=DEMO_APPLICANT_PHONE,
            pin_hash=hash_secret(DEMO_PIN, rt.settings.password_hashing),
            language=Language.ENGLISH,
            created_at=now,
            updated_at=now,
        )
        session.add_all([member, applicant])
        session.flush()
        session.add(
            Device(
                member_id=member.id,
                token="demo-device-token-0001-android",
                platform=Platform.ANDROID,
                app_version="1.0.0",
                locale="lo",
                created_at=now,
                last_seen_at=now,
            )
        )
        staff = Principal(kind="staff", id=officer.id, role="officer", office_id=office_id, session_id="demo")
        form = _form("ນາງ ບົວໄລ ສີສຸວັນ", "Bualai Sisouvan", date(1988, 4, 12), Sex.FEMALE, "LA-0101-123456")
        application = registrations.submit_application(session, member.id, form, now)
        registrations.decide_application(
            session, staff, application.id, "request_info", "Please add your village.", now + timedelta(hours=2)
        )
        registrations.resubmit_application(session, member.id, form, now + timedelta(days=1))
        registrations.decide_application(session, staff, application.id, "approve", None, now + timedelta(days=2))
        registrations.submit_application(
            session,
            applicant.id,
            _form("ທ້າວ ສົມພອນ ແກ້ວມະນີ", "Somphone Keomany", date(1995, 9, 1), Sex.MALE, "LA-0101-654321"),
            now,
        )
        _demo_conversation(session, rt, member.id, staff, now + timedelta(days=2, hours=3))
        history = _demo_records(session, member.id, now + timedelta(days=2, hours=4))
        _demo_broadcast(session, ops.id, approver.id)
    return [
        "demo data loaded:",
        *CREDENTIALS,
        *history,
        "  a broadcast to Vientiane Capital (written by ops.central, approved by ops.approver, sent)",
        "  a conversation of the registered member with the Chanthabouly office (answered, then asked again)",
    ]
