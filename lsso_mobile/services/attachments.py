"""Files members and staff attach to messages: checked uploads under a quota, who may read which
file, and the purge of uploads never sent."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import InvalidInput, NotFound, PayloadTooLarge, TooManyRequests
from lsso_mobile.extensions import affected_rows
from lsso_mobile.models import (
    Attachment,
    Conversation,
    FieldPhoto,
    LinkRequest,
    Member,
    Message,
    StaffUser,
)
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.files import prepare_upload, store_for
from lsso_mobile.services.limits import check_window_limit

MAX_ATTACHMENTS_PER_MESSAGE = 3


UPLOADS_PER_MINUTE_FACTOR = 3  # uploads per minute = this x messages per minute


UNSENT_UPLOADS_QUOTA = "unsent_uploads_quota"  # the error code of a refused upload over the quota


def attach_uploads(session: Session, message: Message, attachment_ids: list[int], uploader: Any) -> None:
    if not attachment_ids:
        return
    if len(attachment_ids) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise InvalidInput(
            "At most {max} attachments per message.",
            error="too_many_attachments",
            params={"max": MAX_ATTACHMENTS_PER_MESSAGE},
            errors={"attachment_ids": [f"At most {MAX_ATTACHMENTS_PER_MESSAGE} items."]},
        )
    if len(set(attachment_ids)) != len(attachment_ids):
        raise InvalidInput(
            "An attachment is listed twice.", error="attachment_duplicate", errors={"attachment_ids": ["Listed twice."]}
        )
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
            error="attachment_unavailable",
            errors={"attachment_ids": ["Unknown or already used."]},
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
        "too_many_uploads",
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
        store_for(settings).put(data)
        return existing
    _check_unsent_quota(session, settings, uploader, len(data), now)
    key = store_for(settings).put(data)
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
            "The file is larger than {max_bytes} bytes once stored.",
            error="file_too_large",
            params={"max_bytes": settings.unsent_uploads_max_bytes},
            errors={"file": [f"At most {settings.unsent_uploads_max_bytes} bytes."]},
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
        "You have {unsent_files} uploaded files not yet sent ({unsent_bytes} bytes); at most {files} files and "
        "{bytes} bytes may wait. Send them with a message, or wait until unsent files expire.",
        retry_after=int((expires - now).total_seconds()) + 1,
        params=limits,
        errors={"file": ["Too many uploaded files are waiting to be sent."]},
        error=UNSENT_UPLOADS_QUOTA,
    )


def _not_an_id_photo() -> Any:
    """An upload a link request uses (an ID-card photo for an officer) is kept, though no message carries it; so
    is an ID photo from the field (it has its own daily limit, see services/field_registrations.py)."""
    return and_(
        ~select(LinkRequest.id).where(LinkRequest.id_photo_attachment_id == Attachment.id).exists(),
        ~select(FieldPhoto.id).where(FieldPhoto.attachment_id == Attachment.id).exists(),
    )


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
    store = store_for(settings)
    cutoff = (now - timedelta(minutes=settings.unsent_upload_minutes)).timestamp()
    return sum(store.delete_if_older(key, cutoff) for key in keys)


def read_attachment_bytes(settings: Settings, attachment: Attachment) -> bytes:
    return store_for(settings).get(attachment.storage_key)


def stream_attachment(settings: Settings, attachment: Attachment) -> Iterator[bytes]:
    """The file in pieces (64 KB), for a download that never holds the whole file."""
    return store_for(settings).open(attachment.storage_key)


def attachments_of(session: Session, message_ids: list[int]) -> dict[int, list[Attachment]]:
    by_message: dict[int, list[Attachment]] = {mid: [] for mid in message_ids}
    if message_ids:
        for attachment in session.scalars(
            select(Attachment).where(Attachment.message_id.in_(message_ids)).order_by(Attachment.id)
        ):
            by_message[attachment.message_id or 0].append(attachment)
    return by_message


def _readable_attachment(
    session: Session, attachment_id: int, readable: ColumnElement[bool], missing: str
) -> Attachment:
    attachment = session.scalars(
        select(Attachment)
        .outerjoin(Message, Message.id == Attachment.message_id)
        .outerjoin(Conversation, Conversation.id == Message.conversation_id)
        .where(Attachment.id == attachment_id, readable)
    ).first()
    if attachment is None:
        raise NotFound(missing, error="attachment_not_found")
    return attachment


def member_attachment(session: Session, member_id: int, attachment_id: int) -> Attachment:
    """The member's own uploads, and files on messages the member can see in their conversations."""
    readable = or_(
        and_(Attachment.message_id.is_(None), Attachment.uploader_member_id == member_id),
        and_(Conversation.member_id == member_id, Message.internal.is_(False)),
    )
    return _readable_attachment(session, attachment_id, readable, "No such attachment.")


def staff_attachment(session: Session, staff: Principal, attachment_id: int) -> Attachment:
    """The officer's own uploads, and files on any message of the office's conversations."""
    readable = or_(
        and_(Attachment.message_id.is_(None), Attachment.uploader_staff_id == staff.id),
        Conversation.office_id == staff.office_id,
    )
    return _readable_attachment(session, attachment_id, readable, "No such attachment in your office.")
