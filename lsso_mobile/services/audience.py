"""Who a broadcast is for: a filter over members, evaluated in SQL.

The same conditions serve the audience preview (counts at national scale), the send (one range of
device ids at a time) and the inbox (does this one member match?), so the three can never disagree.

A member's area is their insured person's province and district once registered, else their
office's. Within the area, provinces and districts are alternatives; the other criteria narrow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, text, true
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select

from lsso_mobile.models import (
    ApplicationStatus,
    Contribution,
    ContributionStatus,
    Device,
    InsuredPerson,
    Member,
    Office,
    RegistrationApplication,
    Scheme,
)
from lsso_mobile.services.contributions import (
    CONTRIBUTED,
    VIENTIANE,
    due_date,
    period_of,
    rules_for,
    shift_period,
)

PENDING_APPLICATION = (ApplicationStatus.SUBMITTED, ApplicationStatus.MORE_INFO_NEEDED)

AnySelect = TypeVar("AnySelect", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Audience:
    provinces: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()
    in_arrears: bool = False
    pending_application: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Audience:
        data = data or {}
        return cls(
            provinces=tuple(sorted(set(data.get("provinces") or ()))),
            districts=tuple(sorted(set(data.get("districts") or ()))),
            schemes=tuple(sorted(set(data.get("schemes") or ()))),
            in_arrears=bool(data.get("in_arrears")),
            pending_application=bool(data.get("pending_application")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "provinces": list(self.provinces),
            "districts": list(self.districts),
            "schemes": list(self.schemes),
            "in_arrears": self.in_arrears,
            "pending_application": self.pending_application,
        }

    @property
    def everyone(self) -> bool:
        return self == Audience()

    def matches(self, member: MemberFacts) -> bool:
        """The same test as ``audience_condition``, on one member's facts (the inbox checks many broadcasts)."""
        if (self.provinces or self.districts) and not (
            member.province in self.provinces or member.district in self.districts
        ):
            return False
        if self.schemes and member.scheme not in self.schemes:
            return False
        if self.in_arrears and not member.in_arrears():
            return False
        return not self.pending_application or member.pending_application()


@dataclass
class MemberFacts:
    """What audiences look at, for one member; the two that need a query are asked only when needed."""

    member_id: int
    province: str | None
    district: str | None
    scheme: str | None
    _session: Session
    _now: datetime
    _answers: dict[str, bool] = field(default_factory=dict)

    def _ask(self, name: str, audience: Audience) -> bool:
        if name not in self._answers:  # the SQL condition itself, so both ways agree
            self._answers[name] = member_matches(self._session, audience, self.member_id, self._now)
        return self._answers[name]

    def in_arrears(self) -> bool:
        return self.scheme is not None and self._ask("in_arrears", Audience(in_arrears=True))

    def pending_application(self) -> bool:
        return self._ask("pending_application", Audience(pending_application=True))


def member_facts(session: Session, member_id: int, now: datetime) -> MemberFacts:
    row = session.execute(
        with_member_area(
            select(
                province_of_member(),
                func.coalesce(InsuredPerson.district_code, Office.district_code),
                InsuredPerson.scheme,
            ).select_from(Member)
        ).where(Member.id == member_id)
    ).one()
    province, district, scheme = row
    return MemberFacts(member_id, province, district, scheme.value if scheme is not None else None, session, now)


def province_of_member() -> ColumnElement[str]:
    """The member's province (needs ``with_member_area``'s joins)."""
    return func.coalesce(InsuredPerson.province_code, Office.province_code)


def with_member_area(query: AnySelect) -> AnySelect:
    """Outer-join what a member's area comes from onto a query that has ``members`` (for counting by province)."""
    return query.outerjoin(InsuredPerson, InsuredPerson.id == Member.insured_person_id).outerjoin(
        Office, Office.id == Member.office_id
    )


def latest_overdue_period(session: Session, scheme: Scheme, now: datetime) -> str:
    """The newest period whose payment date has passed for this scheme (Vientiane time)."""
    current = period_of(now)
    due_day = rules_for(session, scheme).due_day
    today = now.astimezone(VIENTIANE).date()
    return current if due_date(current, due_day) < today else shift_period(current, -1)


def _in_arrears(session: Session, now: datetime) -> ColumnElement[bool]:
    """An unpaid month whose payment date has passed, not paid under another record (as the summary counts)."""
    paid = aliased(Contribution)
    unpaid = Contribution
    overdue_by_scheme = or_(
        *(
            and_(InsuredPerson.scheme == scheme, unpaid.period <= latest_overdue_period(session, scheme, now))
            for scheme in Scheme
        )
    )
    return Member.insured_person_id.in_(
        select(unpaid.insured_person_id)
        .join(InsuredPerson, InsuredPerson.id == unpaid.insured_person_id)
        .where(
            unpaid.status == ContributionStatus.UNPAID,
            overdue_by_scheme,
            ~exists(
                select(paid.id).where(
                    paid.insured_person_id == unpaid.insured_person_id,
                    paid.period == unpaid.period,
                    paid.status.in_(CONTRIBUTED),
                )
            ),
        )
    )


def audience_condition(session: Session, audience: Audience, now: datetime) -> ColumnElement[bool]:
    """A condition over ``members`` alone that keeps exactly the audience.

    Each criterion is a set of ids (``IN (SELECT ...)``), which the database hashes once and checks
    per member: no join, so counting a national audience is one pass over members.
    """
    conditions: list[ColumnElement[bool]] = []
    person_area, office_area = [], []
    if audience.provinces:
        person_area.append(InsuredPerson.province_code.in_(audience.provinces))
        office_area.append(Office.province_code.in_(audience.provinces))
    if audience.districts:
        person_area.append(InsuredPerson.district_code.in_(audience.districts))
        office_area.append(Office.district_code.in_(audience.districts))
    if person_area:
        conditions.append(
            or_(
                Member.insured_person_id.in_(select(InsuredPerson.id).where(or_(*person_area))),
                and_(
                    Member.insured_person_id.is_(None), Member.office_id.in_(select(Office.id).where(or_(*office_area)))
                ),
            )
        )
    if audience.schemes:
        conditions.append(
            Member.insured_person_id.in_(
                select(InsuredPerson.id).where(InsuredPerson.scheme.in_([Scheme(s) for s in audience.schemes]))
            )
        )
    if audience.in_arrears:
        conditions.append(_in_arrears(session, now))
    if audience.pending_application:
        conditions.append(
            Member.id.in_(
                select(RegistrationApplication.member_id).where(RegistrationApplication.status.in_(PENDING_APPLICATION))
            )
        )
    return and_(true(), *conditions)


@dataclass(frozen=True)
class AudienceSize:
    members: int
    devices: int


def audience_size(session: Session, audience: Audience, now: datetime) -> AudienceSize:
    """Members, and their active devices, that a broadcast to ``audience`` would reach now."""
    if audience.everyone:
        members = session.scalar(select(func.count()).select_from(Member)) or 0
        devices = session.scalar(select(func.count()).select_from(Device).where(Device.active.is_(True))) or 0
        return AudienceSize(members, devices)
    condition = audience_condition(session, audience, now)
    if session.get_bind().dialect.name == "postgresql":
        # The device count hashes the audience's member ids: in memory, not in batches spilled to disk.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    members = session.scalar(select(func.count()).select_from(Member).where(condition)) or 0
    devices = (
        session.scalar(
            select(func.count())
            .select_from(Device)
            .join(Member, Member.id == Device.member_id)
            .where(Device.active.is_(True), condition)
        )
        or 0
    )
    return AudienceSize(members, devices)


def member_matches(session: Session, audience: Audience, member_id: int, now: datetime) -> bool:
    if audience.everyone:
        return True
    query = select(Member.id).where(Member.id == member_id, audience_condition(session, audience, now))
    return session.scalar(query.limit(1)) is not None
