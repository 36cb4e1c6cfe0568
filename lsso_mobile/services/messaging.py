"""Member-office messaging: conversations between a member and one office, worked by its officers.

Status: ``open`` waits for the office, ``pending`` waits for the member, ``resolved`` is done; a member
writing to a pending or resolved conversation opens it again. Internal notes are messages with
``internal`` set: member-facing functions never return or count them. Every member message carries a
client key: a retried send finds the message it already stored (the unique key also settles two
retries racing each other). An answer is due N working hours (the office's hours, holidays skipped)
after the member's message that opened the conversation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, text, true, update
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge, TooManyRequests
from lsso_mobile.extensions import affected_rows
from lsso_mobile.models import (
    Attachment,
    CannedReply,
    Conversation,
    ConversationCategory,
    ConversationStatus,
    Holiday,
    Language,
    LinkRequest,
    Member,
    Message,
    Office,
    StaffRole,
    StaffUser,
    WorkingHours,
)
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.files import attachment_store, prepare_upload
from lsso_mobile.services.idempotency import earlier_write, request_digest, store_once
from lsso_mobile.services.limits import check_window_limit
from lsso_mobile.services.locking import locked
from lsso_mobile.services.rows import required
from lsso_mobile.services.working_time import DEFAULT_HOURS, OfficeCalendar, add_working_time

MAX_BODY_CHARS = 4000
MAX_SUBJECT_CHARS = 200
MAX_TITLE_CHARS = 200  # canned-reply titles, holiday names
MAX_ATTACHMENTS_PER_MESSAGE = 3
PREVIEW_CHARS = 120
UPLOADS_PER_MINUTE_FACTOR = 3  # uploads per minute = this x messages per minute
UNSENT_UPLOADS_QUOTA = "unsent_uploads_quota"  # the error code of a refused upload over the quota
OPEN_STATUSES = (ConversationStatus.OPEN, ConversationStatus.PENDING)
RESOLVED_COUNT_DAYS = 30


@dataclass(frozen=True)
class Posted:
    conversation: Conversation
    message: Message
    replayed: bool  # an earlier send with the same key: nothing new was stored


# -- working time --------------------------------------------------------------------------------


def office_calendar(session: Session, office_id: int, start: date) -> OfficeCalendar:
    """The office's own hours (else the national default, else Mon-Fri 08-16) and holidays for a year."""
    rows = session.execute(
        select(WorkingHours.office_id, WorkingHours.weekday, WorkingHours.opens, WorkingHours.closes).where(
            or_(WorkingHours.office_id == office_id, WorkingHours.office_id.is_(None))
        )
    ).all()
    own = {r.weekday: (r.opens, r.closes) for r in rows if r.office_id == office_id}
    national = {r.weekday: (r.opens, r.closes) for r in rows if r.office_id is None}
    holidays = set(
        session.scalars(
            select(Holiday.day).where(
                or_(Holiday.office_id == office_id, Holiday.office_id.is_(None)),
                Holiday.day >= start,
                Holiday.day <= start + timedelta(days=366),
            )
        )
    )
    return OfficeCalendar(hours=own or national or DEFAULT_HOURS, holidays=frozenset(holidays))


def answer_due(session: Session, settings: Settings, office_id: int, since: datetime) -> datetime | None:
    calendar = office_calendar(session, office_id, since.date() - timedelta(days=1))
    return add_working_time(since, timedelta(hours=settings.first_response_hours), calendar)


# -- shared pieces -------------------------------------------------------------------------------


def _required_text(value: str, field: str, max_chars: int) -> str:
    """The text without surrounding white space; refused if nothing is left or it is too long."""
    text = value.strip()
    if not text:
        raise InvalidInput(f"Write the {field.replace('_', ' ')}: it is empty.", errors={field: ["empty"]})
    if len(text) > max_chars:
        raise InvalidInput(
            f"The {field.replace('_', ' ')} is at most {max_chars} characters.",
            errors={field: [f"at most {max_chars} characters"]},
        )
    return text


def _check_body(body: str, field: str = "body") -> str:
    return _required_text(body, field, MAX_BODY_CHARS)


def _attach(session: Session, message: Message, attachment_ids: list[int], uploader: Any) -> None:
    if not attachment_ids:
        return
    if len(attachment_ids) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise InvalidInput(
            f"At most {MAX_ATTACHMENTS_PER_MESSAGE} attachments per message.",
            errors={"attachment_ids": [f"at most {MAX_ATTACHMENTS_PER_MESSAGE}"]},
        )
    if len(set(attachment_ids)) != len(attachment_ids):
        raise InvalidInput("An attachment is listed twice.", errors={"attachment_ids": ["duplicate"]})
    # One statement, guarded by "not attached yet": two sends cannot take the same upload.
    claimed = affected_rows(
        session.execute(
            update(Attachment)
            .where(Attachment.id.in_(attachment_ids), uploader, Attachment.message_id.is_(None))
            .values(message_id=message.id)
            .execution_options(synchronize_session=False)
        )
    )
    if claimed != len(attachment_ids):
        raise InvalidInput(
            "An attachment does not exist, is not yours or is already sent with another message.",
            errors={"attachment_ids": ["unknown or already used"]},
        )


def upload_attachment(
    session: Session,
    settings: Settings,
    data: bytes,
    now: datetime,
    *,
    member_id: int | None = None,
    staff_id: int | None = None,
) -> Attachment:
    """Check and store an upload (images re-encoded); the same file uploaded again and not yet sent gives
    the same attachment. Uploads not yet sent count against the uploader's quota (files and bytes), checked
    with the uploader's row locked so that parallel uploads cannot pass it together."""
    uploader = (
        (Attachment.uploader_member_id == member_id)
        if member_id is not None
        else (Attachment.uploader_staff_id == staff_id)
    )
    check_window_limit(
        session,
        Attachment.created_at,
        uploader,
        settings.messages_per_minute * UPLOADS_PER_MINUTE_FACTOR,
        timedelta(minutes=1),
        now,
        "Too many uploads; wait a moment and try again.",
    )
    prepared = prepare_upload(data, settings.attachment_max_bytes, settings.upload_max_pixels)
    data = prepared.data
    sha256 = hashlib.sha256(data).hexdigest()
    # Decoding and re-encoding happen above, outside the lock; the quota check below is under it.
    _lock_uploader(session, Member if member_id is not None else StaffUser, member_id or staff_id)
    existing = session.scalars(
        select(Attachment).where(uploader, Attachment.sha256 == sha256, Attachment.message_id.is_(None))
    ).first()
    if existing is not None:
        existing.created_at = now  # uploaded again: not stale, and its file is touched below
        attachment_store(settings.attachment_dir).put(data)
        return existing
    _check_unsent_quota(session, settings, uploader, len(data), now)
    key = attachment_store(settings.attachment_dir).put(data)
    attachment = Attachment(
        uploader_member_id=member_id,
        uploader_staff_id=staff_id,
        content_type=prepared.content_type,
        size=len(data),
        sha256=sha256,
        storage_key=key,
        created_at=now,
    )
    session.add(attachment)
    session.flush()
    return attachment


def _lock_uploader(session: Session, model: type[Member] | type[StaffUser], uploader_id: int | None) -> None:
    """Serialise one uploader's uploads until commit. PostgreSQL: their row, locked FOR UPDATE. SQLite has
    no row locks, and pysqlite begins a transaction only at the first write: a write now takes the
    database's one write lock (waiting for another writer's commit) before the quota is counted."""
    if session.get_bind().dialect.name == "sqlite":
        table = model.__tablename__  # one of two fixed names, never input
        session.execute(text(f"UPDATE {table} SET id = id WHERE id = :id"), {"id": uploader_id})  # noqa: S608
    else:
        session.get(model, uploader_id, with_for_update=True)


def _check_unsent_quota(session: Session, settings: Settings, uploader: Any, size: int, now: datetime) -> None:
    """429 if one more file of ``size`` bytes would pass the uploader's quota of uploads not yet sent. They
    free up when sent, or when the purge removes them after LSSO_UNSENT_UPLOAD_MINUTES (Retry-After)."""
    count, total, oldest = session.execute(
        select(func.count(), func.coalesce(func.sum(Attachment.size), 0), func.min(Attachment.created_at)).where(
            uploader, Attachment.message_id.is_(None), _not_an_id_photo()
        )
    ).one()
    if count + 1 <= settings.unsent_uploads_max_files and total + size <= settings.unsent_uploads_max_bytes:
        return
    if oldest is None:  # nothing waiting: this one file alone is over the bytes quota (an image grown in re-encoding)
        raise PayloadTooLarge(
            f"The file is larger than {settings.unsent_uploads_max_bytes} bytes once stored.",
            errors={"file": [f"at most {settings.unsent_uploads_max_bytes} bytes"]},
        )
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
    expires = oldest + timedelta(minutes=settings.unsent_upload_minutes) + UPLOAD_PURGE_INTERVAL
    limits = {
        "files": settings.unsent_uploads_max_files,
        "bytes": settings.unsent_uploads_max_bytes,
        "unsent_files": count,
        "unsent_bytes": int(total),
    }
    raise TooManyRequests(
        f"You have {count} uploaded files not yet sent ({int(total)} bytes); at most "
        f"{settings.unsent_uploads_max_files} files and {settings.unsent_uploads_max_bytes} bytes may wait. "
        "Send them with a message, or wait until unsent files expire.",
        retry_after=int((expires - now).total_seconds()) + 1,
        errors={"file": ["unsent uploads quota reached"], "quota": limits},
        error=UNSENT_UPLOADS_QUOTA,
    )


def _not_an_id_photo() -> Any:
    """An upload a link request uses (an ID-card photo for an officer) is kept, though no message carries it."""
    return ~select(LinkRequest.id).where(LinkRequest.id_photo_attachment_id == Attachment.id).exists()


UPLOAD_PURGE_INTERVAL = timedelta(minutes=10)  # how often the worker removes expired unsent uploads


def purge_unsent_uploads(session: Session, settings: Settings, now: datetime, batch: int = 20_000) -> list[str]:
    """Delete upload rows never sent with a message within LSSO_UNSENT_UPLOAD_MINUTES (the worker runs this
    every UPLOAD_PURGE_INTERVAL); answer the storage keys no attachment uses any more, for
    ``remove_unused_files`` once this is committed."""
    cutoff = now - timedelta(minutes=settings.unsent_upload_minutes)
    stale = session.execute(
        select(Attachment.id, Attachment.storage_key)
        .where(Attachment.message_id.is_(None), Attachment.created_at < cutoff, _not_an_id_photo())
        .limit(batch)
    ).all()
    if not stale:
        return []
    # Still unsent: a send may have attached one since the select above.
    deleted = (
        session.execute(
            delete(Attachment)
            .where(Attachment.id.in_([row.id for row in stale]), Attachment.message_id.is_(None), _not_an_id_photo())
            .returning(Attachment.storage_key)
        )
        .scalars()
        .all()
    )
    keys = set(deleted)
    if not keys:
        return []
    still_used = set(session.scalars(select(Attachment.storage_key).where(Attachment.storage_key.in_(keys))))
    return sorted(keys - still_used)


def remove_unused_files(settings: Settings, keys: list[str], now: datetime) -> int:
    """Remove the files, except any uploaded again since the cutoff (a concurrent upload keeps its file)."""
    store = attachment_store(settings.attachment_dir)
    cutoff = (now - timedelta(minutes=settings.unsent_upload_minutes)).timestamp()
    return sum(store.delete_if_older(key, cutoff) for key in keys)


def read_attachment_bytes(settings: Settings, attachment: Attachment) -> bytes:
    return attachment_store(settings.attachment_dir).get(attachment.storage_key)


# -- members ---------------------------------------------------------------------------------------


def member_conversation(
    session: Session, member_id: int, conversation_id: int, for_update: bool = False
) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id, Conversation.member_id == member_id)
    conversation = session.scalars(query.with_for_update() if for_update else query).first()
    if conversation is None:
        raise NotFound("No such conversation.")
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
    subject, body = _required_text(subject, "subject", MAX_SUBJECT_CHARS), _check_body(body)
    member = session.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.")
    if office_code is not None:
        office_id = session.scalar(select(Office.id).where(Office.code == office_code))
        if office_id is None:
            raise InvalidInput(
                "There is no office with this code (see /api/v1/offices).", errors={"office_code": ["unknown office"]}
            )
    elif member.office_id is not None:
        office_id = member.office_id
    else:
        raise InvalidInput(
            "You have no office yet: choose one (office_code, see /api/v1/offices).",
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
            f"You already have {open_count} conversations in progress; write in one of them.",
            errors={"open_conversations": [f"at most {settings.max_open_conversations}"]},
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
    message = Message(
        conversation_id=conversation.id,
        member_id=member_id,
        body=body,
        idempotency_key=key,
        request_digest=digest,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    winner = store_once(session, Message, author, key, digest, "message")
    if winner is not None:
        return Posted(required(session, Conversation, winner.conversation_id, what="conversation"), winner, True)
    _attach(session, message, attachment_ids, Attachment.uploader_member_id == member_id)
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
    body = _check_body(body)
    _member_limits(session, settings, member_id, now)  # the member first: one lock order with start_conversation
    conversation = member_conversation(session, member_id, conversation_id, for_update=True)
    message = Message(
        conversation_id=conversation.id,
        member_id=member_id,
        body=body,
        idempotency_key=key,
        request_digest=digest,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    winner = store_once(session, Message, author, key, digest, "message")
    if winner is not None:
        return Posted(member_conversation(session, member_id, winner.conversation_id), winner, True)
    _attach(session, message, attachment_ids, Attachment.uploader_member_id == member_id)
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
    if after is not None:
        at, row_id = after
        query = query.where(
            or_(Conversation.last_message_at < at, and_(Conversation.last_message_at == at, Conversation.id < row_id))
        )
    return list(
        session.scalars(query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(limit))
    )


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
    if before_id is not None:
        query = query.where(Message.id < before_id)
    if updated_since is not None:
        query = query.where(Message.updated_at > updated_since)
    return list(session.scalars(query.order_by(Message.id.desc()).limit(limit)))


def attachments_of(session: Session, message_ids: list[int]) -> dict[int, list[Attachment]]:
    by_message: dict[int, list[Attachment]] = {mid: [] for mid in message_ids}
    if message_ids:
        for attachment in session.scalars(
            select(Attachment).where(Attachment.message_id.in_(message_ids)).order_by(Attachment.id)
        ):
            by_message[attachment.message_id or 0].append(attachment)
    return by_message


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


def member_attachment(session: Session, member_id: int, attachment_id: int) -> Attachment:
    """The member's own uploads, and files on messages the member can see in their conversations."""
    attachment = session.scalars(
        select(Attachment)
        .outerjoin(Message, Message.id == Attachment.message_id)
        .outerjoin(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Attachment.id == attachment_id,
            or_(
                and_(Attachment.message_id.is_(None), Attachment.uploader_member_id == member_id),
                and_(Conversation.member_id == member_id, Message.internal.is_(False)),
            ),
        )
    ).first()
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment


# -- staff -----------------------------------------------------------------------------------------


def staff_conversation(
    session: Session, staff: Principal, conversation_id: int, for_update: bool = False
) -> Conversation:
    query = select(Conversation).where(Conversation.id == conversation_id, Conversation.office_id == staff.office_id)
    conversation = session.scalars(query.with_for_update() if for_update else query).first()
    if conversation is None:  # another office's conversation is as invisible as a missing one
        raise NotFound("No such conversation in your office.")
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
    if after is not None:
        at, row_id = after
        query = query.where(
            or_(Conversation.last_message_at < at, and_(Conversation.last_message_at == at, Conversation.id < row_id))
        )
    return list(
        session.scalars(query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc()).limit(limit))
    )


def list_overdue(
    session: Session, staff: Principal, now: datetime, after: tuple[datetime, int] | None, limit: int
) -> list[Conversation]:
    """Open conversations past their due time, the longest overdue first."""
    query = select(Conversation).where(*_inbox_conditions(staff, InboxFilter(overdue=True), now))
    if after is not None:
        at, row_id = after
        query = query.where(
            or_(Conversation.reply_due_at > at, and_(Conversation.reply_due_at == at, Conversation.id > row_id))
        )
    return list(session.scalars(query.order_by(Conversation.reply_due_at, Conversation.id).limit(limit)))


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
    session: Session, staff: Principal, conversation_id: int, assignee: str | None, now: datetime
) -> Conversation:
    conversation = staff_conversation(session, staff, conversation_id, for_update=True)
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
                errors={"assignee": ["not an officer of your office"]},
            )
        conversation.assignee_id = target_id
    conversation.last_activity_at = now
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
        raise InvalidInput("Give either a body or a canned_reply_id.", errors={"body": ["body or canned_reply_id"]})
    if canned_reply_id is not None:
        canned = canned_reply(session, staff, canned_reply_id)
        member = session.get(Member, conversation.member_id)
        body = canned.body_en if member is not None and member.language is Language.ENGLISH else canned.body_lo
    body = _check_body(body or "")
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
    session.add(message)
    winner = store_once(session, Message, author, key, digest, "message")
    if winner is not None:
        return Posted(staff_conversation(session, staff, winner.conversation_id), winner, True)
    _attach(session, message, attachment_ids, Attachment.uploader_staff_id == staff.id)
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
) -> Conversation:
    conversation = staff_conversation(session, staff, conversation_id, for_update=True)
    if conversation.status is status:
        return conversation
    conversation.status = status
    if status is ConversationStatus.RESOLVED:
        conversation.resolved_at, conversation.reply_due_at = now, None
    else:  # reopened by staff: waiting for the office again
        conversation.resolved_at = None
        conversation.reply_due_at = answer_due(session, settings, conversation.office_id, now)
    conversation.updated_at = conversation.last_activity_at = now
    session.flush()
    return conversation


def staff_attachment(session: Session, staff: Principal, attachment_id: int) -> Attachment:
    attachment = session.scalars(
        select(Attachment)
        .outerjoin(Message, Message.id == Attachment.message_id)
        .outerjoin(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Attachment.id == attachment_id,
            or_(
                and_(Attachment.message_id.is_(None), Attachment.uploader_staff_id == staff.id),
                Conversation.office_id == staff.office_id,
            ),
        )
    ).first()
    if attachment is None:
        raise NotFound("No such attachment in your office.")
    return attachment


# -- canned replies ----------------------------------------------------------------------------------


def canned_reply(session: Session, staff: Principal, canned_id: int) -> CannedReply:
    canned = session.get(CannedReply, canned_id)
    if canned is None or canned.office_id != staff.office_id or not canned.active:
        raise NotFound("No such canned reply in your office.")
    return canned


def list_canned_replies(session: Session, staff: Principal, after_id: int | None, limit: int) -> list[CannedReply]:
    query = select(CannedReply).where(CannedReply.office_id == staff.office_id, CannedReply.active.is_(True))
    if after_id is not None:
        query = query.where(CannedReply.id > after_id)
    return list(session.scalars(query.order_by(CannedReply.id).limit(limit)))


def save_canned_reply(
    session: Session, staff: Principal, canned_id: int | None, title: str, body_lo: str, body_en: str, now: datetime
) -> CannedReply:
    if canned_id is None:
        canned = CannedReply(office_id=staff.office_id, created_by=staff.id, created_at=now)
        session.add(canned)
    else:
        canned = canned_reply(session, staff, canned_id)
    canned.title = _required_text(title, "title", MAX_TITLE_CHARS)
    canned.body_lo, canned.body_en = _check_body(body_lo, "body_lo"), _check_body(body_en, "body_en")
    canned.updated_at = now
    session.flush()
    return canned


def delete_canned_reply(session: Session, staff: Principal, canned_id: int, now: datetime) -> None:
    canned = canned_reply(session, staff, canned_id)
    canned.active = False  # kept: sent messages refer to it
    canned.updated_at = now


# -- calendars (admins) ---------------------------------------------------------------------------------


def office_by_code(session: Session, code: str) -> Office:
    office = session.scalars(select(Office).where(Office.code == code)).first()
    if office is None:
        raise NotFound("No office with this code.")
    return office


def working_hours(session: Session, office_id: int | None) -> list[WorkingHours]:
    owner = WorkingHours.office_id == office_id if office_id is not None else WorkingHours.office_id.is_(None)
    return list(session.scalars(select(WorkingHours).where(owner).order_by(WorkingHours.weekday)))


def replace_working_hours(
    session: Session, office_id: int | None, days: list[tuple[int, time, time]]
) -> list[WorkingHours]:
    """The whole week at once; an office given no days falls back to the national hours."""
    weekdays = [d for d, _, _ in days]
    if len(set(weekdays)) != len(weekdays):
        raise InvalidInput("Each weekday at most once.", errors={"days": ["duplicate weekday"]})
    if any(closes <= opens for _, opens, closes in days):
        raise InvalidInput("Closing time must be after opening time.", errors={"days": ["closes before opens"]})
    if office_id is None and not days:
        raise InvalidInput("The national default needs at least one open day.", errors={"days": ["empty"]})
    owner = WorkingHours.office_id == office_id if office_id is not None else WorkingHours.office_id.is_(None)
    session.execute(delete(WorkingHours).where(owner))
    session.add_all([WorkingHours(office_id=office_id, weekday=d, opens=o, closes=c) for d, o, c in days])
    session.flush()
    return working_hours(session, office_id)


def list_holidays(session: Session, year: int | None, after_id: int | None, limit: int) -> list[Holiday]:
    query = select(Holiday)
    if year is not None:
        query = query.where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
    if after_id is not None:
        query = query.where(Holiday.id > after_id)
    return list(session.scalars(query.order_by(Holiday.id).limit(limit)))


def add_holiday(session: Session, office_id: int | None, day: date, name_lo: str, name_en: str) -> Holiday:
    owner = Holiday.office_id == office_id if office_id is not None else Holiday.office_id.is_(None)
    if session.scalar(select(Holiday.id).where(owner, Holiday.day == day)) is not None:
        raise Conflict("This day is already a holiday here.")
    holiday = Holiday(
        office_id=office_id,
        day=day,
        name_lo=_required_text(name_lo, "name_lo", MAX_TITLE_CHARS),
        name_en=_required_text(name_en, "name_en", MAX_TITLE_CHARS),
    )
    session.add(holiday)
    session.flush()
    return holiday


def delete_holiday(session: Session, holiday_id: int) -> None:
    holiday = session.get(Holiday, holiday_id)
    if holiday is None:
        raise NotFound("No such holiday.")
    session.delete(holiday)
