"""The reads and writes that moved out of the routes, called as services: the member's contribution
record paged by (period, id) the way every list pages (ask for limit + 1, pass the last position
back), claims with their history, payments, areas, rules and the health probe."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.jobs import InlineJobQueue
from lsso_mobile.models import (
    BenefitClaim,
    BenefitPayment,
    BenefitType,
    ClaimStatus,
    ClaimStatusChange,
    Contribution,
    ContributionStatus,
    InsuredPerson,
    Office,
    Scheme,
    Sex,
)
from lsso_mobile.services import reference, rules
from lsso_mobile.services.contributions import claims_with_history_of, contributions_of, payments_of
from lsso_mobile.services.health import probe

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)


def make_person(db, number: str) -> InsuredPerson:
    office = db.query(Office).filter(Office.code == "P01").one()
    person = InsuredPerson(
        member_number=number,
        name_lo="ທ້າວ ທົດສອບ",
        name_latin="Test",
        sex=Sex.MALE,
        date_of_birth=date(1970, 6, 1),
        national_id=f"ID-{number}",
        scheme=Scheme.VOLUNTARY,
        office_id=office.id,
        province_code="01",
    )
    db.add(person)
    db.commit()
    return person


def add_month(db, person: InsuredPerson, period: str, updated_at: datetime = NOW) -> None:
    db.add(
        Contribution(
            insured_person_id=person.id,
            period=period,
            scheme=Scheme.VOLUNTARY,
            insurable_earnings=1_300_000,
            employee_share=117_000,
            employer_share=0,
            total=117_000,
            status=ContributionStatus.PAID,
            source_id=f"src-{person.id}-{period}",
            updated_at=updated_at,
        )
    )
    db.commit()


def walk(db, person, year=None, updated_since=None, limit=2) -> list[str]:
    """Every page of the record as the route asks for it: limit + 1 rows, then from the last shown."""
    seen, before = [], None
    for _ in range(20):
        rows = contributions_of(db, person, year, updated_since, before, limit + 1)
        seen += [row.period for row in rows[:limit]]
        if len(rows) <= limit:
            return seen
        before = (rows[limit - 1].period, rows[limit - 1].id)
    raise AssertionError(f"paging does not end: {seen[:12]}...")


def test_contributions_page_newest_first_by_year_and_change_without_gaps_or_repeats(db):
    person, other = make_person(db, "0100000901"), make_person(db, "0100000902")
    periods = ["2024-11", "2024-12", "2025-01", "2025-02", "2025-03"]
    for period in periods:
        add_month(db, person, period, updated_at=datetime(2026, 1, 1, tzinfo=UTC) if period < "2025" else NOW)
    add_month(db, other, "2025-04")
    assert walk(db, person) == sorted(periods, reverse=True)
    assert walk(db, person, limit=1) == sorted(periods, reverse=True)
    assert walk(db, person, year=2024) == ["2024-12", "2024-11"]
    assert walk(db, person, updated_since=datetime(2026, 6, 1, tzinfo=UTC)) == ["2025-03", "2025-02", "2025-01"]
    # a position past another member's rows still only yields this member's
    assert [r.period for r in contributions_of(db, person, None, None, ("2099-01", 2**31 - 1), 10)] == sorted(
        periods, reverse=True
    )


def test_claims_come_newest_first_with_their_history_and_payments_newest_first(db):
    person, other = make_person(db, "0100000903"), make_person(db, "0100000904")
    claims = []
    for who in (person, person, other):
        claim = BenefitClaim(
            insured_person_id=who.id,
            office_id=who.office_id,
            benefit_type=BenefitType.SICKNESS,
            status=ClaimStatus.RECEIVED,
            amount_claimed=500_000,
        )
        db.add(claim)
        db.flush()
        claims.append(claim)
    first, second, theirs = claims
    for status in (ClaimStatus.RECEIVED, ClaimStatus.APPROVED):
        db.add(ClaimStatusChange(claim_id=first.id, status=status, reason=status.value))
    db.add(ClaimStatusChange(claim_id=theirs.id, status=ClaimStatus.RECEIVED))
    paid_dates = [(first, date(2026, 1, 5)), (first, date(2026, 2, 5)), (theirs, date(2026, 3, 5))]
    for n, (claim, paid) in enumerate(paid_dates):
        db.add(
            BenefitPayment(
                claim_id=claim.id, period="2026-01", amount=100_000, paid_date=paid, channel="bank", source_id=f"p{n}"
            )
        )
    db.commit()

    listed = claims_with_history_of(db, person)
    assert [claim.id for claim in listed] == [second.id, first.id]
    assert [change.status for change in listed[1].history] == [ClaimStatus.RECEIVED, ClaimStatus.APPROVED]
    assert listed[0].history == []
    assert [payment.paid_date for payment in payments_of(db, person)] == [date(2026, 2, 5), date(2026, 1, 5)]


def test_areas_and_unknown_areas(db):
    assert len(reference.list_provinces(db)) == 18
    assert [d.code for d in reference.districts_of(db, "01")][0] == "0101"
    assert reference.villages_of(db, "0101")[0].code == "01010001"
    for unknown in ("99", "0", "011"):
        with pytest.raises(NotFound):
            reference.districts_of(db, unknown)
    for unknown in ("9999", "010"):
        with pytest.raises(NotFound):
            reference.villages_of(db, unknown)
    assert {o.code for o in reference.list_offices(db)} >= {"P01"}


def test_rules_are_replaced_in_place_and_unknown_names_are_not_found(db):
    values = {"min_total_months": 4, "min_recent_months": 2, "recent_window_months": 6, "min_age": None}
    before = len(rules.list_eligibility_rules(db))
    rule = rules.put_eligibility_rule(db, "voluntary", "sickness", values, NOW)
    assert (rule.min_total_months, rule.updated_at) == (4, NOW)
    db.commit()
    assert len(rules.list_eligibility_rules(db)) == before
    scheme = rules.put_scheme_rule(db, "voluntary", {"due_day": 15}, NOW)
    db.commit()
    assert scheme.due_day == 15
    assert len(rules.list_scheme_rules(db)) == len(Scheme)
    with pytest.raises(NotFound):
        rules.put_scheme_rule(db, "lottery", {}, NOW)
    with pytest.raises(NotFound):
        rules.put_eligibility_rule(db, "voluntary", "lottery", values, NOW)


def test_health_probe_reports_the_database_and_an_unconfigured_redis(db, tmp_path):
    up = probe(db, InlineJobQueue(), NOW)
    assert (up.database, up.redis, up.oldest_undelivered_seconds, up.healthy) == ("ok", "not_configured", None, True)
    unreachable = create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    with Session(unreachable) as broken:
        down = probe(broken, InlineJobQueue(), NOW)
    assert (down.database, down.oldest_undelivered_seconds, down.healthy) == ("down", None, False)
