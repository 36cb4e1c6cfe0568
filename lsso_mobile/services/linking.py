"""Linking an app account to an existing insured person, with proof.

Knowing a member number and a date of birth proves nothing (both are printed on cards and known to
family and employers), so a link needs one of:

- a code sent by SMS to the phone on record for that person (from the core register), never to the
  caller's phone: the caller asks (``send_link_code``) and enters it (``confirm_link``);
- an officer of the person's office who checks an ID-card photo the member uploaded (a link request).

Failed attempts are counted per member number (and per account), so nobody can guess birth dates or
codes for one record from many accounts; codes per record are bounded too, so nobody can flood the
person with SMS. The person on record is told by SMS when a link is asked for and when their record
is linked; the linked account gets a push. Officers of the person's office can unlink; every link and
unlink is kept in the record's history (``LinkEvent``).
"""

from __future__ import annotations

import secrets
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import Conflict, InvalidInput, NotFound
from lsso_mobile.models import (
    ApplicationStatus,
    Attachment,
    InsuredPerson,
    LinkAction,
    LinkChallenge,
    LinkEvent,
    LinkFailure,
    LinkMethod,
    LinkRequest,
    LinkRequestStatus,
    Member,
    RegistrationApplication,
)
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.notify.templates import sms_text
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.limits import check_window_limit
from lsso_mobile.services.locking import become_writer
from lsso_mobile.services.otp import InvalidCode
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.services.phones import mask_phone
from lsso_mobile.services.rows import required
from lsso_mobile.services.secrets_hashing import keyed_hash, same_keyed_hash
from lsso_mobile.services.sms import queue_sms

ID_PHOTO_TYPES = ("image/jpeg", "image/png")
NO_MATCH = "No LSSO record matches this member number and date of birth."


@dataclass(frozen=True)
class LinkCodeSent:
    sent_to: str  # the phone on record, masked
    expires_in_seconds: int


# -- finding a record, with failures counted per record --------------------------------------------


def _serialise_per_record(session: Session, member_number: str) -> None:
    """Attempts on one member number run one at a time, so parallel guesses cannot all pass the count: a
    transaction-scoped advisory lock on PostgreSQL; on SQLite the database's write lock, taken now, before the
    count is read (a read outside a write transaction could be stale)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"link:{member_number}".encode())
        session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        become_writer(session)


def _check_failures(session: Session, settings: Settings, member_number: str, member_id: int, now: datetime) -> None:
    window = timedelta(minutes=settings.link_window_minutes)
    check_window_limit(
        session,
        LinkFailure.created_at,
        LinkFailure.member_number == member_number,
        settings.link_failures_per_record,
        window,
        now,
        "Too many failed attempts to link this member number; try again later or ask your office.",
        "too_many_link_failures",
    )
    check_window_limit(
        session,
        LinkFailure.created_at,
        LinkFailure.member_id == member_id,
        settings.link_failures_per_record,
        window,
        now,
        "Too many failed link attempts from this account; try again later or ask your office.",
        "too_many_link_failures",
    )


def _fail(session: Session, member_number: str, member_id: int, now: datetime) -> None:
    session.add(LinkFailure(member_number=member_number, member_id=member_id, created_at=now))


def _find_record(
    session: Session, settings: Settings, member: Member, member_number: str, date_of_birth: date, now: datetime
) -> InsuredPerson:
    """The insured person with this number and birth date; a miss counts against the number and the account."""
    _serialise_per_record(session, member_number)
    _check_failures(session, settings, member_number, member.id, now)
    person = session.scalars(select(InsuredPerson).where(InsuredPerson.member_number == member_number)).first()
    # One answer for "no such number" and "wrong date of birth".
    if person is None or person.date_of_birth != date_of_birth:
        _fail(session, member_number, member.id, now)
        raise NotFound(NO_MATCH, keep_changes=True, error="no_matching_record")
    return person


def _linkable_member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id, with_for_update=True)
    if member is None:
        raise NotFound("No such member.", error="member_not_found")
    if member.insured_person_id is not None:
        raise Conflict("This account is already linked to a member number.", error="account_already_linked")
    open_application = session.scalar(
        select(RegistrationApplication.id).where(
            RegistrationApplication.member_id == member.id,
            RegistrationApplication.status.in_((ApplicationStatus.SUBMITTED, ApplicationStatus.MORE_INFO_NEEDED)),
        )
    )
    if open_application is not None:
        raise Conflict(
            "You have a registration application in progress; it must be decided first.",
            error="registration_in_progress",
        )
    return member


def _holder(session: Session, person: InsuredPerson) -> Member | None:
    return session.scalars(select(Member).where(Member.insured_person_id == person.id)).first()


def _already_held(holder: Member, keep_changes: bool = False) -> Conflict:
    return Conflict(
        "This member number is already linked to another app account; your office can unlink it.",
        params={"linked_account": mask_phone(holder.phone)},
        keep_changes=keep_changes,
        error="record_already_linked",
    )


# -- proof by a code to the phone on record ---------------------------------------------------------


def send_link_code(
    session: Session, settings: Settings, member_id: int, member_number: str, date_of_birth: date, now: datetime
) -> LinkCodeSent:
    """Send a code to the phone on record of the person with this number and birth date (not the caller's)."""
    member = _linkable_member(session, member_id)
    person = _find_record(session, settings, member, member_number, date_of_birth, now)
    if person.phone is None:
        raise Conflict(
            "This record has no phone on record; ask for an officer's check with a photo of your ID card.",
            error="no_phone_on_record",
        )
    window = timedelta(minutes=settings.link_window_minutes)
    check_window_limit(
        session,
        LinkChallenge.created_at,
        LinkChallenge.insured_person_id == person.id,
        settings.link_codes_per_record,
        window,
        now,
        "Too many link codes were sent for this member number; try again later.",
        "too_many_link_codes",
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    ttl = timedelta(minutes=settings.otp_ttl_minutes)
    session.add(
        LinkChallenge(
            member_id=member.id,
            insured_person_id=person.id,
            code_hash=keyed_hash(settings.secret_key, f"link:{member.id}:{person.id}:{code}"),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    account = mask_phone(member.phone)
    # The text is also the notice to the person on record: a stranger's request is seen by the real owner.
    queue_sms(
        session,
        settings,
        person.phone,
        sms_text(
            "link_code",
            {
                "member_number": person.member_number,
                "account": account,
                "code": code,
                "minutes": settings.otp_ttl_minutes,
            },
        ),
        "link_code",
        expires_at=now + ttl,
    )
    return LinkCodeSent(sent_to=mask_phone(person.phone), expires_in_seconds=int(ttl.total_seconds()))


def confirm_link(
    session: Session,
    settings: Settings,
    member_id: int,
    member_number: str,
    date_of_birth: date,
    code: str,
    now: datetime,
) -> InsuredPerson:
    """Link with the code sent to the phone on record; a wrong code counts against the record."""
    member = _linkable_member(session, member_id)
    person = _find_record(session, settings, member, member_number, date_of_birth, now)
    challenge = session.scalars(
        select(LinkChallenge)
        .where(
            LinkChallenge.member_id == member.id,
            LinkChallenge.insured_person_id == person.id,
            LinkChallenge.consumed_at.is_(None),
            LinkChallenge.expires_at > now,
        )
        .order_by(LinkChallenge.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if challenge is None:
        raise InvalidCode(
            "The code has expired or was not requested; ask for a new code.",
            error="code_expired",
            errors={"code": ["expired or not requested"]},
        )
    if challenge.attempts >= settings.otp_max_attempts:
        raise InvalidCode(
            "Too many wrong tries for this code; ask for a new code.",
            error="code_tries_exhausted",
            errors={"code": ["too many wrong tries"]},
        )
    if not same_keyed_hash(settings.secret_key, f"link:{member.id}:{person.id}:{code}", challenge.code_hash):
        challenge.attempts += 1
        _fail(session, member_number, member.id, now)
        raise InvalidCode("The code is wrong.", error="code_wrong", errors={"code": ["wrong code"]}, keep_changes=True)
    challenge.consumed_at = now
    holder = _holder(session, person)
    if holder is not None:
        raise _already_held(holder, keep_changes=True)
    _link(session, settings, member, person, LinkMethod.CODE, now)
    return person


def _link(
    session: Session,
    settings: Settings,
    member: Member,
    person: InsuredPerson,
    method: LinkMethod,
    now: datetime,
    *,
    staff_id: int | None = None,
    link_request_id: int | None = None,
) -> None:
    member.insured_person_id = person.id
    member.office_id = person.office_id
    session.add(
        LinkEvent(
            insured_person_id=person.id,
            member_id=member.id,
            action=LinkAction.LINKED,
            method=method,
            staff_id=staff_id,
            link_request_id=link_request_id,
            created_at=now,
        )
    )
    session.flush()
    notify_record_linked(session, settings, member, person, now)


def notify_record_linked(
    session: Session, settings: Settings, member: Member, person: InsuredPerson, now: datetime
) -> None:
    """Push to the account that now holds the record; SMS to the phone on record, if any."""
    account = mask_phone(member.phone)
    record_notification(
        session,
        member.id,
        "record_linked",
        {"member_number": person.member_number, "account_phone": account},
        now,
        collapse_key=f"link-{person.id}",
    )
    if person.phone is not None:
        queue_sms(
            session,
            settings,
            person.phone,
            sms_text("record_linked", {"member_number": person.member_number, "account": account}),
            "record_linked",
        )


@dataclass(frozen=True)
class LinkStatus:
    member_number: str
    linked_account: str  # the account's phone, masked
    linked_at: datetime | None
    method: LinkMethod | None


def link_status(session: Session, member_id: int) -> LinkStatus:
    """Which record the account holds, and how and when it was linked."""
    member = session.get(Member, member_id)
    if member is None or member.insured_person_id is None:
        raise NotFound("This account is not linked to a member number.", error="not_linked")
    person = required(session, InsuredPerson, member.insured_person_id, what="insured person")
    event = session.scalars(
        select(LinkEvent)
        .where(
            LinkEvent.insured_person_id == person.id,
            LinkEvent.member_id == member.id,
            LinkEvent.action == LinkAction.LINKED,
        )
        .order_by(LinkEvent.id.desc())
        .limit(1)
    ).first()
    return LinkStatus(
        member_number=person.member_number,
        linked_account=mask_phone(member.phone),
        linked_at=event.created_at if event else None,
        method=event.method if event else None,
    )


# -- proof by an officer's check ----------------------------------------------------------------------


def request_officer_link(
    session: Session,
    settings: Settings,
    member_id: int,
    member_number: str,
    date_of_birth: date,
    id_photo_attachment_id: int,
    now: datetime,
) -> LinkRequest:
    """Ask an officer of the person's office to link the record, showing an uploaded ID-card photo.

    For a record with no phone on record, or whose owner no longer has that phone. When there is a
    phone on record, it is told that a link was asked for.
    """
    member = _linkable_member(session, member_id)
    pending = session.scalar(
        select(LinkRequest.id).where(
            LinkRequest.member_id == member.id, LinkRequest.status == LinkRequestStatus.PENDING
        )
    )
    if pending is not None:
        raise Conflict(
            "You already have a link request waiting for your office.",
            params={"link_request_id": pending},
            error="link_request_pending",
        )
    person = _find_record(session, settings, member, member_number, date_of_birth, now)
    photo = session.scalars(
        select(Attachment).where(
            Attachment.id == id_photo_attachment_id,
            Attachment.uploader_member_id == member.id,
            Attachment.message_id.is_(None),
            Attachment.content_type.in_(ID_PHOTO_TYPES),
            ~select(LinkRequest.id).where(LinkRequest.id_photo_attachment_id == Attachment.id).exists(),
        )
    ).first()
    if photo is None:
        raise InvalidInput(
            "The ID photo must be a JPEG or PNG you uploaded and have not used elsewhere.",
            error="id_photo_invalid",
            errors={"id_photo_attachment_id": ["unknown, not an image, or already used"]},
        )
    # Each request is an SMS to the phone on record: bounded per record like link codes, so that many accounts
    # cannot flood the owner's phone (the attempt is serialised per member number by _find_record).
    check_window_limit(
        session,
        LinkRequest.created_at,
        LinkRequest.insured_person_id == person.id,
        settings.link_codes_per_record,
        timedelta(minutes=settings.link_window_minutes),
        now,
        "Too many link requests were made for this member number; try again later.",
        "too_many_link_requests",
    )
    request = LinkRequest(
        member_id=member.id,
        insured_person_id=person.id,
        office_id=person.office_id,
        status=LinkRequestStatus.PENDING,
        id_photo_attachment_id=photo.id,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    session.flush()
    if person.phone is not None:
        account = mask_phone(member.phone)
        queue_sms(
            session,
            settings,
            person.phone,
            sms_text("link_request", {"member_number": person.member_number, "account": account}),
            "link_request",
        )
    return request


def current_link_request(session: Session, member_id: int) -> LinkRequest:
    request = session.scalars(
        select(LinkRequest).where(LinkRequest.member_id == member_id).order_by(LinkRequest.id.desc()).limit(1)
    ).first()
    if request is None:
        raise NotFound("You have not asked for a link yet.", error="no_link_request")
    return request


def _office_filter(staff: Principal, column: Any) -> Any:
    """Officers see their own office only; admins see every office (as for registrations)."""
    if staff.role == "admin":
        return True
    return column == staff.office_id


def list_link_requests(
    session: Session, staff: Principal, status: LinkRequestStatus | None, after_id: int | None, limit: int
) -> list[LinkRequest]:
    query = select(LinkRequest).where(_office_filter(staff, LinkRequest.office_id))
    if status is not None:
        query = query.where(LinkRequest.status == status)
    return list(session.scalars(keyset_page(query, LinkRequest.id, after_id, limit)))


def count_pending_link_requests(session: Session, staff: Principal) -> int:
    """How many link requests of the officer's office wait for a decision (for the console's menu)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(LinkRequest)
            .where(_office_filter(staff, LinkRequest.office_id), LinkRequest.status == LinkRequestStatus.PENDING)
        )
        or 0
    )


def masked_phones_of(session: Session, member_ids: set[int]) -> dict[int, str]:
    """The masked phone of each of these app accounts (for showing staff whose request it is)."""
    if not member_ids:
        return {}
    rows = session.execute(select(Member.id, Member.phone).where(Member.id.in_(member_ids))).all()
    return {member_id: mask_phone(phone) for member_id, phone in rows}


def get_link_request_for_staff(
    session: Session, staff: Principal, link_request_id: int, for_update: bool = False
) -> LinkRequest:
    query = select(LinkRequest).where(LinkRequest.id == link_request_id, _office_filter(staff, LinkRequest.office_id))
    request = session.scalars(query.with_for_update() if for_update else query).first()
    if request is None:  # another office's request is as invisible as a missing one
        raise NotFound("No such link request in your office.", error="link_request_not_found")
    return request


def link_request_photo(session: Session, staff: Principal, link_request_id: int) -> Attachment:
    request = get_link_request_for_staff(session, staff, link_request_id)
    return required(session, Attachment, request.id_photo_attachment_id, what="photo")


LINK_DECISIONS = {"approve": LinkRequestStatus.APPROVED, "reject": LinkRequestStatus.REJECTED}


def decide_link_request(
    session: Session,
    settings: Settings,
    staff: Principal,
    link_request_id: int,
    decision: str,
    reason: str | None,
    now: datetime,
    *,
    address: str | None = None,
) -> LinkRequest:
    """Approve (links the record) or reject (with a reason) a pending request; kept in the audit trail."""
    request = get_link_request_for_staff(session, staff, link_request_id, for_update=True)
    if request.status is not LinkRequestStatus.PENDING:
        raise Conflict(
            "The link request is already decided; only pending requests are decided.",
            error="link_request_already_decided",
            params={"status": request.status.value},
        )
    new_status = LINK_DECISIONS[decision]
    reason = (reason or "").strip() or None
    if new_status is LinkRequestStatus.REJECTED and reason is None:
        raise InvalidInput(
            "A reason is required to reject a link request.", error="reason_required", errors={"reason": ["required"]}
        )
    member = required(session, Member, request.member_id, what="member", lock=True)
    person = required(session, InsuredPerson, request.insured_person_id, what="insured person")
    if new_status is LinkRequestStatus.APPROVED:
        if member.insured_person_id is not None:
            raise Conflict("This account is already linked to a member number.", error="account_already_linked")
        holder = _holder(session, person)
        if holder is not None:
            raise _already_held(holder)
    request.status = new_status
    request.reason = reason
    request.decided_by = staff.id
    request.decided_at = request.updated_at = now
    session.flush()
    session.expire(request, ["decider"])  # loaded (as nobody) with the request: read it again
    if new_status is LinkRequestStatus.APPROVED:
        _link(session, settings, member, person, LinkMethod.OFFICER, now, staff_id=staff.id, link_request_id=request.id)
    else:
        record_notification(
            session,
            member.id,
            "link_request_rejected",
            {"reason": reason},
            now,
            collapse_key=f"link-request-{request.id}",
        )
    record_audit(
        session,
        staff,
        f"link_request.{decision}",
        "link_request",
        request.id,
        office_id=request.office_id,
        details={"status": new_status, "reason": reason, "member_number": person.member_number},
        address=address,
        now=now,
    )
    return request


def unlink_record(
    session: Session,
    staff: Principal,
    member_number: str,
    reason: str,
    now: datetime,
    *,
    address: str | None = None,
) -> LinkEvent:
    """An officer of the person's office takes the record away from the app account that holds it."""
    person = session.scalars(
        select(InsuredPerson).where(
            InsuredPerson.member_number == member_number, _office_filter(staff, InsuredPerson.office_id)
        )
    ).first()
    if person is None:
        raise NotFound("No such member number in your office.", error="member_number_not_found")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            "A reason is required to unlink a record.", error="reason_required", errors={"reason": ["required"]}
        )
    member = session.scalars(select(Member).where(Member.insured_person_id == person.id).with_for_update()).first()
    if member is None:
        raise Conflict("This member number is not linked to any app account.", error="record_not_linked")
    member.insured_person_id = None
    event = LinkEvent(
        insured_person_id=person.id,
        member_id=member.id,
        action=LinkAction.UNLINKED,
        method=LinkMethod.STAFF,
        staff_id=staff.id,
        reason=reason,
        created_at=now,
    )
    session.add(event)
    session.flush()
    record_notification(
        session,
        member.id,
        "record_unlinked",
        {"member_number": person.member_number, "reason": reason},
        now,
        collapse_key=f"link-{person.id}",
    )
    record_audit(
        session,
        staff,
        "link.unlink",
        "insured_person",
        person.id,
        office_id=person.office_id,
        details={"member_number": person.member_number, "member_id": member.id, "reason": reason},
        address=address,
        now=now,
    )
    return event


def record_holder(session: Session, member_number: str) -> Member | None:
    """The app account that holds the record with this member number, if any."""
    return session.scalars(
        select(Member)
        .join(InsuredPerson, InsuredPerson.id == Member.insured_person_id)
        .where(InsuredPerson.member_number == member_number)
    ).first()


def link_history(session: Session, staff: Principal, member_number: str) -> list[LinkEvent]:
    person = session.scalars(
        select(InsuredPerson).where(
            InsuredPerson.member_number == member_number, _office_filter(staff, InsuredPerson.office_id)
        )
    ).first()
    if person is None:
        raise NotFound("No such member number in your office.", error="member_number_not_found")
    return list(
        session.scalars(select(LinkEvent).where(LinkEvent.insured_person_id == person.id).order_by(LinkEvent.id))
    )
