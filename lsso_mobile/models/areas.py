"""Administrative areas of the Lao PDR and the social security offices that serve them."""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, str_enum


class Province(Base):
    __tablename__ = "provinces"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name_lo: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class District(Base):
    __tablename__ = "districts"

    code: Mapped[str] = mapped_column(String(4), primary_key=True)
    province_code: Mapped[str] = mapped_column(ForeignKey("provinces.code"), index=True)
    name_lo: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class Village(Base):
    __tablename__ = "villages"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"), index=True)
    name_lo: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class OfficeLevel(enum.StrEnum):
    PROVINCIAL = "provincial"
    DISTRICT = "district"


class Office(Base):
    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    level: Mapped[OfficeLevel] = mapped_column(str_enum(OfficeLevel, 16))
    province_code: Mapped[str] = mapped_column(ForeignKey("provinces.code"), index=True)
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"), unique=True)
    name_lo: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
