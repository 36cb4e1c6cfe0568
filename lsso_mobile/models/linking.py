"""Linking an app account to an existing insured person: codes sent to the phone on record,
failed attempts counted per record, officer-verified link requests, and the history of links."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lsso_mobile.models.base import Base, str_enum, utcnow
from lsso_mobile.models.people import InsuredPerson, StaffUser


class LinkChallenge(Base):
    """A code sent to the phone on record of one insured person, usable only by the account that asked."""

    __tablename__ = "link_challenges"
    __table_args__ = (
        Index("ix_link_challenges_person_created", "insured_person_id", "created_at"),
        Index("ix_link_challenges_member_created", "member_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"))
    code_hash: Mapped[str] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None]


class LinkFailure(Base):
    """One failed link attempt (unknown number, wrong birth date, wrong code), counted per member number."""

    __tablename__ = "link_failures"
    __table_args__ = (
        Index("ix_link_failures_number_created", "member_number", "created_at"),
        Index("ix_link_failures_member_created", "member_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_number: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkRequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class LinkRequest(Base):
    """A link an officer of the person's office verifies, from an ID-card photo the member uploaded."""

    __tablename__ = "link_requests"
    __table_args__ = (Index("ix_link_requests_office_status", "office_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"))  # the person's office
    status: Mapped[LinkRequestStatus] = mapped_column(str_enum(LinkRequestStatus, 16))
    id_photo_attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id"), unique=True)
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    insured_person: Mapped[InsuredPerson] = relationship(lazy="selectin")
    decider: Mapped[StaffUser | None] = relationship(lazy="selectin")

    @property
    def decided_by_name(self) -> str | None:
        """The deciding officer's name (None while pending)."""
        return self.decider.name if self.decider is not None else None


class LinkAction(enum.StrEnum):
    LINKED = "linked"
    UNLINKED = "unlinked"


class LinkMethod(enum.StrEnum):
    CODE = "code"  # a code sent to the phone on record
    OFFICER = "officer"  # an officer verified a link request
    REGISTRATION = "registration"  # the account's own approved registration
    STAFF = "staff"  # an officer unlinked


class LinkEvent(Base):
    """The history of who held an insured person's record in the app, and who changed it."""

    __tablename__ = "link_events"
    __table_args__ = (Index("ix_link_events_person", "insured_person_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    action: Mapped[LinkAction] = mapped_column(str_enum(LinkAction, 16))
    method: Mapped[LinkMethod] = mapped_column(str_enum(LinkMethod, 16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    link_request_id: Mapped[int | None] = mapped_column(ForeignKey("link_requests.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
