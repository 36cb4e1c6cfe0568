"""Officers verify link requests of their office (an ID-card photo against the record), and unlink records."""

from __future__ import annotations

from typing import Any

from flask import Response
from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, OFFICER, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.headers import file_headers
from lsso_mobile.api.schemas import PageArgsSchema, PageMetaSchema, StrictSchema, decode_cursor, page
from lsso_mobile.models import IdType, LinkAction, LinkMethod, LinkRequestStatus
from lsso_mobile.services import attachments, linking
from lsso_mobile.services.files import EXTENSIONS
from lsso_mobile.services.staff import staff_names

blp = Blueprint(
    "staff_link_requests",
    __name__,
    url_prefix="/api/v1/staff",
    description="Officers verify requests to link app accounts to insured persons of their office, and unlink",
)


class RecordSummarySchema(StrictSchema):
    member_number = fields.String(required=True, metadata={"description": "The record's member number"})
    name_lo = fields.String(required=True, metadata={"description": "Name in Lao script"})
    name_latin = fields.String(
        required=True, metadata={"description": "Name in Latin letters (as on the passport or ID card)"}
    )
    date_of_birth = fields.Date(required=True, metadata={"description": "Date of birth (YYYY-MM-DD)"})
    id_type = fields.String(
        required=True,
        attribute="id_type.value",
        metadata={"enum": [t.value for t in IdType], "description": "What national_id is"},
    )
    national_id = fields.String(required=True, metadata={"description": "National ID card or family-book number"})
    has_phone_on_record = fields.Function(
        lambda p: p.phone is not None,
        required=True,
        metadata={"description": "Whether a phone is on record (a link by code is possible)"},
    )


class StaffLinkRequestSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    status = fields.Enum(
        LinkRequestStatus, by_value=True, required=True, metadata={"description": "pending, approved or rejected"}
    )
    office_id = fields.Integer(required=True, metadata={"description": "The id of the social security office"})
    record = fields.Nested(
        RecordSummarySchema,
        attribute="insured_person",
        required=True,
        metadata={"description": "The insured person's record to compare the photo against"},
    )
    account_phone = fields.String(required=True, metadata={"description": "The asking account's phone, masked"})
    photo_url = fields.String(
        required=True, metadata={"description": "Where to download the ID-card photo (getLinkRequestPhoto)"}
    )
    reason = fields.String(allow_none=True, required=True, metadata={"description": "Why it was rejected"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})
    decided_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When it was decided; null while pending"}
    )
    decided_by_name = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The name of the officer who decided (null while pending)"},
    )


class LinkRequestPageSchema(PageMetaSchema):
    items = fields.List(
        fields.Nested(StaffLinkRequestSchema), required=True, metadata={"description": "This page's items"}
    )


class LinkRequestListArgsSchema(PageArgsSchema):
    status = fields.Enum(
        LinkRequestStatus, by_value=True, load_default=None, metadata={"description": "Only those in this status"}
    )


class LinkDecisionSchema(StrictSchema):
    decision = fields.String(
        required=True,
        validate=validate.OneOf(sorted(linking.LINK_DECISIONS)),
        metadata={"description": "What the officer decides"},
    )
    reason = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Required to reject; shown to the member"},
    )


class UnlinkSchema(StrictSchema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "Why the record is unlinked (kept in its history)"},
    )


class LinkEventSchema(StrictSchema):
    action = fields.Enum(LinkAction, by_value=True, required=True, metadata={"description": "linked or unlinked"})
    method = fields.Enum(
        LinkMethod, by_value=True, required=True, metadata={"description": "How the account was linked to the record"}
    )
    account_phone = fields.String(required=True, metadata={"description": "The account's phone, masked"})
    by_staff = fields.Boolean(
        required=True, metadata={"description": "Display name of the officer, for officer links and unlinks"}
    )
    staff_name = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The name of the officer who linked or unlinked (null: the member's own link)"},
    )
    link_request_id = fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "The link request this came from; null for a link by code"},
    )
    reason = fields.String(
        allow_none=True, required=True, metadata={"description": "The officer's reason for an unlink"}
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})


class LinkHistorySchema(StrictSchema):
    member_number = fields.String(required=True, metadata={"description": "The LSSO member number (10 digits)"})
    linked_account = fields.String(allow_none=True, required=True, metadata={"description": "Masked phone, or null"})
    history = fields.List(
        fields.Nested(LinkEventSchema), required=True, metadata={"description": "Links and unlinks, oldest first"}
    )


def _view(requests: list[Any]) -> list[dict[str, Any]]:
    phones = linking.masked_phones_of(db_session(), {r.member_id for r in requests})
    return [
        {
            "id": r.id,
            "status": r.status,
            "office_id": r.office_id,
            "insured_person": r.insured_person,
            "account_phone": phones[r.member_id],
            "photo_url": f"/api/v1/staff/link-requests/{r.id}/photo",
            "reason": r.reason,
            "created_at": r.created_at,
            "decided_at": r.decided_at,
            "decided_by_name": r.decided_by_name,
        }
        for r in requests
    ]


@blp.route("/link-requests", methods=["GET"])
@blp.access(OFFICER, ADMIN)
@blp.arguments(LinkRequestListArgsSchema, location="query")
@blp.response(200, LinkRequestPageSchema)
@blp.doc(operationId="listLinkRequests")
def list_link_requests(args: dict[str, Any]) -> dict[str, Any]:
    """Link requests of the officer's office, oldest first; filter by status.

    Pending first is the usual filter.
    """
    items = linking.list_link_requests(
        db_session(), current_principal(), args["status"], decode_cursor(args["cursor"]), args["limit"] + 1
    )
    result = page(items, args["limit"])
    result["items"] = _view(result["items"])
    return result


@blp.route("/link-requests/<int:link_request_id>", methods=["GET"])
@blp.access(OFFICER, ADMIN)
@blp.response(200, StaffLinkRequestSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not in your office")
@blp.doc(operationId="getLinkRequest")
def get_link_request(link_request_id: int) -> Any:
    """One link request of the officer's office, with the record to compare the photo against.

    Compare the photo (`getLinkRequestPhoto`) with the name, birth date and ID number of the record.
    """
    return _view([linking.get_link_request_for_staff(db_session(), current_principal(), link_request_id)])[0]


@blp.route("/link-requests/<int:link_request_id>/photo", methods=["GET"])
@blp.access(OFFICER, ADMIN)
@blp.response(
    200,
    content_type="application/octet-stream",
    description="The ID-card photo's bytes with the Content-Type sniffed at upload (image/jpeg or image/png) "
    "and X-Content-Type-Options: nosniff",
    headers=file_headers("private, no-store"),
)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not in your office")
@blp.doc(operationId="getLinkRequestPhoto")
def get_link_request_photo(link_request_id: int) -> Any:
    """The ID-card photo the member uploaded.

    The image as stored (re-encoded, metadata removed); never cached by browsers.
    """
    attachment = linking.link_request_photo(db_session(), current_principal(), link_request_id)
    chunks = attachments.stream_attachment(settings(), attachment)
    response = Response(chunks, status=200, content_type=attachment.content_type, direct_passthrough=True)
    response.content_length = attachment.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = (
        f'inline; filename="link-request-{link_request_id}.{EXTENSIONS[attachment.content_type]}"'
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/link-requests/<int:link_request_id>/decision", methods=["POST"])
@blp.access(OFFICER, ADMIN)
@blp.arguments(LinkDecisionSchema)
@blp.response(200, StaffLinkRequestSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not in your office")
@blp.alt_response(409, response="DEFAULT_ERROR", description="Already decided, or the record is linked already")
@blp.doc(operationId="decideLinkRequest")
def decide_link_request(body: dict[str, Any], link_request_id: int) -> Any:
    """Approve (links the record; the person is told) or reject with a reason.

    Approving ties the member's account to the record; a reason is required to reject. The member is told by push.
    """
    request = linking.decide_link_request(
        db_session(),
        settings(),
        current_principal(),
        link_request_id,
        body["decision"],
        body["reason"],
        now(),
        address=client_ip(),
    )
    commit()
    return _view([request])[0]


@blp.route("/insured-persons/<string(maxlength=16):member_number>/links", methods=["GET"])
@blp.access(OFFICER, ADMIN)
@blp.response(200, LinkHistorySchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not in your office")
@blp.doc(operationId="getLinkHistory")
def get_link_history(member_number: str) -> Any:
    """Which app account holds the record now, and every link and unlink.

    Who held the member number and when: links and unlinks, oldest first.
    """
    return _history(member_number)


def _history(member_number: str) -> dict[str, Any]:
    session = db_session()
    events = linking.link_history(session, current_principal(), member_number)
    holder = linking.record_holder(session, member_number)
    phones = linking.masked_phones_of(session, {e.member_id for e in events} | ({holder.id} if holder else set()))
    names = staff_names(session, {e.staff_id for e in events})
    return {
        "member_number": member_number,
        "linked_account": phones[holder.id] if holder else None,
        "history": [
            {
                "action": e.action,
                "method": e.method,
                "account_phone": phones[e.member_id],
                "by_staff": e.staff_id is not None,
                "staff_name": names.get(e.staff_id) if e.staff_id is not None else None,
                "link_request_id": e.link_request_id,
                "reason": e.reason,
                "created_at": e.created_at,
            }
            for e in events
        ],
    }


@blp.route("/insured-persons/<string(maxlength=16):member_number>/unlink", methods=["POST"])
@blp.access(OFFICER, ADMIN)
@blp.arguments(UnlinkSchema)
@blp.response(200, LinkHistorySchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not in your office")
@blp.alt_response(409, response="DEFAULT_ERROR", description="Not linked")
@blp.doc(operationId="unlinkInsuredPerson")
def unlink(body: dict[str, Any], member_number: str) -> Any:
    """Take the record away from the app account that holds it (kept in the history; the account is told).

    For a record linked to the wrong account. The account keeps signing in but holds no member number; the reason is
    kept in the history and the audit log.
    """
    linking.unlink_record(db_session(), current_principal(), member_number, body["reason"], now(), address=client_ip())
    commit()
    return _history(member_number)
