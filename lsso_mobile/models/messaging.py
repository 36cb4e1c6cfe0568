"""Member-office messaging: conversations, their messages and attachments, canned replies, and the
working hours and public holidays that first-response due times are counted in."""

from __future__ import annotations

import enum
from datetime import date, datetime, time

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, str_enum, utcnow


class ConversationStatus(enum.StrEnum):
    OPEN = "open"  # waiting for the office
    PENDING = "pending"  # the office answered; waiting for the member
    RESOLVED = "resolved"


class ConversationCategory(enum.StrEnum):
    CONTRIBUTIONS = "contributions"
    CLAIMS = "claims"
    REGISTRATION = "registration"
    OTHER = "other"


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_member_last", "member_id", "last_message_at", "id"),
        Index("ix_conversations_member_updated", "member_id", "updated_at"),
        Index("ix_conversations_office_status_last", "office_id", "status", "last_message_at"),
        Index("ix_conversations_office_due", "office_id", "status", "reply_due_at"),
        Index("ix_conversations_office_resolved", "office_id", "resolved_at"),
        Index("ix_conversations_created_at", "created_at"),  # reports: first responses by office
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    category: Mapped[ConversationCategory] = mapped_column(str_enum(ConversationCategory, 16))
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[ConversationStatus] = mapped_column(str_enum(ConversationStatus, 16))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    # The first answer's due time (kept for reporting) and when it came.
    first_response_due_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    # When the answer the member is waiting for now is due; None unless open.
    reply_due_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)  # messages the member sees
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)  # anything, internal notes too
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Member-visible changes only (new messages, read receipts, status): drives the app's delta sync.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class Message(Base):
    """A message by the member or by staff; ``internal`` notes are for staff only."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id", "conversation_id", "id"),
        Index("ix_messages_conversation_updated", "conversation_id", "updated_at"),
        Index("ix_messages_member_created", "member_id", "created_at"),  # the per-minute limit
        # A retried send (same client key) is found here, and two racing retries cannot both insert.
        UniqueConstraint("member_id", "idempotency_key", name="uq_messages_member_key"),
        UniqueConstraint("staff_id", "idempotency_key", name="uq_messages_staff_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))  # author, if the member
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))  # author, if staff
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text)
    canned_reply_id: Mapped[int | None] = mapped_column(ForeignKey("canned_replies.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(36))
    request_digest: Mapped[str | None] = mapped_column(String(64))  # what the key was first used for
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]  # by the other side
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """An uploaded file (JPEG, PNG or PDF, checked by content); attached to at most one message."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_member_sha", "uploader_member_id", "sha256"),
        Index("ix_attachments_member_created", "uploader_member_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    uploader_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    uploader_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(32))  # sniffed from the bytes, never the client's
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CannedReply(Base):
    """A prepared answer of one office, in Lao and English."""

    __tablename__ = "canned_replies"
    __table_args__ = (Index("ix_canned_replies_office_active", "office_id", "active", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))
    title: Mapped[str] = mapped_column(String(200))
    body_lo: Mapped[str] = mapped_column(Text)
    body_en: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkingHours(Base):
    """Opening hours for one weekday (0 = Monday), Asia/Vientiane time. ``office_id`` None: the national
    default, used by every office that has no rows of its own. A weekday without a row is closed."""

    __tablename__ = "working_hours"
    __table_args__ = (UniqueConstraint("office_id", "weekday", name="uq_working_hours_office_weekday"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time]
    closes: Mapped[time]


class Holiday(Base):
    """A day offices are closed: national (``office_id`` None) or for one office only."""

    __tablename__ = "holidays"
    __table_args__ = (
        UniqueConstraint("office_id", "day", name="uq_holidays_office_day"),
        Index("ix_holidays_day", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    day: Mapped[date]
    name_lo: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
