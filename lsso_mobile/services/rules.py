"""Contribution and eligibility rules as data: each scheme's rates, earnings limits and due day, and
each benefit's eligibility rule per scheme. Admins read and replace them; readers of the rules
(``services.contributions.rules_for``) cache them for a minute per process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.models import BenefitType, EligibilityRule, Scheme, SchemeRule


def list_scheme_rules(session: Session) -> list[SchemeRule]:
    """Every scheme's rule, by scheme."""
    return list(session.scalars(select(SchemeRule).order_by(SchemeRule.scheme)))


def put_scheme_rule(session: Session, scheme: str, values: dict[str, Any], now: datetime) -> SchemeRule:
    """Create or replace the rule of the scheme named ``scheme`` with ``values`` (column: value);
    NotFound for an unknown scheme. The caller commits, then calls ``forget_cached_rules``."""
    if scheme not in {s.value for s in Scheme}:
        raise NotFound("Unknown scheme.", error="unknown_scheme")
    rule = session.get(SchemeRule, Scheme(scheme)) or SchemeRule(scheme=Scheme(scheme))
    for key, value in values.items():
        setattr(rule, key, value)
    rule.updated_at = now
    session.add(rule)
    return rule


def list_eligibility_rules(session: Session) -> list[EligibilityRule]:
    """Every benefit's eligibility rule, by scheme then benefit."""
    return list(session.scalars(select(EligibilityRule).order_by(EligibilityRule.scheme, EligibilityRule.benefit_type)))


def put_eligibility_rule(
    session: Session, scheme: str, benefit_type: str, values: dict[str, Any], now: datetime
) -> EligibilityRule:
    """Create or replace the eligibility rule of one benefit in one scheme (both named by value) with
    ``values``; NotFound for an unknown scheme or benefit. The caller commits, then calls
    ``forget_cached_rules``."""
    if scheme not in {s.value for s in Scheme} or benefit_type not in {b.value for b in BenefitType}:
        raise NotFound("Unknown scheme or benefit type.", error="unknown_scheme_or_benefit")
    rule = session.scalars(
        select(EligibilityRule).where(
            EligibilityRule.scheme == Scheme(scheme), EligibilityRule.benefit_type == BenefitType(benefit_type)
        )
    ).first() or EligibilityRule(scheme=Scheme(scheme), benefit_type=BenefitType(benefit_type))
    for key, value in values.items():
        setattr(rule, key, value)
    rule.updated_at = now
    session.add(rule)
    return rule
