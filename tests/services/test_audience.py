"""Broadcast audiences: each criterion keeps exactly the members it names, in counts and per member."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from lsso_mobile.models import (
    ApplicationStatus,
    Contribution,
    ContributionStatus,
    InsuredPerson,
    Member,
    Office,
    RegistrationApplication,
    Scheme,
    Sex,
)
from lsso_mobile.services.audience import Audience, audience_size, member_facts, member_matches
from tests.support import make_member_with_devices

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)  # November; October is due on 20 November, so overdue


def _office(db, code):
    return db.scalars(select(Office).where(Office.code == code)).one()


def _member(db, phone, devices, office_code=None, person=None):
    member_id = make_member_with_devices(db, phone, devices)
    member = db.get(Member, member_id)
    member.office_id = _office(db, office_code).id if office_code else None
    member.insured_person_id = person.id if person else None
    db.commit()
    return member_id


def _person(db, n, scheme, province, district=None):
    person = InsuredPerson(
        member_number=f"01000040{n:02d}",
        name_lo="ທ",
        name_latin="T",
        sex=Sex.MALE,
        date_of_birth=date(1985, 5, 5),
        national_id=f"A{n}",
        scheme=scheme,
        office_id=_office(db, f"P{province}").id,
        province_code=province,
        district_code=district,
        created_at=NOW,
    )
    db.add(person)
    db.flush()
    return person


def _contribution(db, person, period, status):
    db.add(
        Contribution(
            insured_person_id=person.id,
            period=period,
            scheme=person.scheme,
            insurable_earnings=1,
            employee_share=1,
            employer_share=0,
            total=1,
            status=status,
            source_id=f"{person.id}-{period}-{status.value}",
            created_at=NOW,
            updated_at=NOW,
        )
    )


def test_each_criterion_selects_exactly_its_members(app, db):
    owes = _person(db, 1, Scheme.VOLUNTARY, "01", "0101")
    _contribution(db, owes, "2026-10", ContributionStatus.UNPAID)
    paid_later = _person(db, 2, Scheme.VOLUNTARY, "16")  # unpaid record, then paid under a second one
    _contribution(db, paid_later, "2026-10", ContributionStatus.UNPAID)
    _contribution(db, paid_later, "2026-10", ContributionStatus.PAID)
    not_due = _person(db, 3, Scheme.COMPULSORY, "01", "0102")  # November is not due until 20 December
    _contribution(db, not_due, "2026-11", ContributionStatus.UNPAID)
    db.commit()

    owing = _member(db, "+8562055593001", ["t-aud-1a", "t-aud-1b"], person=owes)
    settled = _member(db, "+8562055593002", ["t-aud-2"], person=paid_later)
    early = _member(db, "+8562055593003", ["t-aud-3"], person=not_due)
    applicant = _member(db, "+8562055593004", ["t-aud-4"], office_code="P16")
    nowhere = _member(db, "+8562055593005", [])
    db.add(
        RegistrationApplication(
            member_id=applicant,
            office_id=_office(db, "P16").id,
            status=ApplicationStatus.SUBMITTED,
            name_lo="ທ",
            name_latin="T",
            date_of_birth=date(1990, 1, 1),
            sex=Sex.FEMALE,
            national_id="X1",
            province_code="16",
            district_code="1601",
            occupation="farmer",
            scheme=Scheme.VOLUNTARY,
            declared_monthly_income=1,
            consent=True,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    db.commit()
    everyone = {owing, settled, early, applicant, nowhere}

    def matching(audience: Audience) -> set[int]:
        in_sql = {m for m in everyone if member_matches(db, audience, m, NOW)}
        # the inbox's check on one member's facts agrees with the SQL condition
        assert in_sql == {m for m in everyone if audience.matches(member_facts(db, m, NOW))}, audience
        return in_sql

    cases = [
        (Audience(), everyone, 5),
        (Audience(provinces=("01",)), {owing, early}, 3),
        (Audience(provinces=("16",)), {settled, applicant}, 2),  # the applicant by their office
        (Audience(districts=("0102",)), {early}, 1),
        (Audience(provinces=("16",), districts=("0101",)), {settled, applicant, owing}, 4),
        (Audience(schemes=("voluntary",)), {owing, settled}, 3),
        (Audience(in_arrears=True), {owing}, 2),
        (Audience(pending_application=True), {applicant}, 1),
        (Audience(provinces=("01",), schemes=("compulsory",)), {early}, 1),
        (Audience(provinces=("16",), in_arrears=True), set(), 0),
    ]
    for audience, members, devices in cases:
        assert matching(audience) == members, audience
        size = audience_size(db, audience, NOW)
        assert (size.members, size.devices) == (len(members), devices), audience
