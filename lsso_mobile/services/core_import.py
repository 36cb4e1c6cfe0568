"""Bulk records from the LSSO core system: contributions, claims and payments, idempotent by the
source system's id.

Each record is checked on its own: the good ones are stored, each bad one is reported with its
line number and reason. Sending the same records again changes nothing and notifies nobody. A
member whose record gained paid months gets one notice per import ("3 contributions received"),
not one per row.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import DomainError, InvalidInput
from lsso_mobile.i18n import Money
from lsso_mobile.models import (
    BenefitClaim,
    BenefitPayment,
    BenefitType,
    ClaimStatus,
    ClaimStatusChange,
    Contribution,
    ContributionStatus,
    InsuredPerson,
    Member,
    Scheme,
)
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.notify.preferences import VIENTIANE
from lsso_mobile.services.contributions import period_of
from lsso_mobile.services.locking import locked
from lsso_mobile.validation import MULTI_LINE, SINGLE_LINE, FullMatch, clean_text

MAX_RECORDS_PER_IMPORT = 5000
PERIOD = r"^(199[0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"  # checked with FullMatch: no trailing newline
MEMBER_NUMBER = r"^[0-9]{10}$"
MAX_KIP = 2_147_483_647  # the columns are 32-bit; no monthly contribution or benefit comes near it
INTEGER_FIELDS = (
    "insurable_earnings",
    "employee_share",
    "employer_share",
    "total",
    "amount",
    "amount_claimed",
    "amount_approved",
)
CONTRIBUTION_FIELDS = (
    "source_id",
    "member_number",
    "period",
    "scheme",
    "employer_name",
    "employer_registration_no",
    "insurable_earnings",
    "employee_share",
    "employer_share",
    "total",
    "status",
    "paid_date",
    "payment_channel",
    "receipt_reference",
)


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL (PostgreSQL refuses it), unpaired surrogates (no encoding)


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_unstorable(item) for item in value)
    return False


class ImportRecordSchema(Schema):
    """A record from the core system. Text the database cannot store refuses this record, like any other
    bad value, before any of it reaches a query (where it would fail the whole import). Text fields are then
    held to the API's rules (``validation.clean_text``): NFC, and no control, bidi-override or zero-width
    characters in one-line fields (``MULTI_LINE_FIELDS`` keep newlines and tabs)."""

    MULTI_LINE_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @pre_load
    def _refuse_unstorable_and_clean_text(self, data: Any, **_kwargs: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # a field name is echoed with U+FFFD for what cannot be stored (a strict JSON parser refuses lone surrogates)
        bad = sorted(
            UNSTORABLE.sub("\ufffd", str(key)) for key, value in data.items() if _unstorable(key) or _unstorable(value)
        )
        if bad:
            raise ValidationError({key: ["Contains a NUL character or an unpaired surrogate."] for key in bad})
        cleaned, errors = dict(data), {}
        for key, value in data.items():
            if isinstance(value, str) and isinstance(self.fields.get(key), fields.String):
                kind = MULTI_LINE if key in self.MULTI_LINE_FIELDS else SINGLE_LINE
                try:
                    cleaned[key] = clean_text(value, kind)
                except ValidationError as exc:
                    errors[key] = exc.messages
        if errors:
            raise ValidationError(errors)
        return cleaned


class ContributionRecordSchema(ImportRecordSchema):
    source_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "The contribution's id in the core system (at most 64 characters); sent again, it updates"
        },
    )
    member_number = fields.String(
        required=True,
        validate=FullMatch(MEMBER_NUMBER, error="Expected 10 digits."),
        metadata={"description": "The member number (10 digits); the person must be in the register"},
    )
    period = fields.String(
        required=True,
        validate=FullMatch(PERIOD, error="Expected YYYY-MM."),
        metadata={"description": "The month paid for (YYYY-MM; not in the future)"},
    )
    scheme = fields.Enum(
        Scheme,
        by_value=True,
        required=True,
        metadata={"description": "The scheme the month was paid under (no employer share for voluntary)"},
    )
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
    insurable_earnings = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "Insurable earnings of the month, in kip"},
    )
    employee_share = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "The member's share, in kip"},
    )
    employer_share = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "The employer's share, in kip (0 for voluntary)"},
    )
    total = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "employee_share + employer_share, in kip"},
    )
    status = fields.Enum(
        ContributionStatus,
        by_value=True,
        required=True,
        metadata={"description": "paid, late or unpaid (an unpaid month has no paid_date; the others need one)"},
    )
    paid_date = fields.Date(
        load_default=None,
        allow_none=True,
        metadata={"description": "When it was paid (YYYY-MM-DD); empty for an unpaid month"},
    )
    payment_channel = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "How it was paid (free text, at most 32 characters)"},
    )
    receipt_reference = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=64),
        metadata={"description": "The receipt's reference (at most 64 characters)"},
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["total"] != data["employee_share"] + data["employer_share"]:
            raise ValidationError("total must equal employee_share + employer_share", "total")
        if data["scheme"] is Scheme.VOLUNTARY and data["employer_share"]:
            raise ValidationError("voluntary contributions have no employer share", "employer_share")
        if data["status"] is ContributionStatus.UNPAID and data["paid_date"] is not None:
            raise ValidationError("an unpaid month has no paid date", "paid_date")
        if data["status"] is not ContributionStatus.UNPAID and data["paid_date"] is None:
            raise ValidationError("a paid month needs its paid date", "paid_date")


@dataclass
class ImportResult:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    members_notified: int = 0

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged


def parse_csv(text: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) pairs; empty cells become None; whole numbers become ints for the schema."""
    text = text.removeprefix("\ufeff")  # a byte-order mark from spreadsheet exports
    reader = csv.DictReader(io.StringIO(text))
    records = []
    try:
        for row in reader:
            record: dict[str, Any] = {}
            for key, value in row.items():
                if key is None:  # more cells than columns
                    record["_extra_cells"] = value
                    continue
                value = (value or "").strip() if isinstance(value, str) else value
                record[key.strip()] = value if value != "" else None
            for name in INTEGER_FIELDS:
                if isinstance(record.get(name), str) and re.fullmatch(r"-?[0-9]{1,15}", record[name]):
                    record[name] = int(record[name])
            records.append((reader.line_num, record))
    except csv.Error as exc:
        raise InvalidInput(
            "The CSV cannot be read at line {line}: {reason}",
            error="csv_unreadable",
            params={"line": reader.line_num, "reason": str(exc)},
        ) from None
    return records


def _validated(
    numbered: Iterable[tuple[int, dict[str, Any]]], schema: Schema, result: ImportResult, now: datetime
) -> list[tuple[int, dict[str, Any]]]:
    """Schema-check each record, refuse future periods and dates and repeated source ids; count the rest."""
    valid: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    current = period_of(now)
    for line, raw in numbered:
        result.received += 1
        try:
            record = schema.load(raw)
        except ValidationError as exc:
            result.rejected.append({"line": line, "source_id": _source_id(raw), "errors": exc.messages})
            continue
        problem = None
        if record.get("period") and record["period"] > current:
            problem = {"period": ["is in the future"]}
        elif record.get("paid_date") is not None and record["paid_date"] > now.astimezone(VIENTIANE).date():
            problem = {"paid_date": ["is in the future"]}
        elif record["source_id"] in seen:
            problem = {"source_id": ["appears twice in this import"]}
        if problem:
            result.rejected.append({"line": line, "source_id": record["source_id"], "errors": problem})
            continue
        seen.add(record["source_id"])
        valid.append((line, record))
    return valid


def _people(session: Session, valid: list[tuple[int, dict[str, Any]]]) -> dict[str, InsuredPerson]:
    numbers = {r["member_number"] for _, r in valid}
    if not numbers:
        return {}
    return {
        p.member_number: p
        for p in session.scalars(select(InsuredPerson).where(InsuredPerson.member_number.in_(numbers)))
    }


def _unknown_member(result: ImportResult, line: int, record: dict[str, Any]) -> None:
    result.rejected.append(
        {
            "line": line,
            "source_id": record["source_id"],
            "errors": {"member_number": ["no insured person has this member number"]},
        }
    )


def import_contributions(
    session: Session, numbered: Iterable[tuple[int, dict[str, Any]]], now: datetime
) -> ImportResult:
    result = ImportResult()
    valid = _validated(numbered, ContributionRecordSchema(), result, now)
    people = {number: person.id for number, person in _people(session, valid).items()}
    existing = (
        {
            c.source_id: c
            for c in session.scalars(
                select(Contribution).where(Contribution.source_id.in_([r["source_id"] for _, r in valid]))
            )
        }
        if valid
        else {}
    )
    newly_paid: Counter[int] = Counter()
    awaiting = _awaiting_confirmation(session, set(people.values()))
    for line, record in valid:
        person_id = people.get(record["member_number"])
        if person_id is None:
            _unknown_member(result, line, record)
            continue
        values = {k: v for k, v in record.items() if k != "member_number"}
        row = existing.get(record["source_id"])
        if row is None:
            row = awaiting.get((person_id, record["period"]))
            if row is not None and record["status"] is ContributionStatus.UNPAID:
                # Paid in the app, not yet known to the core system: the month stays paid, awaiting confirmation.
                result.unchanged += 1
                continue
        if row is not None and row.awaiting_confirmation:
            if record["status"] is ContributionStatus.UNPAID:
                result.unchanged += 1
                continue
            # The core system confirms a month paid in the app: its record takes the row over (the member
            # already had a receipt, so no notice).
            del awaiting[(row.insured_person_id, row.period)]
            for key, value in values.items():
                setattr(row, key, value)
            row.awaiting_confirmation = False
            row.updated_at = now
            result.updated += 1
            continue
        if row is None:
            session.add(Contribution(insured_person_id=person_id, created_at=now, updated_at=now, **values))
            result.created += 1
            if record["status"] is not ContributionStatus.UNPAID:
                newly_paid[person_id] += 1
            continue
        if row.insured_person_id != person_id:
            result.rejected.append(
                {
                    "line": line,
                    "source_id": record["source_id"],
                    "errors": {"source_id": ["already used for another member"]},
                }
            )
            continue
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if not changed:
            result.unchanged += 1
            continue
        if row.status is ContributionStatus.UNPAID and record["status"] is not ContributionStatus.UNPAID:
            newly_paid[person_id] += 1
        for key, value in changed.items():
            setattr(row, key, value)
        row.updated_at = now
        result.updated += 1
    session.flush()
    result.members_notified = _notify(
        session,
        newly_paid,
        "contributions_received",
        lambda person_id: {"count": newly_paid[person_id]},
        "contributions",
        now,
    )
    result.rejected.sort(key=lambda r: r["line"])
    return result


def _awaiting_confirmation(session: Session, person_ids: set[int]) -> dict[tuple[int, str], Contribution]:
    """Months paid through the app that the core system has not confirmed yet, by (person, period)."""
    if not person_ids:
        return {}
    return {
        (row.insured_person_id, row.period): row
        for row in session.scalars(
            select(Contribution).where(
                Contribution.insured_person_id.in_(person_ids), Contribution.awaiting_confirmation.is_(True)
            )
        )
    }


def _notify(
    session: Session, people: Counter[int], template: str, params: Any, collapse_key: str, now: datetime
) -> int:
    """One notice per app user among ``people`` (insured person ids); returns how many were written."""
    if not people:
        return 0
    members = session.execute(
        select(Member.id, Member.insured_person_id).where(Member.insured_person_id.in_(people))
    ).all()
    for member_id, person_id in members:
        record_notification(session, member_id, template, params(person_id), now, collapse_key=collapse_key)
    return len(members)


def _source_id(raw: Any) -> Any:
    """The record's source id to echo in its error, if it can be echoed safely."""
    source_id = raw.get("source_id") if isinstance(raw, dict) else None
    return None if _unstorable(source_id) else source_id


class ClaimRecordSchema(ImportRecordSchema):
    MULTI_LINE_FIELDS = frozenset({"reason"})

    source_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The claim's id in the core system (at most 64 characters); sent again, it updates"},
    )
    member_number = fields.String(
        required=True,
        validate=FullMatch(MEMBER_NUMBER, error="Expected 10 digits."),
        metadata={"description": "The claimant's member number (10 digits); the person must be in the register"},
    )
    benefit_type = fields.Enum(BenefitType, by_value=True, required=True, metadata={"description": "Which benefit"})
    status = fields.Enum(
        ClaimStatus,
        by_value=True,
        required=True,
        metadata={"description": "The claim's status now; only forward steps are accepted"},
    )
    amount_claimed = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "Kip claimed; empty if not known"},
    )
    amount_approved = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "Kip approved; required once approved or paid"},
    )
    reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Why (for a rejection or a request for information); shown to the member"},
    )


class PaymentRecordSchema(ImportRecordSchema):
    source_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The payment's id in the core system (at most 64 characters)"},
    )
    claim_source_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The source_id of the claim it pays (imported before)"},
    )
    period = fields.String(
        required=True,
        validate=FullMatch(PERIOD, error="Expected YYYY-MM."),
        metadata={"description": "The month the benefit is for (YYYY-MM)"},
    )
    amount = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_KIP),
        metadata={"description": "Kip paid (at least 1)"},
    )
    paid_date = fields.Date(required=True, metadata={"description": "When it was paid (YYYY-MM-DD; not in the future)"})
    channel = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "How it was paid (free text, at most 32 characters)"},
    )


CLAIM_FIELDS = tuple(ClaimRecordSchema._declared_fields)  # the CSV columns of a claims import, in order
PAYMENT_FIELDS = tuple(PaymentRecordSchema._declared_fields)  # the CSV columns of a payments import, in order


def import_claims(session: Session, numbered: Iterable[tuple[int, dict[str, Any]]], now: datetime) -> ImportResult:
    """Upsert claims by source id; a new claim or a status change is kept in its history and told to the member.

    The claims this import changes are locked (in id order, so two imports cannot deadlock) before they
    are read: an officer deciding one at the same time waits, or is waited for, and each record is then
    checked against the claim as it is. A record asking for a step the claim may not take (back from a
    decision, out of paid or rejected) is refused with its line; the same state again changes nothing.
    """
    from lsso_mobile.services.claims import (
        change_claim_status,
        check_approved_amount,
        check_change,
        notify_claim_change,
    )

    result = ImportResult()
    valid = _validated(numbered, ClaimRecordSchema(), result, now)
    people = _people(session, valid)
    existing = (
        {
            c.source_id: c
            for c in locked(
                session,
                select(BenefitClaim)
                .where(BenefitClaim.source_id.in_([r["source_id"] for _, r in valid]))
                .order_by(BenefitClaim.id),
            )
        }
        if valid
        else {}
    )

    def refuse(line: int, record: dict[str, Any], exc: DomainError) -> None:
        field_name = next(iter(exc.errors or {"status": None}))
        result.rejected.append({"line": line, "source_id": record["source_id"], "errors": {field_name: [exc.text]}})

    for line, record in valid:
        person = people.get(record["member_number"])
        if person is None:
            _unknown_member(result, line, record)
            continue
        claim = existing.get(record["source_id"])
        if claim is not None and claim.insured_person_id != person.id:
            result.rejected.append(
                {
                    "line": line,
                    "source_id": record["source_id"],
                    "errors": {"source_id": ["already used for another member"]},
                }
            )
            continue
        if claim is None:
            try:
                check_approved_amount(record["status"], record["amount_approved"])
            except DomainError as exc:
                refuse(line, record, exc)
                continue
            claim = BenefitClaim(
                insured_person_id=person.id,
                office_id=person.office_id,
                source_id=record["source_id"],
                benefit_type=record["benefit_type"],
                status=record["status"],
                amount_claimed=record["amount_claimed"],
                amount_approved=record["amount_approved"],
                created_at=now,
                updated_at=now,
            )
            session.add(claim)
            session.flush()
            session.add(
                ClaimStatusChange(claim_id=claim.id, status=claim.status, reason=record["reason"], created_at=now)
            )
            notify_claim_change(session, claim, record["reason"], now)
            result.created += 1
            continue
        moving = claim.status is not record["status"]
        amounts = (record["amount_claimed"], record["amount_approved"])
        if not moving and (claim.amount_claimed, claim.amount_approved) == amounts:
            result.unchanged += 1  # the same state again: a retried import
            continue
        try:  # every check before any change: a refused record leaves the claim as it was
            check_change(claim, record["status"], (record["reason"] or "").strip() or None, record["amount_approved"])
        except DomainError as exc:
            refuse(line, record, exc)
            continue
        claim.amount_claimed, claim.amount_approved = amounts
        claim.updated_at = now
        if moving:
            change_claim_status(session, claim, record["status"], record["reason"], now)
        result.updated += 1
    session.flush()
    result.rejected.sort(key=lambda r: r["line"])
    return result


def import_payments(session: Session, numbered: Iterable[tuple[int, dict[str, Any]]], now: datetime) -> ImportResult:
    """Insert payments by source id (a payment never changes); one notice per member per import."""
    result = ImportResult()
    valid = _validated(numbered, PaymentRecordSchema(), result, now)
    claims = (
        {
            c.source_id: c
            for c in session.scalars(
                select(BenefitClaim).where(BenefitClaim.source_id.in_({r["claim_source_id"] for _, r in valid}))
            )
        }
        if valid
        else {}
    )
    known = (
        set(
            session.scalars(
                select(BenefitPayment.source_id).where(BenefitPayment.source_id.in_([r["source_id"] for _, r in valid]))
            )
        )
        if valid
        else set()
    )
    paid: Counter[int] = Counter()
    for line, record in valid:
        claim = claims.get(record["claim_source_id"])
        if claim is None:
            result.rejected.append(
                {
                    "line": line,
                    "source_id": record["source_id"],
                    "errors": {"claim_source_id": ["no claim has this source id"]},
                }
            )
            continue
        if record["source_id"] in known:
            result.unchanged += 1
            continue
        session.add(
            BenefitPayment(
                claim_id=claim.id,
                source_id=record["source_id"],
                period=record["period"],
                amount=record["amount"],
                paid_date=record["paid_date"],
                channel=record["channel"],
                created_at=now,
            )
        )
        paid[claim.insured_person_id] += record["amount"]
        result.created += 1
    session.flush()
    result.members_notified = _notify(
        session, paid, "benefit_paid", lambda person_id: {"amount": Money(paid[person_id])}, "payments", now
    )
    result.rejected.sort(key=lambda r: r["line"])
    return result
