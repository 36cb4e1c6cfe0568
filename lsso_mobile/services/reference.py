"""Reference data: districts, villages and district offices from CSV; the office serving an area.

The 18 provinces and their provincial offices ship with the migrations (0002).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import InvalidInput, NotFound
from lsso_mobile.models import District, Office, OfficeLevel, Province, Village

SAMPLE_AREAS_CSV = Path(__file__).resolve().parent.parent / "data" / "sample_areas.csv"
AREA_CSV_COLUMNS = ("kind", "code", "parent_code", "name_lo", "name_en", "has_office")


@dataclass(frozen=True)
class AreaImportResult:
    districts: int
    villages: int
    offices: int


def import_areas(session: Session, rows: Iterable[dict[str, str]]) -> AreaImportResult:
    """Upsert districts and villages from CSV rows; ``has_office=yes`` on a district opens a district office.

    Columns: kind (district|village), code, parent_code (province code for a district, district code
    for a village), name_lo, name_en, has_office. A bad row stops the import with its line number.
    """
    districts = villages = offices = 0
    provinces = set(session.scalars(select(Province.code)))
    for line, row in enumerate(rows, start=2):
        kind = (row.get("kind") or "").strip()
        code, parent = (row.get("code") or "").strip(), (row.get("parent_code") or "").strip()
        name_lo, name_en = (row.get("name_lo") or "").strip(), (row.get("name_en") or "").strip()
        if not (code and parent and name_lo and name_en):
            raise InvalidInput(
                "line {line}: code, parent_code, name_lo and name_en are required",
                error="reference_row_incomplete",
                params={"line": line},
            )
        if kind == "district":
            if parent not in provinces or len(code) != 4 or not code.startswith(parent):
                raise InvalidInput(
                    "line {line}: district {code} does not fit province {parent}",
                    error="reference_district_mismatch",
                    params={"line": line, "code": code, "parent": parent},
                )
            district = session.get(District, code) or District(code=code, province_code=parent)
            district.name_lo, district.name_en = name_lo, name_en
            session.add(district)
            districts += 1
            if (row.get("has_office") or "").strip().lower() in ("yes", "true", "1"):
                session.flush()
                if session.scalar(select(Office.id).where(Office.district_code == code)) is None:
                    session.add(
                        Office(
                            code=f"D{code}",
                            level=OfficeLevel.DISTRICT,
                            province_code=parent,
                            district_code=code,
                            name_lo=f"ຫ້ອງການປະກັນສັງຄົມ {name_lo}",
                            name_en=f"{name_en} District Social Security Office",
                        )
                    )
                    offices += 1
        elif kind == "village":
            session.flush()
            if session.get(District, parent) is None:
                raise InvalidInput(
                    "line {line}: village {code} names unknown district {parent}",
                    error="reference_unknown_district",
                    params={"line": line, "code": code, "parent": parent},
                )
            village = session.get(Village, code) or Village(code=code, district_code=parent)
            village.name_lo, village.name_en = name_lo, name_en
            session.add(village)
            villages += 1
        else:
            raise InvalidInput(
                "line {line}: kind must be district or village, not {kind}",
                error="reference_kind_invalid",
                params={"line": line, "kind": kind},
            )
    session.flush()
    return AreaImportResult(districts, villages, offices)


def import_areas_file(session: Session, path: Path) -> AreaImportResult:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = set(AREA_CSV_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise InvalidInput(
                "{file}: missing columns {columns}",
                error="reference_columns_missing",
                params={"file": path.name, "columns": ", ".join(sorted(missing))},
            )
        return import_areas(session, reader)


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
