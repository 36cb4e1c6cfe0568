"""Registration applications for social security and their decision history."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lsso_mobile.models.base import Base, str_enum, utcnow
from lsso_mobile.models.people import IdType, InsuredPerson, Scheme, Sex, StaffUser


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    MORE_INFO_NEEDED = "more_info_needed"
    APPROVED = "approved"
    REJECTED = "rejected"


class RegistrationApplication(Base):
    __tablename__ = "registration_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
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

    # Loaded with the application (one extra query per page, not one per row) for staff lists.
    events: Mapped[list[RegistrationEvent]] = relationship(
        back_populates="application",
        order_by="RegistrationEvent.id",
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    insured_person: Mapped[InsuredPerson | None] = relationship(lazy="selectin")


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
