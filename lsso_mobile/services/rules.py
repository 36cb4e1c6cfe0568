"""Contribution and eligibility rules as data: each scheme's rates, earnings limits and due day, and
each benefit's eligibility rule per scheme. Admins read and replace them; readers of the rules
(``services.contributions.rules_for``) cache them for a minute per process.

Every change keeps a ``RuleChange`` row (the values before and after, who, when) and an audit event, in the
same unit of work: the history admins read in the console and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import InvalidInput, NotFound
from lsso_mobile.models import BenefitType, EligibilityRule, RuleChange, Scheme, SchemeRule
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.paging import keyset_page

MAX_KIP = 1_000_000_000
SCHEME_FIELDS = ("employee_rate_bp", "employer_rate_bp", "earnings_floor", "earnings_ceiling", "due_day")
ELIGIBILITY_FIELDS = ("min_total_months", "min_recent_months", "recent_window_months", "min_age")
BOUNDS = {
    "employee_rate_bp": (0, 10_000),
    "employer_rate_bp": (0, 10_000),
    "earnings_floor": (0, MAX_KIP),
    "earnings_ceiling": (0, MAX_KIP),
    "due_day": (1, 28),
    "min_total_months": (0, 1200),
    "min_recent_months": (0, 600),
    "recent_window_months": (0, 600),
    "min_age": (0, 120),
}


def _check_values(values: dict[str, Any], fields: tuple[str, ...]) -> None:
    """The bounds of each value and the rules between them, whoever sends them (API or console)."""
    errors: dict[str, list[str]] = {}
    for name in fields:
        value = values.get(name)
        if value is None and name == "min_age":
            continue
        low, high = BOUNDS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors[name] = ["Enter a whole number within the allowed range."]
    if (
        not errors
        and {"earnings_floor", "earnings_ceiling"} <= set(fields)
        and values["earnings_floor"] > values["earnings_ceiling"]
    ):
        errors["earnings_floor"] = ["The floor must not exceed the ceiling."]
    if (
        not errors
        and {"min_recent_months", "recent_window_months"} <= set(fields)
        and values["min_recent_months"] > values["recent_window_months"]
    ):
        errors["min_recent_months"] = ["The recent months must fit in the window."]
    if errors:
        raise InvalidInput("Some values are not valid.", error="rule_invalid", errors=errors)


def _snapshot(rule: SchemeRule | EligibilityRule, fields: tuple[str, ...]) -> dict[str, Any] | None:
    if getattr(rule, fields[0], None) is None:
        return None  # a new rule
    return {name: getattr(rule, name) for name in fields}


def _record_change(
    session: Session,
    kind: str,
    scheme: str,
    benefit_type: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    actor: Principal | None,
    address: str | None,
    now: datetime,
) -> RuleChange | None:
    if before == after:
        return None
    change = RuleChange(
        created_at=now,
        actor_staff_id=actor.id if actor is not None and actor.kind == "staff" else None,
        rule_kind=kind,
        scheme=scheme,
        benefit_type=benefit_type,
        before=before,
        after=after,
    )
    session.add(change)
    session.flush()
    changed = {k: v for k, v in after.items() if before is None or before.get(k) != v}
    record_audit(
        session,
        actor,
        f"rule.{kind}",
        "rule_change",
        change.id,
        details={"scheme": scheme, "benefit_type": benefit_type, **changed},
        address=address,
        now=now,
    )
    return change


def list_scheme_rules(session: Session) -> list[SchemeRule]:
    """Every scheme's rule, by scheme."""
    return list(session.scalars(select(SchemeRule).order_by(SchemeRule.scheme)))


def put_scheme_rule(
    session: Session,
    scheme: str,
    values: dict[str, Any],
    now: datetime,
    *,
    actor: Principal | None = None,
    address: str | None = None,
) -> SchemeRule:
    """Create or replace the rule of the scheme named ``scheme`` with ``values`` (column: value);
    NotFound for an unknown scheme. The change is kept in the history with its author. The caller commits,
    then calls ``forget_cached_rules``."""
    if scheme not in {s.value for s in Scheme}:
        raise NotFound("Unknown scheme.", error="unknown_scheme")
    rule = session.get(SchemeRule, Scheme(scheme), with_for_update=True) or SchemeRule(scheme=Scheme(scheme))
    before = _snapshot(rule, SCHEME_FIELDS)
    merged = {**(before or {}), **values}
    _check_values(merged, tuple(k for k in SCHEME_FIELDS if k in merged) if before is None else SCHEME_FIELDS)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.updated_at = now
    session.add(rule)
    _record_change(session, "scheme", scheme, None, before, _snapshot(rule, SCHEME_FIELDS) or {}, actor, address, now)
    return rule


def list_eligibility_rules(session: Session) -> list[EligibilityRule]:
    """Every benefit's eligibility rule, by scheme then benefit."""
    return list(session.scalars(select(EligibilityRule).order_by(EligibilityRule.scheme, EligibilityRule.benefit_type)))


def put_eligibility_rule(
    session: Session,
    scheme: str,
    benefit_type: str,
    values: dict[str, Any],
    now: datetime,
    *,
    actor: Principal | None = None,
    address: str | None = None,
) -> EligibilityRule:
    """Create or replace the eligibility rule of one benefit in one scheme (both named by value) with
    ``values``; NotFound for an unknown scheme or benefit. The caller commits, then calls
    ``forget_cached_rules``."""
    if scheme not in {s.value for s in Scheme} or benefit_type not in {b.value for b in BenefitType}:
        raise NotFound("Unknown scheme or benefit type.", error="unknown_scheme_or_benefit")
    rule = session.scalars(
        select(EligibilityRule)
        .where(EligibilityRule.scheme == Scheme(scheme), EligibilityRule.benefit_type == BenefitType(benefit_type))
        .with_for_update()
    ).first() or EligibilityRule(scheme=Scheme(scheme), benefit_type=BenefitType(benefit_type))
    before = _snapshot(rule, ELIGIBILITY_FIELDS)
    merged = {"min_total_months": 0, "min_recent_months": 0, "recent_window_months": 0, **(before or {}), **values}
    _check_values(merged, ELIGIBILITY_FIELDS)
    for key, value in values.items():
        setattr(rule, key, value)
    rule.updated_at = now
    session.add(rule)
    after = {name: merged[name] for name in ELIGIBILITY_FIELDS if name in merged}
    _record_change(session, "eligibility", scheme, benefit_type, before, after, actor, address, now)
    return rule


def eligibility_rule(session: Session, scheme: str, benefit_type: str) -> EligibilityRule | None:
    if scheme not in {s.value for s in Scheme} or benefit_type not in {b.value for b in BenefitType}:
        raise NotFound("Unknown scheme or benefit type.", error="unknown_scheme_or_benefit")
    return session.scalars(
        select(EligibilityRule).where(
            EligibilityRule.scheme == Scheme(scheme), EligibilityRule.benefit_type == BenefitType(benefit_type)
        )
    ).first()


def scheme_rule(session: Session, scheme: str) -> SchemeRule | None:
    if scheme not in {s.value for s in Scheme}:
        raise NotFound("Unknown scheme.", error="unknown_scheme")
    return session.get(SchemeRule, Scheme(scheme))


def rule_history(
    session: Session, kind: str | None, scheme: str | None, benefit_type: str | None, after: int | None, limit: int
) -> list[RuleChange]:
    """Changes of the rules, newest first; narrowed to one kind, scheme or benefit if given."""
    statement = select(RuleChange)
    if kind:
        statement = statement.where(RuleChange.rule_kind == kind)
    if scheme:
        statement = statement.where(RuleChange.scheme == scheme)
    if benefit_type:
        statement = statement.where(RuleChange.benefit_type == benefit_type)
    return list(session.scalars(keyset_page(statement, RuleChange.id, after, limit, newest_first=True)))
