"""Arrears and eligibility on hand-worked examples, against the seeded example rules:
sickness needs 3 months in total and 3 of the last 6; old-age pension 180 months and age 60;
voluntary members have no employment-injury benefit. Today is 2026-11-22 in Vientiane; a period's
contribution is due on the 20th of the following month."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lsso_mobile.models import Contribution, ContributionStatus, InsuredPerson, Office, Scheme, Sex
from lsso_mobile.services.contributions import forget_cached_rules, shift_period, summarise

NOW = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)  # 12:00 in Vientiane


@pytest.fixture
def person(db):
    office = db.query(Office).filter(Office.code == "P01").one()
    person = InsuredPerson(
        member_number="0100000999",
        name_lo="ທ້າວ ທົດສອບ",
        name_latin="Test",
        sex=Sex.MALE,
        date_of_birth=date(1970, 6, 1),
        national_id="ID-1",
        scheme=Scheme.VOLUNTARY,
        office_id=office.id,
        province_code="01",
    )
    db.add(person)
    db.commit()
    return person


def add(db, person, period, status=ContributionStatus.PAID, total=117_000, scheme=Scheme.VOLUNTARY):
    db.add(
        Contribution(
            insured_person_id=person.id,
            period=period,
            scheme=scheme,
            insurable_earnings=1_300_000,
            employee_share=total,
            employer_share=0,
            total=total,
            status=status,
            source_id=f"src-{person.id}-{period}",
        )
    )
    db.commit()


def eligibility(summary, benefit):
    return next(e for e in summary.eligibility if e.benefit_type.value == benefit)


def test_periods():
    assert shift_period("2026-01", -1) == "2025-12"
    assert shift_period("2025-12", 1) == "2026-01"
    assert shift_period("2026-11", -6) == "2026-05"


def test_three_recent_months_at_the_edge_of_the_window(db, person):
    for period in ("2026-05", "2026-06", "2026-07"):  # the window is 2026-05 .. 2026-10
        add(db, person, period)
    sickness = eligibility(summarise(db, person, NOW), "sickness")
    assert sickness.eligible and sickness.unmet == []


def test_one_month_outside_the_window(db, person):
    for period in ("2026-04", "2026-05", "2026-06"):  # 2026-04 has just left the window
        add(db, person, period)
    sickness = eligibility(summarise(db, person, NOW), "sickness")
    assert not sickness.eligible
    [unmet] = sickness.unmet
    assert (unmet.rule, unmet.required, unmet.actual, unmet.missing) == ("min_recent_months", 3, 2, 1)


def test_a_gap_and_late_payments(db, person):
    for month in (1, 2, 3, 4, 5, 6, 9, 10, 11, 12):  # July and August missing
        add(
            db,
            person,
            f"2025-{month:02d}",
            status=ContributionStatus.LATE if month in (3, 10) else ContributionStatus.PAID,
        )
    summary = summarise(db, person, NOW)
    assert summary.total_months == 10  # late months count; the gap does not
    assert summary.last_paid_period == "2025-12"
    funeral = eligibility(summary, "funeral")
    assert not funeral.eligible and funeral.unmet[0].missing == 2  # 12 months needed
    assert not eligibility(summary, "sickness").eligible  # nothing in 2026-05 .. 2026-10


def test_arrears_only_after_the_due_day(db, person):
    add(db, person, "2026-09", status=ContributionStatus.UNPAID, total=117_000)  # due 2026-10-20: owed
    add(db, person, "2026-10", status=ContributionStatus.UNPAID, total=120_000)  # due 2026-11-20: owed
    add(db, person, "2026-11", status=ContributionStatus.UNPAID, total=120_000)  # due 2026-12-20: not yet
    summary = summarise(db, person, NOW)
    assert [(a.period, a.amount) for a in summary.arrears] == [("2026-09", 117_000), ("2026-10", 120_000)]
    assert summary.arrears_total == 237_000
    assert summary.current_period == "2026-11" and not summary.current_period_paid
    assert summary.total_months == 0


def test_a_scheme_change_keeps_earlier_months_and_uses_the_current_schemes_rules(db, person):
    for month in range(1, 13):
        add(db, person, f"2024-{month:02d}", scheme=Scheme.COMPULSORY)  # employed in 2024
    for month in range(1, 7):
        add(db, person, f"2025-{month:02d}")  # self-employed since
    summary = summarise(db, person, NOW)
    assert summary.total_months == 18 and summary.scheme == "voluntary"
    benefits = {e.benefit_type.value for e in summary.eligibility}
    assert "employment_injury" not in benefits and "funeral" in benefits
    assert eligibility(summary, "funeral").eligible


def test_age_is_a_rule_with_a_distance(db, person):
    pension = eligibility(summarise(db, person, NOW), "old_age_pension")
    assert {(u.rule, u.required, u.actual, u.missing) for u in pension.unmet} == {
        ("min_total_months", 180, 0, 180),
        ("min_age", 60, 56, 4),
    }


def test_rules_are_data_the_office_can_change(db, person):
    from lsso_mobile.models import EligibilityRule

    add(db, person, "2026-10")
    rule = db.query(EligibilityRule).filter_by(benefit_type="sickness", scheme="voluntary").one()
    shipped = (rule.min_total_months, rule.min_recent_months)
    rule.min_total_months, rule.min_recent_months = 1, 1
    db.commit()
    forget_cached_rules()  # a process re-reads rules within a minute; a test does not wait
    try:
        assert eligibility(summarise(db, person, NOW), "sickness").eligible
    finally:
        rule.min_total_months, rule.min_recent_months = shipped
        db.commit()
        forget_cached_rules()


def test_a_month_paid_under_a_second_record_is_not_in_arrears(db, person):
    db.add(
        Contribution(
            insured_person_id=person.id,
            period="2026-08",
            scheme=Scheme.VOLUNTARY,
            insurable_earnings=1_300_000,
            employee_share=117_000,
            employer_share=0,
            total=117_000,
            status=ContributionStatus.UNPAID,
            source_id="aug-expected",
        )
    )
    db.commit()
    add(db, person, "2026-08", status=ContributionStatus.LATE)  # the payment came as a new record
    summary = summarise(db, person, NOW)
    assert summary.arrears == [] and summary.total_months == 1
