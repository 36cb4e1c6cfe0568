"""Reference data: districts, villages and district offices from CSV; the office serving an area.

The 18 provinces and their provincial offices ship with the migrations (0002).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import NotFound
from lsso_mobile.models import District, Office, OfficeLevel, Province, Village
from lsso_mobile.services.area_csv import write_area_import

SAMPLE_AREAS_CSV = Path(__file__).resolve().parent.parent / "data" / "sample_areas.csv"


@dataclass(frozen=True)
class AreaImportResult:
    districts: int  # rows of each kind in the file
    villages: int
    offices: int  # district offices opened


def import_areas_file(session: Session, path: Path) -> AreaImportResult:
    """Load an areas CSV file in the caller's unit of work (``services.area_csv``; a bad row stops it).
    For seeding (the demo, tests, benchmarks): not audited; people import with the CLI or the console."""
    plan = write_area_import(session, path.read_bytes())
    counts = plan.counts
    return AreaImportResult(
        districts=sum(counts["district"].values()),
        villages=sum(counts["village"].values()),
        offices=counts["office"]["create"],
    )


def office_for_area(session: Session, province_code: str, district_code: str | None) -> Office:
    """The district office where there is one, else the provincial office."""
    if district_code:
        office = session.scalars(select(Office).where(Office.district_code == district_code)).first()
        if office is not None:
            return office
    office = session.scalars(
        select(Office).where(Office.province_code == province_code, Office.level == OfficeLevel.PROVINCIAL)
    ).first()
    if office is None:
        raise NotFound(
            "No social security office serves province {province}.",
            error="no_office_for_province",
            params={"province": province_code},
        )
    return office


def list_provinces(session: Session) -> list[Province]:
    """Every province, by code."""
    return list(session.scalars(select(Province).order_by(Province.code)))


def districts_of(session: Session, province_code: str) -> list[District]:
    """The province's districts, by code; NotFound for an unknown province."""
    if len(province_code) != 2 or session.get(Province, province_code) is None:
        raise NotFound("Unknown province.", error="unknown_province")
    return list(
        session.scalars(select(District).where(District.province_code == province_code).order_by(District.code))
    )


def villages_of(session: Session, district_code: str) -> list[Village]:
    """The district's villages, by code; NotFound for an unknown district."""
    if len(district_code) != 4 or session.get(District, district_code) is None:
        raise NotFound("Unknown district.", error="unknown_district")
    return list(session.scalars(select(Village).where(Village.district_code == district_code).order_by(Village.code)))


def list_offices(session: Session) -> list[Office]:
    """Every provincial and district office, by code."""
    return list(session.scalars(select(Office).order_by(Office.code)))


def list_districts(session: Session) -> list[District]:
    """Every district, by code (a province's districts together): about 150 in the country."""
    return list(session.scalars(select(District).order_by(District.code)))
