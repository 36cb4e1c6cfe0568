"""Field registration: promoters and officers upload ID photos and the day's registrations from a field device;
the person confirms with a code (or an officer attests); officers and promoters follow the applications."""

from __future__ import annotations

import re
from typing import Any

from flask import Response
from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, OFFICER, PROMOTER, PUBLIC, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.conversations.attachments import upload_size_limit
from lsso_mobile.api.conversations.schemas import UploadSchema
from lsso_mobile.api.registrations import ApplicationFormSchema, StaffApplicationSchema
from lsso_mobile.api.schemas import (
    LaoPhone,
    MultiLineText,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    code_field,
    decode_cursor,
    page,
)
from lsso_mobile.errors import InvalidInput
from lsso_mobile.models import ApplicationStatus
from lsso_mobile.services import field_registrations as field_service
from lsso_mobile.services import registrations
from lsso_mobile.services.attachments import read_attachment_bytes
from lsso_mobile.services.field_registrations import MAX_PHOTOS_PER_RECORD, FieldRecord
from lsso_mobile.services.files import EXTENSIONS
from lsso_mobile.services.registrations import ApplicationForm
from lsso_mobile.validation import FullMatch

ERROR = "DEFAULT_ERROR"
MAX_BATCH = 100
DEVICE_ID = r"^[A-Za-z0-9_-]{1,64}$"
blp = Blueprint(
    "field",
    __name__,
    url_prefix="/api/v1/field",
    description="Registration in the field by promoters and officers, with offline batches",
)


def _device_id_field(description: str, example: str) -> fields.String:
    return fields.String(
        required=True,
        validate=FullMatch(DEVICE_ID, error="1 to 64 letters, digits, '-' or '_'."),
        metadata={"description": description, "example": example},
    )


class FirstPaymentSchema(StrictSchema):
    amount_kip = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=1_000_000_000),
        metadata={"description": "Cash taken, whole kip", "example": 108000},
    )
    receipt_number = fields.String(
        required=True,
        validate=FullMatch(r"^[A-Za-z0-9/-]{1,32}$"),
        metadata={"description": "The paper receipt's number", "example": "R-2026-000123"},
    )


class FieldRecordSchema(ApplicationFormSchema):
    device_record_id = _device_id_field("The record's id, made on the device; a resend finds it", "rec-7f3a9c21")
    phone = LaoPhone(
        required=True,
        allow_none=True,
        metadata={
            "description": "The person's own phone (the confirmation code goes there); null if they have none: "
            "an officer then attests in person",
            "example": "020 5555 1234",
        },
    )
    photo_ids = fields.List(
        fields.String(validate=FullMatch(DEVICE_ID), metadata={"example": "ph-7f3a9c21-1"}),
        required=True,
        validate=validate.Length(min=1, max=MAX_PHOTOS_PER_RECORD),
        metadata={"description": "Device photo ids of the ID documents, uploaded before the batch"},
    )
    first_payment = fields.Nested(
        FirstPaymentSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "A first cash payment taken at registration (recorded, credited later)"},
    )


class BatchSchema(StrictSchema):
    records = fields.List(
        fields.Nested(FieldRecordSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
        metadata={"description": f"The day's registrations, at most {MAX_BATCH}"},
    )


OUTCOMES = ["created", "already_received", "rejected"]


class RecordResultSchema(StrictSchema):
    device_record_id = fields.String(
        required=True,
        metadata={"description": "The id the field device made for this record", "example": "rec-7f3a9c21"},
    )
    outcome = fields.String(
        required=True,
        metadata={"description": "created, already_received (nothing changed) or rejected", "enum": OUTCOMES},
    )
    application_id = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "The application made for this record; null when it was refused", "example": 42},
    )
    status = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The application's status", "enum": [*(s.value for s in ApplicationStatus), None]},
    )
    error = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Why rejected (a code)", "example": "photo_not_uploaded"},
    )
    message = fields.String(
        required=True, allow_none=True, metadata={"description": "Why rejected, in English", "example": None}
    )
    params = fields.Dict(required=True, metadata={"description": "Values for the message's {placeholders}"})
    errors = fields.Dict(required=True, metadata={"description": "Field errors of a rejected record"})


class BatchResultSchema(StrictSchema):
    results = fields.List(
        fields.Nested(RecordResultSchema),
        required=True,
        metadata={"description": "One result per record, in the order sent"},
    )
    created = fields.Integer(
        required=True, metadata={"description": "Records that created an application in this request", "example": 19}
    )
    already_received = fields.Integer(
        required=True,
        metadata={
            "description": "Records of this batch received before (a resent batch): answered as first stored, "
            "nothing created",
            "example": 0,
        },
    )
    rejected = fields.Integer(
        required=True, metadata={"description": "Records refused (see each result's errors)", "example": 1}
    )


class FieldApplicationSchema(StaffApplicationSchema):
    device_record_id = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "The id the field device made for this record (a resent batch finds it by this id)",
            "example": "rec-7f3a9c21",
        },
    )
    phone = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "The person's own phone (E.164), where the confirmation code goes; null for a person "
            "with no phone",
            "example": "+8562055551234",
        },
    )
    photo_ids = fields.List(
        fields.Integer(), required=True, metadata={"description": "GET /api/v1/field/photos/{id} for each"}
    )
    first_payment_kip = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Recorded, not credited here", "example": 108000}
    )
    first_payment_receipt = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "The receipt number of a first cash payment taken at registration, if any (recorded, "
            "not credited)",
            "example": "R-2026-000123",
        },
    )


class FieldPageSchema(PageMetaSchema):
    items = fields.List(
        fields.Nested(FieldApplicationSchema),
        required=True,
        metadata={"description": "The applications this registrar may see, newest first"},
    )


class FieldListArgsSchema(PageArgsSchema):
    status = fields.Enum(
        ApplicationStatus,
        by_value=True,
        load_default=None,
        metadata={"description": "Only the applications in this status; all when omitted"},
    )


class ConfirmSchema(StrictSchema):
    code = code_field()


class PersonConfirmSchema(StrictSchema):
    phone = LaoPhone(
        required=True, metadata={"description": "The phone the code was sent to", "example": "02055551234"}
    )
    code = code_field()


class PersonConfirmedSchema(StrictSchema):
    application_id = fields.Integer(
        required=True, metadata={"description": "The application that was confirmed", "example": 42}
    )
    status = fields.String(
        required=True,
        metadata={
            "description": "The application's status after confirming",
            "example": "submitted",
            "enum": ["submitted"],
        },
    )


class AttestSchema(StrictSchema):
    note = MultiLineText(
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "How the person and their documents were checked", "example": "Met at the office."},
    )


class FieldPhotoSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The stored photo's id", "example": 7})
    device_photo_id = fields.String(
        required=True,
        metadata={
            "description": "The id the field device gave the photo (resending the same id is safe)",
            "example": "ph-7f3a9c21-1",
        },
    )
    content_type = fields.String(
        required=True,
        metadata={
            "description": "The photo's type after re-encoding (image/jpeg or image/png)",
            "example": "image/jpeg",
        },
    )
    size = fields.Integer(
        required=True,
        metadata={"description": "Size in bytes after re-encoding (EXIF and GPS removed)", "example": 183220},
    )
    created = fields.Boolean(required=True, metadata={"description": "false when it was there already"})


def _with_field_details(applications: list[Any]) -> list[Any]:
    session = db_session()
    matches = registrations.id_matches(session, applications)
    photos = field_service.photos_of(session, [a.id for a in applications])
    for application in applications:
        application.id_matches = matches[application.id]
        application.photo_ids = photos[application.id]
    return applications


def _record(body: dict[str, Any]) -> FieldRecord:
    body = dict(body)
    payment = body.pop("first_payment")
    return FieldRecord(
        device_record_id=body.pop("device_record_id"),
        phone=body.pop("phone"),
        photo_ids=body.pop("photo_ids"),
        first_payment_kip=payment["amount_kip"] if payment else None,
        first_payment_receipt=payment["receipt_number"] if payment else None,
        form=ApplicationForm(**body),
    )


@blp.route("/uploads/<string(maxlength=64):device_photo_id>", methods=["PUT"])
@blp.access(PROMOTER, OFFICER)
@blp.doc(operationId="putFieldPhoto")
@upload_size_limit
@blp.arguments(UploadSchema, location="files")
@blp.response(200, FieldPhotoSchema)
@blp.alt_response(404, response=ERROR, description="A photo id longer than 64 characters (no such route)")
@blp.alt_response(409, response=ERROR, description="The photo id was used for another file")
@blp.alt_response(413, response=ERROR, description="Larger than LSSO_ATTACHMENT_MAX_BYTES or too many pixels")
@blp.alt_response(415, response=ERROR, description="Not a JPEG or PNG (by content), or one that does not decode")
@blp.alt_response(422, response=ERROR, description="No file, or a malformed photo id")
@blp.alt_response(429, response=ERROR, description="The promoter's daily photo limit; Retry-After")
def put_photo(files: dict[str, Any], device_photo_id: str) -> Any:
    """Upload one ID photo (multipart/form-data, field `file`) under the device's photo id.

    Promoters and officers. Safe to resend: the same id with the same file answers the stored photo
    (`created: false`); with another file, 409. Images are checked and re-encoded (EXIF and GPS removed).
    """
    if not re.fullmatch(DEVICE_ID, device_photo_id):
        raise InvalidInput(
            "The photo id is malformed.", error="photo_id_malformed", errors={"device_photo_id": ["Malformed."]}
        )
    photo, created = field_service.upload_field_photo(
        db_session(), settings(), current_principal(), device_photo_id, files["file"].read(), now(), address=client_ip()
    )
    commit()
    attachment = field_service.photo_attachment(db_session(), photo)
    return {
        "id": photo.id,
        "device_photo_id": photo.device_photo_id,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "created": created,
    }


@blp.route("/photos/<int:photo_id>", methods=["GET"])
@blp.access(PROMOTER, OFFICER, ADMIN)
@blp.doc(operationId="getFieldPhoto")
@blp.response(200, content_type="application/octet-stream", description="The photo (JPEG or PNG)")
@blp.alt_response(404, response=ERROR, description="Not your photo, nor of your office's registrations")
def get_photo(photo_id: int) -> Any:
    """One ID photo: the registrar's own, or (officers) one of the office's field registrations.

    Promoters, officers and admins.
    """
    _photo, attachment = field_service.readable_photo(db_session(), current_principal(), photo_id)
    response = Response(read_attachment_bytes(settings(), attachment), content_type=attachment.content_type)
    response.headers["Content-Disposition"] = (
        f'inline; filename="photo-{photo_id}.{EXTENSIONS[attachment.content_type]}"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/registrations/batch", methods=["POST"])
@blp.access(PROMOTER, OFFICER)
@blp.doc(operationId="submitFieldBatch")
@blp.arguments(BatchSchema)
@blp.response(200, BatchResultSchema)
def submit_batch(body: dict[str, Any]) -> Any:
    """Upload a day's registrations made offline: one result per record, partial success normal.

    Promoters (people of their district) and officers (their office's area). Each record carries its device id:
    a record already received answers `already_received` and changes nothing, so a whole batch may be resent.
    Upload the photos first. A person with a phone gets a confirmation code by SMS; with none, an officer
    attests. Each promoter registers at most LSSO_PROMOTER_DAILY_REGISTRATIONS people a day.
    """
    records = [_record(r) for r in body["records"]]
    results = field_service.submit_batch(
        db_session(), settings(), current_principal(), records, now(), address=client_ip()
    )
    commit()
    counts = {outcome: sum(1 for r in results if r.outcome == outcome) for outcome in OUTCOMES}
    return {"results": results, **counts}


@blp.route("/registrations", methods=["GET"])
@blp.access(PROMOTER, OFFICER, ADMIN)
@blp.doc(operationId="listFieldRegistrations")
@blp.arguments(FieldListArgsSchema, location="query")
@blp.response(200, FieldPageSchema)
def list_registrations(args: dict[str, Any]) -> Any:
    """Field registrations: a promoter's own, only those; an officer's office's; all for admins.

    Promoters, officers and admins. Oldest first; filter by status.
    """
    items = field_service.list_field_registrations(
        db_session(), current_principal(), args["status"], decode_cursor(args["cursor"]), args["limit"] + 1
    )
    result = page(items, args["limit"])
    _with_field_details(result["items"])
    return result


@blp.route("/registrations/<int:application_id>", methods=["GET"])
@blp.access(PROMOTER, OFFICER, ADMIN)
@blp.doc(operationId="getFieldRegistration")
@blp.response(200, FieldApplicationSchema)
@blp.alt_response(404, response=ERROR, description="Not registered by you (promoters) or not of your office")
def get_registration(application_id: int) -> Any:
    """One field registration, with who registered the person, the photos and the history.

    Promoters (their own), officers (their office) and admins.
    """
    application = field_service.field_registration(db_session(), current_principal(), application_id)
    return _with_field_details([application])[0]


@blp.route("/registrations/<int:application_id>/confirm", methods=["POST"])
@blp.access(PROMOTER, OFFICER)
@blp.doc(operationId="confirmFieldRegistration")
@blp.arguments(ConfirmSchema)
@blp.response(200, FieldApplicationSchema)
@blp.alt_response(404, response=ERROR, description="Not registered by you (promoters) or not of your office")
@blp.alt_response(409, response=ERROR, description="Not waiting for confirmation")
def confirm(body: dict[str, Any], application_id: int) -> Any:
    """Confirm with the code the person's phone received (the person reads it out to the registrar).

    Promoters (their own registrations) and officers (their office). Five wrong codes void the code.
    """
    application = field_service.confirm_by_registrar(
        db_session(), settings(), current_principal(), application_id, body["code"], now(), address=client_ip()
    )
    commit()
    return _with_field_details([application])[0]


@blp.route("/registrations/<int:application_id>/attest", methods=["POST"])
@blp.access(OFFICER)
@blp.doc(operationId="attestFieldRegistration")
@blp.arguments(AttestSchema)
@blp.response(200, FieldApplicationSchema)
@blp.alt_response(404, response=ERROR, description="Not of your office")
@blp.alt_response(409, response=ERROR, description="Not waiting for confirmation")
def attest(body: dict[str, Any], application_id: int) -> Any:
    """Attest in person for someone who cannot confirm by code (no phone): the application goes to the queue.

    Officers of the office only.
    """
    application = field_service.attest(
        db_session(), current_principal(), application_id, body["note"], now(), address=client_ip()
    )
    commit()
    return _with_field_details([application])[0]


@blp.route("/confirmations", methods=["POST"])
@blp.access(PUBLIC)
@blp.doc(operationId="confirmOwnFieldRegistration")
@blp.arguments(PersonConfirmSchema)
@blp.response(200, PersonConfirmedSchema)
def confirm_as_person(body: dict[str, Any]) -> Any:
    """The person confirms their field registration from their own phone with the code it received.

    Anyone (no account needed); the code is the proof. Five wrong codes void an application's code.
    """
    application_id = field_service.confirm_by_person(db_session(), settings(), body["phone"], body["code"], now())
    commit()
    return {"application_id": application_id, "status": "submitted"}
