"""A member's own profile: phone, language, member number and names once registered, office, and the
status of their latest registration application."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.models import InsuredPerson, Language, Member, Office, RegistrationApplication
from lsso_mobile.services.rows import required


@dataclass(frozen=True)
class MemberProfile:
    phone: str
    language: Language
    member_number: str | None
    name_lo: str | None
    name_latin: str | None
    office: Office | None
    registration_status: str | None


def member_profile(session: Session, member_id: int) -> MemberProfile:
    member = required(session, Member, member_id, what="member")
    person = session.get(InsuredPerson, member.insured_person_id) if member.insured_person_id else None
    office = session.get(Office, member.office_id) if member.office_id else None
    status = session.scalar(
        select(RegistrationApplication.status)
        .where(RegistrationApplication.member_id == member_id)
        .order_by(RegistrationApplication.id.desc())
        .limit(1)
    )
    return MemberProfile(
        phone=member.phone,
        language=member.language,
        member_number=person.member_number if person else None,
        name_lo=person.name_lo if person else None,
        name_latin=person.name_latin if person else None,
        office=office,
        registration_status=status.value if status else None,
    )


def set_language(session: Session, member_id: int, language: Language) -> None:
    """The language of the member's notices, texts and answers."""
    required(session, Member, member_id, what="member").language = language
