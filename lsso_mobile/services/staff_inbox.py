"""The office's side of conversations: the inbox and its counts, assigning, replies and internal
notes, resolving and reopening."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import InvalidInput, NotFound
from lsso_mobile.extensions import affected_rows
from lsso_mobile.models import (
    Attachment,
    Conversation,
    ConversationCategory,
    ConversationStatus,
    Language,
    Member,
    Message,
    Office,
    StaffRole,
    StaffUser,
)
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.calendars import answer_due
from lsso_mobile.services.canned_replies import canned_reply
from lsso_mobile.services.conversations import OPEN_STATUSES, PREVIEW_CHARS, Posted, add_message_once, check_body
from lsso_mobile.services.idempotency import earlier_write, request_digest
from lsso_mobile.services.paging import keyset_page_by
from lsso_mobile.services.rows import required

RESOLVED_COUNT_DAYS = 30


def staff_conversation(
    session: Session, staff: Principal, conversation_id: int, for_update: bool = False
) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id, Conversation.office_id == staff.office_id)
    conversation = session.scalars(query.with_for_update() if for_update else query).first()
    if conversation is None:  # another office's conversation is as invisible as a missing one
        raise NotFound("No such conversation in your office.", error="conversation_not_found")
    return conversation


@dataclass(frozen=True)
class InboxFilter:
    status: ConversationStatus | None = None
    category: ConversationCategory | None = None
    assignee: str | None = None  # "me", "unassigned" or a staff id
    overdue: bool = False


def _inbox_conditions(staff: Principal, filters: InboxFilter, now: datetime) -> list[Any]:
    conditions: list[Any] = [Conversation.office_id == staff.office_id]
    if filters.status is not None:
        conditions.append(Conversation.status == filters.status)
    if filters.category is not None:
        conditions.append(Conversation.category == filters.category)
    if filters.assignee == "me":
        conditions.append(Conversation.assignee_id == staff.id)
    elif filters.assignee == "unassigned":
        conditions.append(Conversation.assignee_id.is_(None))
    elif filters.assignee is not None:
        conditions.append(Conversation.assignee_id == int(filters.assignee))
    if filters.overdue:
        conditions += [Conversation.status == ConversationStatus.OPEN, Conversation.reply_due_at < now]
    return conditions


def list_office_conversations(
    session: Session,
    staff: Principal,
    filters: InboxFilter,
    now: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Conversation]:
    """Newest activity first (by member-visible message time, then id)."""
    query = select(Conversation).where(*_inbox_conditions(staff, filters, now))
    page = keyset_page_by(query, Conversation.last_message_at, Conversation.id, after, limit, newest_first=True)
    return list(session.scalars(page))


def list_overdue(
    session: Session, staff: Principal, now: datetime, after: tuple[datetime, int] | None, limit: int
) -> list[Conversation]:
    """Open conversations past their due time, the longest overdue first."""
    query = select(Conversation).where(*_inbox_conditions(staff, InboxFilter(overdue=True), now))
    return list(session.scalars(keyset_page_by(query, Conversation.reply_due_at, Conversation.id, after, limit)))


def office_counts(session: Session, staff: Principal, now: datetime) -> dict[str, int]:
    """Open and pending conversations of the office, and those resolved in the last RESOLVED_COUNT_DAYS
    (resolved ones pile up for ever; counting all of them on every inbox poll would grow without end)."""
    rows = session.execute(
        select(
            Conversation.status,
            func.count(),
            func.sum(
                case(
                    (and_(Conversation.status == ConversationStatus.OPEN, Conversation.reply_due_at < now), 1), else_=0
                )
            ),
            func.sum(
                case(
                    (and_(Conversation.status == ConversationStatus.OPEN, Conversation.assignee_id.is_(None)), 1),
                    else_=0,
                )
            ),
        )
        .where(Conversation.office_id == staff.office_id, Conversation.status.in_(OPEN_STATUSES))
        .group_by(Conversation.status)
    ).all()
    counts = {status.value: 0 for status in ConversationStatus}
    overdue = unassigned = 0
    for status, count, late, nobody in rows:
        counts[ConversationStatus(status).value] = count
        overdue += late or 0
        unassigned += nobody or 0
    counts[ConversationStatus.RESOLVED.value] = (
        session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.office_id == staff.office_id,
                Conversation.resolved_at >= now - timedelta(days=RESOLVED_COUNT_DAYS),
            )
        )
        or 0
    )
    return {**counts, "overdue": overdue, "open_unassigned": unassigned}


def assign(
    session: Session,
    staff: Principal,
    conversation_id: int,
    assignee: str | None,
    now: datetime,
    *,
    address: str | None = None,
) -> Conversation:
    """Assign to ``me``, a colleague's id or nobody (None); a change is kept in the audit trail."""
    conversation = staff_conversation(session, staff, conversation_id, for_update=True)
    before = conversation.assignee_id
    if assignee is None:
        conversation.assignee_id = None
    else:
        target_id = staff.id if assignee == "me" else int(assignee)
        colleague = session.get(StaffUser, target_id)
        if (
            colleague is None
            or not colleague.active
            or colleague.role is not StaffRole.OFFICER
            or colleague.office_id != staff.office_id
        ):
            raise InvalidInput(
                "Assign to yourself or an active officer of your office.",
                error="assignee_invalid",
                errors={"assignee": ["not an officer of your office"]},
            )
        conversation.assignee_id = target_id
    conversation.last_activity_at = now
    if conversation.assignee_id != before:
        record_audit(
            session,
            staff,
            "conversation.assign",
            "conversation",
            conversation.id,
            office_id=conversation.office_id,
            details={"assignee_id": conversation.assignee_id, "previous_assignee_id": before},
            address=address,
            now=now,
        )
    session.flush()
    return conversation


def list_colleagues(session: Session, staff: Principal) -> list[StaffUser]:
    return list(
        session.scalars(
            select(StaffUser)
            .where(
                StaffUser.office_id == staff.office_id, StaffUser.role == StaffRole.OFFICER, StaffUser.active.is_(True)
            )
            .order_by(StaffUser.display_name, StaffUser.id)
        )
    )


def post_staff_message(
    session: Session,
    settings: Settings,
    staff: Principal,
    conversation_id: int,
    body: str | None,
    canned_reply_id: int | None,
    attachment_ids: list[int],
    key: str | None,
    internal: bool,
    now: datetime,
) -> Posted:
    """A reply (pushed to the member, conversation pending) or an internal note (staff only)."""
    author = Message.staff_id == staff.id
    digest = request_digest(
        kind="note" if internal else "reply",
        conversation=conversation_id,
        body=body,
        canned=canned_reply_id,
        attachments=attachment_ids,
    )
    earlier = earlier_write(session, Message, author, key, digest, "message")
    if earlier is not None:
        return Posted(staff_conversation(session, staff, earlier.conversation_id), earlier, True)
    conversation = staff_conversation(session, staff, conversation_id, for_update=True)
    if (body is None) == (canned_reply_id is None):
        raise InvalidInput(
            "Give either a body or a canned_reply_id.",
            error="reply_body_missing",
            errors={"body": ["body or canned_reply_id"]},
        )
    if canned_reply_id is not None:
        canned = canned_reply(session, staff, canned_reply_id)
        member = session.get(Member, conversation.member_id)
        body = canned.body_en if member is not None and member.language is Language.ENGLISH else canned.body_lo
    body = check_body(body or "")
    message = Message(
        conversation_id=conversation.id,
        staff_id=staff.id,
        internal=internal,
        body=body,
        canned_reply_id=canned_reply_id,
        idempotency_key=key,
        request_digest=digest,
        created_at=now,
        updated_at=now,
    )
    winner = add_message_once(session, message, author, Attachment.uploader_staff_id == staff.id, attachment_ids)
    if winner is not None:
        return Posted(staff_conversation(session, staff, winner.conversation_id), winner, True)
    conversation.last_activity_at = now
    if not internal:
        conversation.status = ConversationStatus.PENDING
        conversation.reply_due_at = None
        conversation.resolved_at = None
        if conversation.first_responded_at is None:
            conversation.first_responded_at = now
        if conversation.assignee_id is None:
            conversation.assignee_id = staff.id
        conversation.last_message_at = conversation.updated_at = now
        session.flush()
        office = required(session, Office, conversation.office_id, what="office")
        preview = body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…"
        record_notification(
            session,
            conversation.member_id,
            "conversation_reply",
            {
                "conversation_id": conversation.id,
                "office_name_lo": office.name_lo,
                "office_name_en": office.name_en,
                "subject": conversation.subject,
                "preview": preview,
            },
            now,
            collapse_key=f"conversation-{conversation.id}",
        )
    session.flush()
    return Posted(conversation, message, False)


def mark_read_by_staff(session: Session, conversation: Conversation, now: datetime) -> int:
    marked = affected_rows(
        session.execute(
            update(Message)
            .where(
                Message.conversation_id == conversation.id, Message.member_id.is_not(None), Message.read_at.is_(None)
            )
            .values(read_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if marked:
        conversation.updated_at = now  # the member's app syncs the read receipts
    return marked


def set_status(
    session: Session,
    settings: Settings,
    staff: Principal,
    conversation_id: int,
    status: ConversationStatus,
    now: datetime,
    *,
    address: str | None = None,
) -> Conversation:
    """Resolve or reopen; a change is kept in the audit trail (the same status again changes nothing)."""
    conversation = staff_conversation(session, staff, conversation_id, for_update=True)
    if conversation.status is status:
        return conversation
    record_audit(
        session,
        staff,
        "conversation.resolve" if status is ConversationStatus.RESOLVED else "conversation.reopen",
        "conversation",
        conversation.id,
        office_id=conversation.office_id,
        details={"from": conversation.status, "status": status},
        address=address,
        now=now,
    )
    conversation.status = status
    if status is ConversationStatus.RESOLVED:
        conversation.resolved_at, conversation.reply_due_at = now, None
    else:  # reopened by staff: waiting for the office again
        conversation.resolved_at = None
        conversation.reply_due_at = answer_due(session, settings, conversation.office_id, now)
    conversation.updated_at = conversation.last_activity_at = now
    session.flush()
    return conversation
