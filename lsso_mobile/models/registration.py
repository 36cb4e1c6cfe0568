"""Registration applications for social security and their decision history."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lsso_mobile.models.base import Base, str_enum, utcnow
from lsso_mobile.models.people import IdType, InsuredPerson, Scheme, Sex, StaffUser


class ApplicationStatus(enum.StrEnum):
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # registered in the field; the person has not confirmed
    SUBMITTED = "submitted"
    MORE_INFO_NEEDED = "more_info_needed"
    APPROVED = "approved"
    REJECTED = "rejected"


class RegistrationApplication(Base):
    __tablename__ = "registration_applications"
    __table_args__ = (
        UniqueConstraint("registered_by_staff_id", "device_record_id", name="uq_registration_applications_device"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a person registered in the field who has no app account (yet).
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    status: Mapped[ApplicationStatus] = mapped_column(str_enum(ApplicationStatus, 24), index=True)
    name_lo: Mapped[str] = mapped_column(String(200))
    name_latin: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date]
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, 8))
    national_id: Mapped[str] = mapped_column(String(32), index=True)  # normalised
    id_type: Mapped[IdType] = mapped_column(str_enum(IdType, 16), default=IdType.NATIONAL_ID)
    province_code: Mapped[str] = mapped_column(ForeignKey("provinces.code"))
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"))
    village_code: Mapped[str | None] = mapped_column(ForeignKey("villages.code"))
    occupation: Mapped[str] = mapped_column(String(200))
    scheme: Mapped[Scheme] = mapped_column(str_enum(Scheme, 16))
    declared_monthly_income: Mapped[int]
    consent: Mapped[bool]
    insured_person_id: Mapped[int | None] = mapped_column(ForeignKey("insured_persons.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # reports: per week
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Field registration: who registered the person (a promoter or an officer), the device's id of the record
    # (a resent batch finds it), the person's own phone (None: no phone, an officer attests in person), how the
    # person confirmed (code / officer) and the confirmation code's keyed hash while it waits.
    registered_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    device_record_id: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(16))
    confirmation: Mapped[str | None] = mapped_column(String(16))
    confirmed_at: Mapped[datetime | None]
    attested_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    confirm_code_hash: Mapped[str | None] = mapped_column(String(64))
    confirm_code_expires_at: Mapped[datetime | None]
    confirm_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # The first payment taken in cash at registration, as the registrar recorded it. A seam only: nothing is
    # credited here; the payments flow credits it (see README, Field registration).
    first_payment_kip: Mapped[int | None]
    first_payment_receipt: Mapped[str | None] = mapped_column(String(32))

    # Loaded with the application (one extra query per page, not one per row) for staff lists.
    events: Mapped[list[RegistrationEvent]] = relationship(
        back_populates="application",
        order_by="RegistrationEvent.id",
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    insured_person: Mapped[InsuredPerson | None] = relationship(lazy="selectin")
    registered_by: Mapped[StaffUser | None] = relationship(foreign_keys=[registered_by_staff_id], lazy="selectin")

    @property
    def registered_by_name(self) -> str | None:
        return self.registered_by.name if self.registered_by is not None else None

    @property
    def registered_by_role(self) -> str | None:
        return self.registered_by.role.value if self.registered_by is not None else None


class RegistrationEvent(Base):
    """One step of an application's history: submitted, resubmitted or a staff decision."""

    __tablename__ = "registration_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("registration_applications.id"), index=True)
    status: Mapped[ApplicationStatus] = mapped_column(str_enum(ApplicationStatus, 24))
    reason: Mapped[str | None] = mapped_column(Text)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[RegistrationApplication] = relationship(back_populates="events")
    staff: Mapped[StaffUser | None] = relationship(lazy="selectin")

    @property
    def decided_by_name(self) -> str | None:
        """The deciding officer's name (None for the member's own steps)."""
        return self.staff.name if self.staff is not None else None
