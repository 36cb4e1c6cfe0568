"""The SMS outbox: every SMS other than a sign-in code is a row here before it is a job; and the SMS
members send us (look-ups)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, utcnow


class SmsMessage(Base):
    """One SMS to one phone. The job queue holds only the row's id; the text waits here sealed (AES-GCM
    under a key derived from the secret key, bound to the row) and is wiped once the gateway took it."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        Index("ix_sms_messages_unsent", "sent_at", "created_at"),
        Index("ix_sms_messages_created_at", "created_at"),
        Index("ix_sms_messages_member_created", "member_id", "created_at"),
        Index("ix_sms_messages_gateway_message_id", "gateway_message_id"),
        # Exactly once: one SMS per notice, one per (broadcast, member), whatever runs twice.
        Index(
            "uq_sms_messages_notification_id",
            "notification_id",
            unique=True,
            postgresql_where=text("notification_id IS NOT NULL"),
            sqlite_where=text("notification_id IS NOT NULL"),
        ),
        Index(
            "uq_sms_messages_broadcast_member",
            "broadcast_id",
            "member_id",
            unique=True,
            postgresql_where=text("broadcast_id IS NOT NULL"),
            sqlite_where=text("broadcast_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))  # what it is about: link_code, record_linked, notice, ...
    sealed_text: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]  # not worth sending after (a link code's SMS)
    claimed_at: Mapped[datetime | None]  # a job is sending it since then (so a relayed copy does not)
    sent_at: Mapped[datetime | None]
    # What it cost and what it was for (the SMS cost report), and what the gateway said about it.
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    category: Mapped[str | None] = mapped_column(String(32))
    encoding: Mapped[str] = mapped_column(String(8), default="gsm7", server_default="gsm7")  # gsm7 | ucs2
    parts: Mapped[int] = mapped_column(default=1, server_default="1")
    gateway_message_id: Mapped[str | None] = mapped_column(String(64))
    report_status: Mapped[str | None] = mapped_column(String(16))  # delivered | failed | expired | ...
    report_error: Mapped[str | None] = mapped_column(String(32))
    reported_at: Mapped[datetime | None]


class InboundSms(Base):
    """An SMS a phone sent to the service's number (a look-up). Its text is not kept: only the keyword."""

    __tablename__ = "inbound_sms"
    __table_args__ = (Index("ix_inbound_sms_phone_received", "phone", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_message_id: Mapped[str] = mapped_column(String(64), unique=True)  # a retried webhook counts once
    phone: Mapped[str] = mapped_column(String(32))
    keyword: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))  # answered | refused | limited
    reply_sms_id: Mapped[int | None] = mapped_column(ForeignKey("sms_messages.id"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
