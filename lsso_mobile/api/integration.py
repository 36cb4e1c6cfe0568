"""The machine-to-machine API for the LSSO core system: client credentials and bulk records."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import request
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import RequestEntityTooLarge

from lsso_mobile.api.access import CORE, PUBLIC, Blueprint, client_ip, now
from lsso_mobile.api.auth import TokenPairSchema, tokens_body
from lsso_mobile.api.context import commit, db_session, keyring, settings
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.errors import InvalidInput
from lsso_mobile.services import accounts
from lsso_mobile.services.core_import import (
    CLAIM_FIELDS,
    CONTRIBUTION_FIELDS,
    MAX_RECORDS_PER_IMPORT,
    PAYMENT_FIELDS,
    ClaimRecordSchema,
    ContributionRecordSchema,
    PaymentRecordSchema,
    import_claims,
    import_contributions,
    import_payments,
    parse_csv,
)
from lsso_mobile.services.insured_register import (
    INSURED_PERSON_FIELDS,
    InsuredPersonRecordSchema,
    import_insured_persons,
)

blp = Blueprint(
    "integration",
    __name__,
    url_prefix="/api/v1/integration",
    description="For the LSSO core system: client credentials, bulk insured persons, contributions, claims, payments",
)

MAX_IMPORT_BYTES = 8 * 1024 * 1024


class ClientCredentialsSchema(StrictSchema):
    client_id = fields.String(
        required=True, validate=validate.Length(min=1, max=64), metadata={"description": "The machine client's id"}
    )
    client_secret = fields.String(
        required=True,
        validate=validate.Length(min=1, max=256),
        load_only=True,
        metadata={"description": "The machine client's secret (shown once by create-client)"},
    )


class RejectedRecordSchema(StrictSchema):
    line = fields.Integer(required=True, metadata={"description": "CSV line (header is 1) or JSON position (1-based)"})
    source_id = fields.Raw(
        allow_none=True, required=True, metadata={"description": "The record's source_id as sent (null if it had none)"}
    )
    errors = fields.Dict(required=True, metadata={"description": "Reasons by column"})


class ImportResultSchema(StrictSchema):
    received = fields.Integer(required=True, metadata={"description": "Records received"})
    accepted = fields.Integer(required=True, metadata={"description": "Records stored (created + updated + unchanged)"})
    created = fields.Integer(required=True, metadata={"description": "Records that made a new row"})
    updated = fields.Integer(required=True, metadata={"description": "Records that changed an existing row"})
    unchanged = fields.Integer(
        required=True, metadata={"description": "Records identical to what was stored (a retried import)"}
    )
    rejected = fields.List(
        fields.Nested(RejectedRecordSchema),
        required=True,
        metadata={"description": "Records refused, each with its line and reasons; the others were stored"},
    )
    members_notified = fields.Integer(
        required=True, metadata={"description": "Members who get a push about this import"}
    )


def _csv_text(columns: tuple[str, ...], record: dict[str, Any]) -> str:
    """The CSV form of an example record: the header row, then its cells (empty for null)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerow(["" if record.get(c) is None else record[c] for c in columns])
    return out.getvalue()


def _import_body(record_schema: type[Schema], columns: tuple[str, ...], example: dict[str, Any]) -> dict[str, Any]:
    """An import's own request body: JSON records of ``record_schema``, or CSV with exactly ``columns``."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["records"],
                    "properties": {
                        "records": {
                            "type": "array",
                            "maxItems": MAX_RECORDS_PER_IMPORT,
                            "items": record_schema,
                            "description": f"At most {MAX_RECORDS_PER_IMPORT} records; each is stored or refused "
                            "on its own",
                        }
                    },
                },
                "example": {"records": [example]},
            },
            "text/csv": {
                "schema": {  # binary: the file's bytes as they are (generated clients then send a file)
                    "type": "string",
                    "format": "binary",
                    "maxLength": MAX_IMPORT_BYTES,
                    "description": "UTF-8 CSV, a header row first: " + ",".join(columns) + ". Empty cells are null; "
                    "the meaning of each column is that of the JSON record's field of the same name.",
                },
                "example": _csv_text(columns, example),
            },
        },
    }


# The examples below work as given, in this order, against the demo data (`make dev`): a test posts each.
INSURED_PERSON_EXAMPLE = {
    "member_number": "0199000001",
    "name_lo": "ທ້າວ ຄຳຫຼ້າ ພົມມະຈັນ",
    "name_latin": "Khamla Phommachan",
    "date_of_birth": "1979-02-20",
    "sex": "male",
    "id_type": "national_id",
    "national_id": "LA-0101-990001",
    "province_code": "01",
    "district_code": "0101",
    "village_code": "01010002",
    "office_code": "D0101",
    "scheme": "compulsory",
    "employer_name": "Lao Brewery Co.",
    "employer_registration_no": "ER-01-0042",
    "phone": "+8562055559001",
}
CONTRIBUTION_EXAMPLE = {
    "source_id": "CORE-CTB-0199000001-2025-09",
    "member_number": "0199000001",
    "period": "2025-09",
    "scheme": "compulsory",
    "employer_name": "Lao Brewery Co.",
    "employer_registration_no": "ER-01-0042",
    "insurable_earnings": 3000000,
    "employee_share": 165000,
    "employer_share": 180000,
    "total": 345000,
    "status": "paid",
    "paid_date": "2025-10-10",
    "payment_channel": "bank",
    "receipt_reference": "BCEL-20251010-0042",
}
CLAIM_EXAMPLE = {
    "source_id": "CORE-CLM-0199000001-0001",
    "member_number": "0199000001",
    "benefit_type": "sickness",
    "status": "approved",
    "amount_claimed": 900000,
    "amount_approved": 750000,
    "reason": None,
}
PAYMENT_EXAMPLE = {
    "source_id": "CORE-PAY-0199000001-0001",
    "claim_source_id": "CORE-CLM-0199000001-0001",
    "period": "2025-10",
    "amount": 750000,
    "paid_date": "2025-10-20",
    "channel": "bank",
}
IMPORT_RESULT_EXAMPLE = {
    "received": 1,
    "accepted": 1,
    "created": 1,
    "updated": 0,
    "unchanged": 0,
    "rejected": [],
    "members_notified": 0,
}


@blp.route("/token", methods=["POST"])
@blp.access(PUBLIC)
@blp.arguments(ClientCredentialsSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, response="DEFAULT_ERROR", description="Wrong client credentials")
@blp.alt_response(429, response="DEFAULT_ERROR", description="Too many failures from this network")
@blp.doc(operationId="getClientToken")
def client_token(body: dict[str, Any]) -> dict[str, Any]:
    """An access token for a machine client (ask again when it expires).

    For the core system. Machine clients are made with `lsso-mobile create-client`. There is no refresh token to use:
    ask again.
    """
    pair = accounts.client_token(
        db_session(), settings(), keyring(), body["client_id"], body["client_secret"], now(), client_ip()
    )
    commit()
    return tokens_body(pair)


def _numbered_records() -> list[tuple[int, dict[str, Any]]]:
    request.max_content_length = MAX_IMPORT_BYTES
    if request.mimetype == "text/csv":
        records = parse_csv(request.get_data(as_text=True))
    elif request.mimetype == "application/json":
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            body = None
        if not isinstance(body, dict) or set(body) != {"records"} or not isinstance(body["records"], list):
            raise InvalidInput(
                'Send an object with only "records", a list of records.',
                error="records_expected",
                errors={"json": ["expected an object with only 'records'"]},
            )
        records = list(enumerate(body["records"], start=1))
    else:
        raise InvalidInput(
            "Send application/json or text/csv.", error="import_media_type", params={"content_type": request.mimetype}
        )
    if len(records) > MAX_RECORDS_PER_IMPORT:
        raise RequestEntityTooLarge(f"At most {MAX_RECORDS_PER_IMPORT} records per request; split the import.")
    return records


def _run_import(importer: Any) -> dict[str, Any]:
    """One import: parse the body, run the importer, commit (its notices go out after commit)."""
    result = importer(db_session(), _numbered_records(), now())
    commit()
    return {**result.__dict__, "accepted": result.accepted}


@blp.route("/contributions", methods=["POST"])
@blp.access(CORE)
@blp.doc(requestBody=_import_body(ContributionRecordSchema, CONTRIBUTION_FIELDS, CONTRIBUTION_EXAMPLE))
@blp.response(200, ImportResultSchema, example=IMPORT_RESULT_EXAMPLE)
@blp.alt_response(413, response="DEFAULT_ERROR", description="Too many records or too large a body")
@blp.alt_response(422, response="DEFAULT_ERROR", description="Not JSON with 'records', nor CSV")
@blp.doc(operationId="importContributions")
def import_contribution_records() -> Any:
    """Upsert contributions by ``source_id``: good records are stored, each bad one is reported by line.

    JSON (`{"records": [...]}`) or CSV (the columns below, header row first). Sending the same records again changes
    nothing. Each member whose record changed gets one push.
    """
    return _run_import(import_contributions)


@blp.route("/claims", methods=["POST"])
@blp.access(CORE)
@blp.doc(requestBody=_import_body(ClaimRecordSchema, CLAIM_FIELDS, CLAIM_EXAMPLE))
@blp.response(200, ImportResultSchema, example=IMPORT_RESULT_EXAMPLE)
@blp.alt_response(413, response="DEFAULT_ERROR", description="Too many records or too large a body")
@blp.alt_response(422, response="DEFAULT_ERROR", description="Not JSON with 'records', nor CSV")
@blp.doc(operationId="importClaims")
def import_claim_records() -> Any:
    """Upsert benefit claims by ``source_id``; each new claim or status change is pushed to the member.

    JSON (`{"records": [...]}`) or CSV (the columns below, header row first). A record asking a step the claim may not
    take is refused with its line.
    """
    return _run_import(import_claims)


@blp.route("/payments", methods=["POST"])
@blp.access(CORE)
@blp.doc(requestBody=_import_body(PaymentRecordSchema, PAYMENT_FIELDS, PAYMENT_EXAMPLE))
@blp.response(200, ImportResultSchema, example=IMPORT_RESULT_EXAMPLE)
@blp.alt_response(413, response="DEFAULT_ERROR", description="Too many records or too large a body")
@blp.alt_response(422, response="DEFAULT_ERROR", description="Not JSON with 'records', nor CSV")
@blp.doc(operationId="importPayments")
def import_payment_records() -> Any:
    """Add benefit payments by ``source_id`` (linked to claims by ``claim_source_id``); one push per member.

    JSON (`{"records": [...]}`) or CSV (the columns below, header row first). The claim must have been imported first.
    """
    return _run_import(import_payments)


@blp.route("/insured-persons", methods=["POST"])
@blp.access(CORE)
@blp.doc(requestBody=_import_body(InsuredPersonRecordSchema, INSURED_PERSON_FIELDS, INSURED_PERSON_EXAMPLE))
@blp.response(200, ImportResultSchema, example=IMPORT_RESULT_EXAMPLE)
@blp.alt_response(413, response="DEFAULT_ERROR", description="Too many records or too large a body")
@blp.alt_response(422, response="DEFAULT_ERROR", description="Not JSON with 'records', nor CSV")
@blp.doc(operationId="importInsuredPersons")
def import_insured_person_records() -> Any:
    """Upsert the register of insured persons by ``member_number`` (``source_id`` in rejections is the member
    number): names, birth date, sex, ID, area, office, scheme, employer and the phone on record.

    JSON (`{"records": [...]}`) or CSV (the columns below, header row first). A person with a phone on record can then
    link an app account by code.
    """
    return _run_import(import_insured_persons)
