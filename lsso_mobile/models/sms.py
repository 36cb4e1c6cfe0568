"""The SMS outbox: every SMS other than a sign-in code is a row here before it is a job."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, utcnow


class SmsMessage(Base):
    """One SMS to one phone. The job queue holds only the row's id; the text waits here sealed (AES-GCM
    under a key derived from the secret key, bound to the row) and is wiped once the gateway took it."""

    __tablename__ = "sms_messages"
    __table_args__ = (Index("ix_sms_messages_unsent", "sent_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))  # what it is about: link_code, record_linked, ...
    sealed_text: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]  # not worth sending after (a link code's SMS)
    claimed_at: Mapped[datetime | None]  # a job is sending it since then (so a relayed copy does not)
    sent_at: Mapped[datetime | None]
