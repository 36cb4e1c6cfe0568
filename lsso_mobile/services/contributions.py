"""A member's contribution record: months contributed, arrears, and eligibility per benefit.

Periods are ``YYYY-MM`` in Asia/Vientiane time. A period's contribution is due on the scheme's due
day of the following month. Paid and late-paid months count as contributed; an unpaid month
whose due day has passed is in arrears. Eligibility rules are data (``eligibility_rules``) per
benefit and scheme; every answer says which rule is unmet and by how much.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.models import (
    BenefitClaim,
    BenefitPayment,
    BenefitType,
    ClaimStatus,
    ClaimStatusChange,
    Contribution,
    ContributionStatus,
    EligibilityRule,
    InsuredPerson,
    Member,
    Scheme,
    SchemeRule,
)
from lsso_mobile.notify.preferences import VIENTIANE
from lsso_mobile.services.paging import keyset_page_by

CONTRIBUTED = (ContributionStatus.PAID, ContributionStatus.LATE)


def period_of(moment: datetime) -> str:
    local = moment.astimezone(VIENTIANE)
    return f"{local.year:04d}-{local.month:02d}"


def shift_period(period: str, months: int) -> str:
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def due_date(period: str, due_day: int) -> date:
    following = shift_period(period, 1)
    return date(int(following[:4]), int(following[5:7]), min(due_day, 28))


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class UnmetRule:
    rule: str  # "min_total_months" | "min_recent_months" | "min_age"
    required: int
    actual: int

    @property
    def missing(self) -> int:
        return self.required - self.actual


@dataclass(frozen=True)
class Eligibility:
    benefit_type: BenefitType
    eligible: bool
    unmet: list[UnmetRule] = field(default_factory=list)


@dataclass(frozen=True)
class Arrear:
    period: str
    amount: int
    due_date: date


@dataclass(frozen=True)
class ContributionSummary:
    member_number: str
    scheme: str
    current_period: str
    current_period_paid: bool
    total_months: int
    last_paid_period: str | None
    arrears: list[Arrear]
    arrears_total: int
    eligibility: list[Eligibility]


def evaluate_eligibility(
    rule: EligibilityRule | EligibilityRuleView, contributed: set[str], current_period: str, age: int
) -> Eligibility:
    """One benefit's answer from the months contributed (as ``YYYY-MM``), the current period and age."""
    unmet = []
    if len(contributed) < rule.min_total_months:
        unmet.append(UnmetRule("min_total_months", rule.min_total_months, len(contributed)))
    if rule.min_recent_months and rule.recent_window_months:
        window = {shift_period(current_period, -k) for k in range(1, rule.recent_window_months + 1)}
        recent = len(contributed & window)
        if recent < rule.min_recent_months:
            unmet.append(UnmetRule("min_recent_months", rule.min_recent_months, recent))
    if rule.min_age is not None and age < rule.min_age:
        unmet.append(UnmetRule("min_age", rule.min_age, age))
    return Eligibility(rule.benefit_type, not unmet, unmet)


def insured_person_of(session: Session, member_id: int) -> InsuredPerson:
    person = session.scalars(
        select(InsuredPerson).join(Member, Member.insured_person_id == InsuredPerson.id).where(Member.id == member_id)
    ).first()
    if person is None:
        raise NotFound("Your app account is not linked to an LSSO member number yet.", error="not_linked")
    return person


@dataclass(frozen=True)
class SchemeRules:
    due_day: int
    eligibility: tuple[EligibilityRuleView, ...]


@dataclass(frozen=True)
class EligibilityRuleView:
    benefit_type: BenefitType
    min_total_months: int
    min_recent_months: int
    recent_window_months: int
    min_age: int | None


RULES_TTL_SECONDS = 60.0
_rules_cache: dict[tuple[str, str], tuple[float, SchemeRules]] = {}


def rules_for(session: Session, scheme: Scheme) -> SchemeRules:
    """The scheme's due day and eligibility rules, read at most once a minute per process: rules are
    data the office changes rarely, and every summary needs them."""
    key = (str(session.get_bind().engine.url), scheme.value)
    cached = _rules_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < RULES_TTL_SECONDS:
        return cached[1]
    rule = session.get(SchemeRule, scheme)
    views = tuple(
        EligibilityRuleView(r.benefit_type, r.min_total_months, r.min_recent_months, r.recent_window_months, r.min_age)
        for r in session.scalars(
            select(EligibilityRule).where(EligibilityRule.scheme == scheme).order_by(EligibilityRule.benefit_type)
        )
    )
    rules = SchemeRules(rule.due_day if rule else 20, views)
    _rules_cache[key] = (time.monotonic(), rules)
    return rules


def forget_cached_rules() -> None:
    _rules_cache.clear()


def summarise(session: Session, person: InsuredPerson, now: datetime) -> ContributionSummary:
    current = period_of(now)
    today = now.astimezone(VIENTIANE).date()
    rows = session.execute(
        select(Contribution.period, Contribution.status, Contribution.total).where(
            Contribution.insured_person_id == person.id
        )
    ).all()
    contributed = {period for period, status, _ in rows if status in CONTRIBUTED}
    rules = rules_for(session, person.scheme)
    arrears = sorted(
        (
            Arrear(period, total, due_date(period, rules.due_day))
            for period, status, total in rows
            if status is ContributionStatus.UNPAID
            and period not in contributed
            and due_date(period, rules.due_day) < today
        ),
        key=lambda arrear: arrear.period,
    )
    age = age_on(person.date_of_birth, today)
    return ContributionSummary(
        member_number=person.member_number,
        scheme=person.scheme.value,
        current_period=current,
        current_period_paid=current in contributed,
        total_months=len(contributed),
        last_paid_period=max(contributed) if contributed else None,
        arrears=arrears,
        arrears_total=sum(a.amount for a in arrears),
        eligibility=[evaluate_eligibility(r, contributed, current, age) for r in rules.eligibility],
    )


@dataclass(frozen=True)
class AnnualStatement:
    member_number: str
    name_lo: str
    name_latin: str
    year: int
    months_contributed: int
    employee_share: int
    employer_share: int
    total: int
    unpaid_months: list[str]
    months: list[Contribution]


def annual_statement(session: Session, person: InsuredPerson, year: int) -> AnnualStatement:
    """One year of the record with its totals (paid and late-paid months only count towards them)."""
    months = list(
        session.scalars(
            select(Contribution)
            .where(Contribution.insured_person_id == person.id, Contribution.period.like(f"{year:04d}-%"))
            .order_by(Contribution.period, Contribution.id)
        )
    )
    counted = [m for m in months if m.status in CONTRIBUTED]
    return AnnualStatement(
        member_number=person.member_number,
        name_lo=person.name_lo,
        name_latin=person.name_latin,
        year=year,
        months_contributed=len({m.period for m in counted}),
        employee_share=sum(m.employee_share for m in counted),
        employer_share=sum(m.employer_share for m in counted),
        total=sum(m.total for m in counted),
        unpaid_months=sorted({m.period for m in months if m.status is ContributionStatus.UNPAID}),
        months=months,
    )


def contributions_of(
    session: Session,
    person: InsuredPerson,
    year: int | None,
    updated_since: datetime | None,
    before: tuple[str, int] | None,
    limit: int,
) -> list[Contribution]:
    """Up to ``limit`` months of the record, newest month first (by period, then id), after the
    position ``before`` (period, id) of a previous page; only ``year``'s months, only rows changed
    after ``updated_since``, when given. Callers page by asking for one row more than they show."""
    query = select(Contribution).where(Contribution.insured_person_id == person.id)
    if year is not None:
        query = query.where(Contribution.period.like(f"{year:04d}-%"))
    if updated_since is not None:
        query = query.where(Contribution.updated_at > updated_since)
    page = keyset_page_by(query, Contribution.period, Contribution.id, before, limit, newest_first=True)
    return list(session.scalars(page))


MAX_CLAIMS_LISTED = 200
MAX_PAYMENTS_LISTED = 500


@dataclass(frozen=True)
class ClaimWithHistory:
    """A member's benefit claim and its status changes, oldest change first."""

    id: int
    benefit_type: BenefitType
    status: ClaimStatus
    amount_claimed: int | None
    amount_approved: int | None
    created_at: datetime
    updated_at: datetime
    history: list[ClaimStatusChange]


def claims_with_history_of(session: Session, person: InsuredPerson) -> list[ClaimWithHistory]:
    """The person's latest benefit claims (at most MAX_CLAIMS_LISTED), newest first, each with its history."""
    claims = session.scalars(
        select(BenefitClaim)
        .where(BenefitClaim.insured_person_id == person.id)
        .order_by(BenefitClaim.id.desc())
        .limit(MAX_CLAIMS_LISTED)
    ).all()
    history: dict[int, list[ClaimStatusChange]] = {claim.id: [] for claim in claims}
    for change in session.scalars(
        select(ClaimStatusChange).where(ClaimStatusChange.claim_id.in_(history)).order_by(ClaimStatusChange.id)
    ):
        history[change.claim_id].append(change)
    return [
        ClaimWithHistory(
            id=claim.id,
            benefit_type=claim.benefit_type,
            status=claim.status,
            amount_claimed=claim.amount_claimed,
            amount_approved=claim.amount_approved,
            created_at=claim.created_at,
            updated_at=claim.updated_at,
            history=history[claim.id],
        )
        for claim in claims
    ]


def payments_of(session: Session, person: InsuredPerson) -> list[BenefitPayment]:
    """Benefit payments made to the person (at most MAX_PAYMENTS_LISTED), newest first."""
    return list(
        session.scalars(
            select(BenefitPayment)
            .join(BenefitClaim, BenefitClaim.id == BenefitPayment.claim_id)
            .where(BenefitClaim.insured_person_id == person.id)
            .order_by(BenefitPayment.paid_date.desc(), BenefitPayment.id.desc())
            .limit(MAX_PAYMENTS_LISTED)
        )
    )
