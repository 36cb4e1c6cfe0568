"""Staff look members up within their office, and see one member whole: who they are, their registration,
contributions, claims, conversations, devices and recent notices. Used by the console and the staff API.

A member belongs to the office on their account (set when they apply or are enrolled); officers see their
own office only, admins every office. Another office's member is as invisible as a missing one.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lsso_mobile.errors import InvalidInput, NotFound
from lsso_mobile.models import (
    ApplicationStatus,
    BenefitClaim,
    ClaimStatusChange,
    Conversation,
    Device,
    InsuredPerson,
    Member,
    Notification,
    Office,
    RegistrationApplication,
)
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.contributions import ContributionSummary, summarise
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.services.phones import normalise_lao_mobile

MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 100
RECENT_ROWS = 20  # conversations, claims, notices shown on a member page
OPEN_APPLICATION_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.MORE_INFO_NEEDED)


@dataclass(frozen=True)
class MemberCard:
    """Who a member is, in one line: what an officer needs beside a conversation or an application."""

    id: int
    phone: str
    language: str
    office_id: int | None
    office_code: str | None
    office_name_lo: str | None
    office_name_en: str | None
    member_number: str | None
    name_lo: str | None
    name_latin: str | None
    national_id: str | None


@dataclass(frozen=True)
class MemberDetail:
    card: MemberCard
    person: InsuredPerson | None
    applications: list[RegistrationApplication]
    contributions: ContributionSummary | None
    claims: list[BenefitClaim]
    claim_changes: dict[int, list[ClaimStatusChange]]
    conversations: list[Conversation]
    devices: list[Device]
    notices: list[Notification]


def _office_filter(staff: Principal) -> Any:
    return True if staff.role == "admin" else Member.office_id == staff.office_id


def _squash(value: str) -> str:
    """Lower case without spaces, hyphens or dots: how names, IDs and numbers are compared."""
    return re.sub(r"[\s\-.]+", "", value).lower()


def _squashed(column: Any) -> Any:
    expression = func.lower(column)
    for character in (" ", "-", "."):
        expression = func.replace(expression, character, "")
    return expression


def _latest_applications(member_ids: list[int], session: Session) -> dict[int, RegistrationApplication]:
    if not member_ids:
        return {}
    rows = session.scalars(
        select(RegistrationApplication)
        .where(RegistrationApplication.member_id.in_(member_ids))
        .order_by(RegistrationApplication.id)
    )
    return {  # the last one wins
        application.member_id: application for application in rows if application.member_id is not None
    }


def _cards(session: Session, members: list[Member]) -> list[MemberCard]:
    person_ids = [m.insured_person_id for m in members if m.insured_person_id is not None]
    persons = (
        {p.id: p for p in session.scalars(select(InsuredPerson).where(InsuredPerson.id.in_(person_ids)))}
        if person_ids
        else {}
    )
    office_ids = {m.office_id for m in members if m.office_id is not None}
    offices = {o.id: o for o in session.scalars(select(Office).where(Office.id.in_(office_ids)))} if office_ids else {}
    applications = _latest_applications([m.id for m in members if m.insured_person_id is None], session)
    cards = []
    for member in members:
        source: Any = persons.get(member.insured_person_id or 0) or applications.get(member.id)
        office = offices.get(member.office_id or 0)
        cards.append(
            MemberCard(
                id=member.id,
                phone=member.phone,
                language=member.language.value,
                office_id=member.office_id,
                office_code=office.code if office else None,
                office_name_lo=office.name_lo if office else None,
                office_name_en=office.name_en if office else None,
                member_number=getattr(source, "member_number", None),
                name_lo=source.name_lo if source is not None else None,
                name_latin=source.name_latin if source is not None else None,
                national_id=source.national_id if source is not None else None,
            )
        )
    return cards


def member_cards(session: Session, member_ids: list[int]) -> dict[int, MemberCard]:
    """Cards of the given members (callers have already checked the office, e.g. of a conversation)."""
    if not member_ids:
        return {}
    members = list(session.scalars(select(Member).where(Member.id.in_(set(member_ids)))))
    return {card.id: card for card in _cards(session, members)}


def search_members(
    session: Session, staff: Principal, query: str, after_id: int | None, limit: int
) -> list[MemberCard]:
    """Members of the office matching a phone number, member number, national ID or name (Lao or Latin;
    case, spaces and hyphens do not matter), by id."""
    text = " ".join(query.split())
    if len(text) < MIN_QUERY_CHARS or len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            "Type {min} to {max} characters to search.",
            error="query_length",
            params={"min": MIN_QUERY_CHARS, "max": MAX_QUERY_CHARS},
            errors={"q": [f"Length must be between {MIN_QUERY_CHARS} and {MAX_QUERY_CHARS}."]},
        )
    squashed = _squash(text)
    escaped = squashed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    conditions: list[Any] = []
    with contextlib.suppress(InvalidInput):  # not a phone number: the other fields may still match
        conditions.append(Member.phone == normalise_lao_mobile(text))
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 6:  # the local part of a phone number, typed without the country code
        conditions.append(Member.phone.like(f"%{digits}"))

    def matches(model: Any) -> list[Any]:
        return [
            _squashed(model.national_id) == squashed,
            _squashed(model.name_lo).like(pattern, escape="\\"),
            _squashed(model.name_latin).like(pattern, escape="\\"),
        ]

    person_ids = select(InsuredPerson.id).where(
        or_(func.lower(InsuredPerson.member_number) == squashed, *matches(InsuredPerson))
    )
    applicants = select(RegistrationApplication.member_id).where(or_(*matches(RegistrationApplication)))
    conditions += [Member.insured_person_id.in_(person_ids), Member.id.in_(applicants)]
    statement = select(Member).where(_office_filter(staff), or_(*conditions))
    members = list(session.scalars(keyset_page(statement, Member.id, after_id, limit)))
    return _cards(session, members)


def member_for_staff(session: Session, staff: Principal, member_id: int) -> Member:
    member = session.scalars(select(Member).where(Member.id == member_id, _office_filter(staff))).first()
    if member is None:
        raise NotFound("No such member in your office.", error="member_not_found")
    return member


def member_detail(session: Session, staff: Principal, member_id: int, now: datetime) -> MemberDetail:
    member = member_for_staff(session, staff, member_id)
    person = session.get(InsuredPerson, member.insured_person_id) if member.insured_person_id else None
    applications = list(
        session.scalars(
            select(RegistrationApplication)
            .where(RegistrationApplication.member_id == member.id)
            .order_by(RegistrationApplication.id.desc())
        )
    )
    claims: list[BenefitClaim] = []
    changes: dict[int, list[ClaimStatusChange]] = {}
    if person is not None:
        claims = list(
            session.scalars(
                select(BenefitClaim)
                .where(BenefitClaim.insured_person_id == person.id)
                .order_by(BenefitClaim.id.desc())
                .limit(RECENT_ROWS)
            )
        )
        if claims:
            for change in session.scalars(
                select(ClaimStatusChange)
                .where(ClaimStatusChange.claim_id.in_([c.id for c in claims]))
                .order_by(ClaimStatusChange.id)
            ):
                changes.setdefault(change.claim_id, []).append(change)
    conversations = list(
        session.scalars(
            select(Conversation)
            .where(Conversation.member_id == member.id)
            .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
            .limit(RECENT_ROWS)
        )
    )
    devices = list(
        session.scalars(
            select(Device).where(Device.member_id == member.id).order_by(Device.last_seen_at.desc(), Device.id)
        )
    )
    notices = list(
        session.scalars(
            select(Notification)
            .where(Notification.member_id == member.id)
            .order_by(Notification.id.desc())
            .limit(RECENT_ROWS)
        )
    )
    return MemberDetail(
        card=_cards(session, [member])[0],
        person=person,
        applications=applications,
        contributions=summarise(session, person, now) if person is not None else None,
        claims=claims,
        claim_changes=changes,
        conversations=conversations,
        devices=devices,
        notices=notices,
    )


def persons_by_id(session: Session, person_ids: list[int]) -> dict[int, InsuredPerson]:
    if not person_ids:
        return {}
    return {p.id: p for p in session.scalars(select(InsuredPerson).where(InsuredPerson.id.in_(set(person_ids))))}


@dataclass(frozen=True)
class IdMatch:
    """Another record with the same national ID as an application: an insured person or an application."""

    kind: str  # "insured_person" | "application"
    id: int
    name_lo: str
    name_latin: str
    member_number: str | None
    status: str | None
    elsewhere: bool = False  # in another office: the officer learns that it exists, not who it is


def _seen_from(match: IdMatch, office_id: int | None, viewer_office_id: int | None) -> IdMatch:
    if viewer_office_id is None or office_id == viewer_office_id:
        return match
    return IdMatch(match.kind, match.id, "", "", None, match.status, elsewhere=True)


def national_id_matches(
    session: Session, application: RegistrationApplication, viewer_office_id: int | None
) -> list[IdMatch]:
    """Insured people and other open applications with this application's national ID (spacing, hyphens and
    case aside): a warning for the officer before approving. Matches in another office than the viewer's
    (``None``: every office, for admins) carry no name or member number: anyone can apply with any ID number, so
    the warning must not tell an officer who holds an ID elsewhere."""
    squashed = _squash(application.national_id)
    matches = [
        _seen_from(
            IdMatch("insured_person", p.id, p.name_lo, p.name_latin, p.member_number, None),
            p.office_id,
            viewer_office_id,
        )
        for p in session.scalars(
            select(InsuredPerson)
            .where(
                _squashed(InsuredPerson.national_id) == squashed,
                InsuredPerson.id != (application.insured_person_id or 0),
            )
            .order_by(InsuredPerson.id)
            .limit(RECENT_ROWS)
        )
    ]
    matches += [
        _seen_from(
            IdMatch("application", a.id, a.name_lo, a.name_latin, None, a.status.value), a.office_id, viewer_office_id
        )
        for a in session.scalars(
            select(RegistrationApplication)
            .where(
                _squashed(RegistrationApplication.national_id) == squashed,
                RegistrationApplication.id != application.id,
                RegistrationApplication.status.in_(OPEN_APPLICATION_STATUSES),
            )
            .order_by(RegistrationApplication.id)
            .limit(RECENT_ROWS)
        )
    ]
    return matches
