"""The register of insured persons, loaded in bulk from the LSSO core system.

Idempotent by member number: a record is created, updated (only the fields that changed) or left
unchanged; each bad record is reported with its line number, the good ones are stored. Phone numbers
on record are normalised to E.164: link codes and link notices go to them. National ID numbers are
normalised and one national ID is insured under one member number only.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from marshmallow import ValidationError, fields, post_load, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import DomainError
from lsso_mobile.models import District, IdType, InsuredPerson, Office, Province, Scheme, Sex, Village
from lsso_mobile.notify.preferences import VIENTIANE
from lsso_mobile.services.core_import import MEMBER_NUMBER, ImportRecordSchema, ImportResult
from lsso_mobile.services.identity import normalise_id_number
from lsso_mobile.services.phones import normalise_lao_mobile
from lsso_mobile.services.reference import office_for_area
from lsso_mobile.validation import FullMatch

INSURED_PERSON_FIELDS = (
    "member_number",
    "name_lo",
    "name_latin",
    "date_of_birth",
    "sex",
    "id_type",
    "national_id",
    "province_code",
    "district_code",
    "village_code",
    "office_code",
    "scheme",
    "employer_name",
    "employer_registration_no",
    "phone",
)
STORED_FIELDS = tuple(f for f in INSURED_PERSON_FIELDS if f not in ("member_number", "office_code")) + ("office_id",)


class InsuredPersonRecordSchema(ImportRecordSchema):
    member_number = fields.String(
        required=True,
        validate=FullMatch(MEMBER_NUMBER, error="Expected 10 digits."),
        metadata={"description": "The person's member number (10 digits): the key of the register"},
    )
    name_lo = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"description": "Name in Lao script"}
    )
    name_latin = fields.String(
        required=True, validate=validate.Length(min=1, max=200), metadata={"description": "Name in Latin letters"}
    )
    date_of_birth = fields.Date(
        required=True, metadata={"description": "Date of birth (YYYY-MM-DD); members prove a link with it"}
    )
    sex = fields.Enum(Sex, by_value=True, required=True, metadata={"description": "As on the ID card"})
    id_type = fields.Enum(
        IdType,
        by_value=True,
        load_default=IdType.NATIONAL_ID,
        metadata={"description": "What national_id is (national_id if not given)"},
    )
    national_id = fields.String(
        required=True,
        validate=FullMatch(r"^[A-Za-z0-9][A-Za-z0-9 -]{2,62}[A-Za-z0-9]$", error="Letters, digits, spaces, dashes."),
        metadata={"description": "National ID card or family-book number (see id_type)"},
    )
    province_code = fields.String(
        required=True, validate=FullMatch(r"^[0-9]{2}$"), metadata={"description": "Province code (2 digits)"}
    )
    district_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=FullMatch(r"^[0-9]{4}$"),
        metadata={"description": "District code (4 digits)"},
    )
    village_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=FullMatch(r"^[0-9]{8}$"),
        metadata={"description": "Village code (8 digits)"},
    )
    office_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "The office the person belongs to; default: the office serving the area"},
    )
    scheme = fields.Enum(Scheme, by_value=True, required=True, metadata={"description": "compulsory or voluntary"})
    employer_name = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "The employer, for compulsory members"},
    )
    employer_registration_no = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "The employer's registration number"},
    )
    phone = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "The phone on record (any Lao mobile form; stored as E.164)"},
    )

    @post_load
    def _normalise(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["national_id"] = normalise_id_number(data["national_id"])
        if len(data["national_id"]) > 32:
            raise ValidationError("at most 32 letters and digits", "national_id")
        if data["phone"] is not None:
            try:
                data["phone"] = normalise_lao_mobile(data["phone"])
            except DomainError as exc:
                raise ValidationError(exc.message, "phone") from None
        return data


def _reject(result: ImportResult, line: int, number: Any, errors: Any) -> None:
    result.rejected.append({"line": line, "source_id": number, "errors": errors})


def _area_errors(session: Session, record: dict[str, Any], cache: dict[tuple[type, str], Any]) -> dict[str, Any]:
    def known(model: type, code: str) -> Any:
        key = (model, code)
        if key not in cache:
            cache[key] = session.get(model, code)
        return cache[key]

    errors: dict[str, Any] = {}
    if known(Province, record["province_code"]) is None:
        errors["province_code"] = ["unknown province"]
    if record["district_code"] is not None:
        district = known(District, record["district_code"])
        if district is None or district.province_code != record["province_code"]:
            errors["district_code"] = ["unknown district for this province"]
    if record["village_code"] is not None:
        village = known(Village, record["village_code"])
        if village is None or village.district_code != record["district_code"]:
            errors["village_code"] = ["unknown village for this district"]
    return errors


def _office_id(session: Session, record: dict[str, Any], offices: dict[str, int | None]) -> int:
    code = record["office_code"]
    if code is None:
        return office_for_area(session, record["province_code"], record["district_code"]).id
    if code not in offices:
        offices[code] = session.scalar(select(Office.id).where(Office.code == code))
    office_id = offices[code]
    if office_id is None:
        raise DomainError("unknown office", error="unknown_office", errors={"office_code": ["unknown office"]})
    return office_id


def import_insured_persons(
    session: Session, numbered: Iterable[tuple[int, dict[str, Any]]], now: datetime
) -> ImportResult:
    """Upsert insured persons by member number; report each bad record with its line."""
    result = ImportResult()
    schema = InsuredPersonRecordSchema()
    today = now.astimezone(VIENTIANE).date()
    valid: list[tuple[int, dict[str, Any]]] = []
    seen_numbers: set[str] = set()
    seen_ids: set[str] = set()
    for line, raw in numbered:
        result.received += 1
        number = raw.get("member_number") if isinstance(raw, dict) else None
        try:
            record = schema.load(raw)
        except ValidationError as exc:
            _reject(result, line, number if isinstance(number, str) else None, exc.messages)
            continue
        problem = None
        if record["date_of_birth"] > today:
            problem = {"date_of_birth": ["is in the future"]}
        elif record["member_number"] in seen_numbers:
            problem = {"member_number": ["appears twice in this import"]}
        elif record["id_type"] is IdType.NATIONAL_ID and record["national_id"] in seen_ids:
            problem = {"national_id": ["appears twice in this import"]}
        if problem:
            _reject(result, line, record["member_number"], problem)
            continue
        seen_numbers.add(record["member_number"])
        if record["id_type"] is IdType.NATIONAL_ID:
            seen_ids.add(record["national_id"])
        valid.append((line, record))

    numbers = [r["member_number"] for _, r in valid]
    existing = (
        {
            p.member_number: p
            for p in session.scalars(select(InsuredPerson).where(InsuredPerson.member_number.in_(numbers)))
        }
        if numbers
        else {}
    )
    national_ids = [r["national_id"] for _, r in valid if r["id_type"] is IdType.NATIONAL_ID]
    holders = (
        dict(
            session.execute(
                select(InsuredPerson.national_id, InsuredPerson.member_number).where(
                    InsuredPerson.id_type == IdType.NATIONAL_ID, InsuredPerson.national_id.in_(national_ids)
                )
            ).all()
        )
        if national_ids
        else {}
    )
    area_cache: dict[tuple[type, str], Any] = {}
    offices: dict[str, int | None] = {}
    for line, record in valid:
        errors = _area_errors(session, record, area_cache)
        if not errors:
            try:
                record["office_id"] = _office_id(session, record, offices)
            except DomainError as exc:
                errors = exc.errors or {"office_code": [exc.message]}
        holder = holders.get(record["national_id"]) if record["id_type"] is IdType.NATIONAL_ID else None
        if not errors and holder is not None and holder != record["member_number"]:
            errors = {"national_id": [f"already insured under member number {holder}"]}
        if errors:
            _reject(result, line, record["member_number"], errors)
            continue
        values = {name: record[name] for name in STORED_FIELDS}
        person = existing.get(record["member_number"])
        if person is None:
            session.add(InsuredPerson(member_number=record["member_number"], created_at=now, updated_at=now, **values))
            result.created += 1
            continue
        changed = {k: v for k, v in values.items() if getattr(person, k) != v}
        if not changed:
            result.unchanged += 1
            continue
        for key, value in changed.items():
            setattr(person, key, value)
        person.updated_at = now
        result.updated += 1
    session.flush()
    result.rejected.sort(key=lambda r: r["line"])
    return result
