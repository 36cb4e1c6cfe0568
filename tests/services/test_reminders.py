"""Due-date reminders: voluntary members who have not paid last month, once per period, in the window
before the due day (20th of the following month in the shipped rules)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from lsso_mobile.models import (
    Contribution,
    ContributionStatus,
    DispatchStatus,
    InsuredPerson,
    Member,
    Notification,
    NotificationPreference,
    Office,
    Scheme,
    Sex,
)
from lsso_mobile.services.reminders import send_due_reminders
from tests.support import make_member_with_devices


def _person(db, n, scheme, phone):
    office = db.scalars(select(Office).where(Office.code == "P01")).one()
    person = InsuredPerson(
        member_number=f"01000030{n:02d}",
        name_lo="ທ",
        name_latin="T",
        sex=Sex.FEMALE,
        date_of_birth=date(1990, 1, 1),
        national_id=f"R{n}",
        scheme=scheme,
        office_id=office.id,
        province_code="01",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    db.add(person)
    db.flush()
    member_id = make_member_with_devices(db, phone, [])
    db.get(Member, member_id).insured_person_id = person.id
    db.commit()
    return person, member_id


def test_reminders_go_once_to_voluntary_members_who_owe_last_month(app, db):
    owing, owing_member = _person(db, 1, Scheme.VOLUNTARY, "+8562055592001")
    paid, _ = _person(db, 2, Scheme.VOLUNTARY, "+8562055592002")
    employed, _ = _person(db, 3, Scheme.COMPULSORY, "+8562055592003")
    muted, muted_member = _person(db, 4, Scheme.VOLUNTARY, "+8562055592004")
    db.add(
        Contribution(
            insured_person_id=paid.id,
            period="2026-10",
            scheme=Scheme.VOLUNTARY,
            insurable_earnings=1_300_000,
            employee_share=117_000,
            employer_share=0,
            total=117_000,
            status=ContributionStatus.PAID,
            paid_date=date(2026, 11, 2),
            source_id="paid-2026-10",
        )
    )
    db.add(NotificationPreference(member_id=muted_member, muted_categories=["contributions"]))
    db.commit()

    assert send_due_reminders(db, datetime(2026, 11, 10, 5, tzinfo=UTC), 5) == 0  # too early: due 2026-11-20
    assert send_due_reminders(db, datetime(2026, 11, 17, 5, tzinfo=UTC), 5) == 2
    db.commit()
    assert send_due_reminders(db, datetime(2026, 11, 18, 5, tzinfo=UTC), 5) == 0  # never twice
    assert send_due_reminders(db, datetime(2026, 11, 21, 5, tzinfo=UTC), 5) == 0  # past the due day
    notices = {
        n.member_id: n for n in db.scalars(select(Notification).where(Notification.template == "contribution_due"))
    }
    assert set(notices) == {owing_member, muted_member}
    assert "October 2026" in notices[owing_member].body_en and "20 November 2026" in notices[owing_member].body_en
    assert notices[muted_member].dispatch_status is DispatchStatus.SKIPPED  # muted: inbox only, no push


def test_people_insured_after_the_period_are_not_reminded(app, db):
    newcomer, _ = _person(db, 5, Scheme.VOLUNTARY, "+8562055592005")
    newcomer.created_at = datetime(2026, 11, 3, 3, tzinfo=UTC)  # insured in November: owes nothing for October
    db.commit()
    assert send_due_reminders(db, datetime(2026, 11, 17, 5, tzinfo=UTC), 5) == 0


def test_the_job_commits_batch_by_batch(app, db):
    from lsso_mobile.services import reminders

    for n in range(6, 9):
        person, _ = _person(db, n, Scheme.VOLUNTARY, f"+85620555920{n:02d}")
        person.created_at = datetime(2026, 1, 1, tzinfo=UTC)
    db.commit()
    round_ = reminders.reminder_round(db, datetime(2026, 11, 17, 5, tzinfo=UTC), 5)
    sent, last = reminders.remind_batch(db, round_, datetime(2026, 11, 17, 5, tzinfo=UTC), 0, batch=2)
    assert sent == 2 and last is not None
    sent, last = reminders.remind_batch(db, round_, datetime(2026, 11, 17, 5, tzinfo=UTC), last, batch=2)
    assert sent == 1
