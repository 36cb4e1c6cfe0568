"""Members (app accounts), insured persons (the LSSO register) and staff users."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, str_enum, utcnow


class Language(enum.StrEnum):
    LAO = "lo"
    ENGLISH = "en"


class Scheme(enum.StrEnum):
    COMPULSORY = "compulsory"
    VOLUNTARY = "voluntary"


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"


class IdType(enum.StrEnum):
    """A national ID card number is one person's; a family-book number is shared by a household."""

    NATIONAL_ID = "national_id"
    FAMILY_BOOK = "family_book"


NATIONAL_ID_ONLY = "id_type = 'national_id'"


class InsuredPerson(Base):
    """A person on the LSSO register, with a member number; may or may not use the app."""

    __tablename__ = "insured_persons"
    __table_args__ = (
        # One person, one member number: a national ID (normalised) is insured at most once.
        Index(
            "uq_insured_persons_national_id",
            "national_id",
            unique=True,
            postgresql_where=text(NATIONAL_ID_ONLY),
            sqlite_where=text(NATIONAL_ID_ONLY),
        ),
        Index("ix_insured_persons_id_lookup", "id_type", "national_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_number: Mapped[str] = mapped_column(String(16), unique=True)
    name_lo: Mapped[str] = mapped_column(String(200))
    name_latin: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date]
    sex: Mapped[Sex] = mapped_column(str_enum(Sex, 8))
    national_id: Mapped[str] = mapped_column(String(32))  # normalised: see services/identity.py
    id_type: Mapped[IdType] = mapped_column(str_enum(IdType, 16), default=IdType.NATIONAL_ID)
    scheme: Mapped[Scheme] = mapped_column(str_enum(Scheme, 16))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    province_code: Mapped[str] = mapped_column(ForeignKey("provinces.code"))
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))
    village_code: Mapped[str | None] = mapped_column(ForeignKey("villages.code"))
    employer_name: Mapped[str | None] = mapped_column(String(200))
    employer_registration_no: Mapped[str | None] = mapped_column(String(32))
    # The phone on record (E.164), from the core register: link codes and link notices go here.
    phone: Mapped[str | None] = mapped_column(String(16), index=True)  # SMS look-ups come from it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]


class Member(Base):
    """An app account, identified by its phone number (E.164)."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(200))
    language: Mapped[Language] = mapped_column(str_enum(Language, 4), default=Language.LAO)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), index=True)
    insured_person_id: Mapped[int | None] = mapped_column(ForeignKey("insured_persons.id"), unique=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StaffRole(enum.StrEnum):
    OFFICER = "officer"
    PROMOTER = "promoter"  # a field registrar bound to one district (district_code)
    OPS = "ops"
    ADMIN = "admin"


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, 16))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), index=True)
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))  # promoters only
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Account administration (services/staff_accounts.py): a reset password must be changed before anything
    # else works; a second factor is TOTP (RFC 6238) with its secret sealed (AES-GCM) at rest.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    second_factor_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    totp_secret_sealed: Mapped[str | None] = mapped_column(String(200))
    totp_confirmed_at: Mapped[datetime | None]  # None: no second factor yet (or an enrolment not confirmed)
    totp_last_step: Mapped[int | None]  # the last accepted time step: a code works once
    disabled_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]

    @property
    def name(self) -> str:
        """The name members and colleagues see for this officer's decisions and messages."""
        return self.display_name.strip() or self.username
