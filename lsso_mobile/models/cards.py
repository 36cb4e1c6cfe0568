"""Member cards (signed tokens shown as a QR) and the ID photos a field registrar uploads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, utcnow


class MemberCard(Base):
    """One issued card. A person's current card is the newest one neither replaced nor revoked; a card is
    replaced when what it says changes (status, paid-to month, name) and revoked when reported lost (or
    when a replacement's status differs: the old card would keep claiming the old status)."""

    __tablename__ = "member_cards"
    __table_args__ = (
        Index("ix_member_cards_person_current", "insured_person_id", "id"),
        Index("ix_member_cards_revoked", "revoked_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[str] = mapped_column(String(16), unique=True)  # hex of the token's cti
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"))
    kid: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    paid_to: Mapped[str | None] = mapped_column(String(7))
    fingerprint: Mapped[str] = mapped_column(String(64))  # digest of what the card says
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    replaced_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(200))
    revoked_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))


class FieldPhoto(Base):
    """An ID-document photo a promoter or officer uploaded from the field, named by the device's own id so
    that sending it again stores nothing twice; a field registration refers to it by that id."""

    __tablename__ = "field_photos"
    __table_args__ = (UniqueConstraint("staff_id", "device_photo_id", name="uq_field_photos_staff_device"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    device_photo_id: Mapped[str] = mapped_column(String(64))
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("registration_applications.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
