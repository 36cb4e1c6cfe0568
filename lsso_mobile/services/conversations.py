"""Members' conversations with their office: starting one, writing, reading, unread counts;
sends are idempotent by key (services/idempotency.py) and limited per member."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import Conflict, InvalidInput, NotFound
from lsso_mobile.extensions import affected_rows
from lsso_mobile.models import (
    Attachment,
    Conversation,
    ConversationCategory,
    ConversationStatus,
    Member,
    Message,
    Office,
)
from lsso_mobile.services.attachments import attach_uploads
from lsso_mobile.services.calendars import answer_due
from lsso_mobile.services.idempotency import earlier_write, request_digest, store_once
from lsso_mobile.services.limits import check_window_limit
from lsso_mobile.services.locking import locked
from lsso_mobile.services.paging import keyset_page, keyset_page_by
from lsso_mobile.services.rows import required
from lsso_mobile.validation import required_text

MAX_BODY_CHARS = 4000


MAX_SUBJECT_CHARS = 200


PREVIEW_CHARS = 120


OPEN_STATUSES = (ConversationStatus.OPEN, ConversationStatus.PENDING)


@dataclass(frozen=True)
class Posted:
    conversation: Conversation
    message: Message
    replayed: bool  # an earlier send with the same key: nothing new was stored


def check_body(body: str, field: str = "body") -> str:
    return required_text(body, field, MAX_BODY_CHARS)


def add_message_once(
    session: Session, message: Message, author: Any, uploader: Any, attachment_ids: list[int]
) -> Message | None:
    """Store a new message and attach its uploads. If a concurrent request with the same idempotency key
    stored its message first, nothing is stored and that earlier message is returned (a replay)."""
    session.add(message)
    winner = store_once(session, Message, author, message.idempotency_key, message.request_digest or "", "message")
    if winner is not None:
        return winner
    attach_uploads(session, message, attachment_ids, uploader)
    return None


def _add_member_message(
    session: Session,
    conversation_id: int,
    member_id: int,
    body: str,
    key: str,
    digest: str,
    attachment_ids: list[int],
    now: datetime,
) -> tuple[Message, Message | None]:
    """The member's new message with its uploads, stored once: (the message, the earlier one if a concurrent
    retry with the same key was stored first)."""
    message = Message(
        conversation_id=conversation_id,
        member_id=member_id,
        body=body,
        idempotency_key=key,
        request_digest=digest,
        created_at=now,
        updated_at=now,
    )
    author, uploader = Message.member_id == member_id, Attachment.uploader_member_id == member_id
    return message, add_message_once(session, message, author, uploader, attachment_ids)


def member_conversation(
    session: Session, member_id: int, conversation_id: int, for_update: bool = False
) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id, Conversation.member_id == member_id)
    conversation = session.scalars(query.with_for_update() if for_update else query).first()
    if conversation is None:
        raise NotFound("No such conversation.", error="conversation_not_found")
    return conversation


def _member_limits(session: Session, settings: Settings, member_id: int, now: datetime) -> None:
    """Check the member's sending limits, first locking the member until commit: parallel sends and
    starts by one member are counted one after the other, never all against the same old count."""
    locked(session, select(Member.id).where(Member.id == member_id))
    check_window_limit(
        session,
        Message.created_at,
        Message.member_id == member_id,
        settings.messages_per_minute,
        timedelta(minutes=1),
        now,
        "You are sending messages too fast; wait a moment.",
        "too_many_messages",
    )


def start_conversation(
    session: Session,
    settings: Settings,
    member_id: int,
    office_code: str | None,
    category: ConversationCategory,
    subject: str,
    body: str,
    attachment_ids: list[int],
    key: str,
    now: datetime,
) -> Posted:
    author = Message.member_id == member_id
    digest = request_digest(
        kind="start",
        office=office_code,
        category=category.value,
        subject=subject,
        body=body,
        attachments=attachment_ids,
    )
    earlier = earlier_write(session, Message, author, key, digest, "message")
    if earlier is not None:
        return Posted(required(session, Conversation, earlier.conversation_id, what="conversation"), earlier, True)
    subject, body = required_text(subject, "subject", MAX_SUBJECT_CHARS), check_body(body)
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.", error="member_not_found")
    if office_code is not None:
        office_id = session.scalar(select(Office.id).where(Office.code == office_code))
        if office_id is None:
            raise InvalidInput(
                "There is no office with this code (see /api/v1/offices).",
                error="unknown_office",
                errors={"office_code": ["unknown office"]},
            )
    elif member.office_id is not None:
        office_id = member.office_id
    else:
        raise InvalidInput(
            "You have no office yet: choose one (office_code, see /api/v1/offices).",
            error="office_required",
            errors={"office_code": ["required until you register"]},
        )
    _member_limits(session, settings, member_id, now)
    open_count = session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.member_id == member_id, Conversation.status.in_(OPEN_STATUSES))
    )
    if (open_count or 0) >= settings.max_open_conversations:
        raise Conflict(
            "You already have {count} conversations in progress; write in one of them.",
            error="too_many_open_conversations",
            params={"count": open_count, "max": settings.max_open_conversations},
        )
    due = answer_due(session, settings, office_id, now)
    conversation = Conversation(
        member_id=member_id,
        office_id=office_id,
        category=category,
        subject=subject,
        status=ConversationStatus.OPEN,
        first_response_due_at=due,
        reply_due_at=due,
        last_message_at=now,
        last_activity_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(conversation)
    session.flush()
    message, winner = _add_member_message(session, conversation.id, member_id, body, key, digest, attachment_ids, now)
    if winner is not None:
        return Posted(required(session, Conversation, winner.conversation_id, what="conversation"), winner, True)
    return Posted(conversation, message, False)


def post_member_message(
    session: Session,
    settings: Settings,
    member_id: int,
    conversation_id: int,
    body: str,
    attachment_ids: list[int],
    key: str,
    now: datetime,
) -> Posted:
    author = Message.member_id == member_id
    digest = request_digest(kind="send", conversation=conversation_id, body=body, attachments=attachment_ids)
    earlier = earlier_write(session, Message, author, key, digest, "message")
    if earlier is not None:
        return Posted(member_conversation(session, member_id, earlier.conversation_id), earlier, True)
    body = check_body(body)
    _member_limits(session, settings, member_id, now)  # the member first: one lock order with start_conversation
    conversation = member_conversation(session, member_id, conversation_id, for_update=True)
    message, winner = _add_member_message(session, conversation.id, member_id, body, key, digest, attachment_ids, now)
    if winner is not None:
        return Posted(member_conversation(session, member_id, winner.conversation_id), winner, True)
    if conversation.status is not ConversationStatus.OPEN:
        conversation.status = ConversationStatus.OPEN
        conversation.reply_due_at = answer_due(session, settings, conversation.office_id, now)
        conversation.resolved_at = None
    conversation.last_message_at = conversation.last_activity_at = conversation.updated_at = now
    session.flush()
    return Posted(conversation, message, False)


def list_member_conversations(
    session: Session, member_id: int, after: tuple[datetime, int] | None, updated_since: datetime | None, limit: int
) -> list[Conversation]:
    query = select(Conversation).where(Conversation.member_id == member_id)
    if updated_since is not None:
        query = query.where(Conversation.updated_at > updated_since)
    page = keyset_page_by(query, Conversation.last_message_at, Conversation.id, after, limit, newest_first=True)
    return list(session.scalars(page))


def conversation_summaries(
    session: Session, conversation_ids: list[int], *, for_member: bool
) -> dict[int, tuple[int, Message | None]]:
    """Per conversation: unread messages from the other side, and the latest message (one query each)."""
    if not conversation_ids:
        return {}
    visible = Message.internal.is_(False) if for_member else true()
    from_other_side = Message.staff_id.is_not(None) if for_member else Message.member_id.is_not(None)
    unread = dict(
        session.execute(
            select(Message.conversation_id, func.count())
            .where(
                Message.conversation_id.in_(conversation_ids),
                visible,
                from_other_side,
                Message.read_at.is_(None),
                Message.internal.is_(False),
            )
            .group_by(Message.conversation_id)
        ).all()
    )
    latest_ids = (
        select(func.max(Message.id))
        .where(Message.conversation_id.in_(conversation_ids), visible)
        .group_by(Message.conversation_id)
    )
    latest = {m.conversation_id: m for m in session.scalars(select(Message).where(Message.id.in_(latest_ids)))}
    return {cid: (unread.get(cid, 0), latest.get(cid)) for cid in conversation_ids}


def list_messages(
    session: Session,
    conversation_id: int,
    before_id: int | None,
    updated_since: datetime | None,
    limit: int,
    *,
    include_internal: bool,
) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id)
    if not include_internal:
        query = query.where(Message.internal.is_(False))
    if updated_since is not None:
        query = query.where(Message.updated_at > updated_since)
    return list(session.scalars(keyset_page(query, Message.id, before_id, limit, newest_first=True)))


def mark_read_by_member(session: Session, member_id: int, conversation_id: int, now: datetime) -> int:
    conversation = member_conversation(session, member_id, conversation_id)
    marked = affected_rows(
        session.execute(
            update(Message)
            .where(
                Message.conversation_id == conversation.id,
                Message.staff_id.is_not(None),
                Message.internal.is_(False),
                Message.read_at.is_(None),
            )
            .values(read_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if marked:
        conversation.updated_at = now  # the member's other devices sync the unread count
    return marked


def unread_for_member(session: Session, conversation_id: int) -> int:
    return conversation_summaries(session, [conversation_id], for_member=True)[conversation_id][0]


def office_codes(session: Session, office_ids: set[int]) -> dict[int, str]:
    """Office id -> office code, for the offices given."""
    if not office_ids:
        return {}
    return {
        office_id: code
        for office_id, code in session.execute(select(Office.id, Office.code).where(Office.id.in_(office_ids)))
    }
