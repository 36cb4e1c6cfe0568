"""The signed-in member's own account: profile, language, linking to an existing member number.

A link is proven by a code sent to the phone on record for that person (``POST /me/link/code``, then
``POST /me/link``), or by an officer of the person's office who checks an ID-card photo (``POST
/me/link-request``, with an upload from ``POST /conversations/attachments``).
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import MEMBER, Blueprint, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.models import (
    ApplicationStatus,
    Language,
    LinkMethod,
    LinkRequestStatus,
)
from lsso_mobile.services import linking, profile
from lsso_mobile.validation import FullMatch

blp = Blueprint("members", __name__, url_prefix="/api/v1/me", description="The signed-in member")


class OfficeSummarySchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The office's id"})
    code = fields.String(required=True, metadata={"description": "Office code (P01, D0101, ...)"})
    name_lo = fields.String(required=True, metadata={"description": "Name in Lao script"})
    name_en = fields.String(required=True, metadata={"description": "Name in English"})


class MemberProfileSchema(StrictSchema):
    phone = fields.String(required=True, metadata={"description": "The account's phone (E.164)"})
    language = fields.Enum(
        Language,
        by_value=True,
        required=True,
        metadata={"description": "lo or en: the language of notices, SMS and error messages"},
    )
    member_number = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The LSSO member number; null until registered or linked"},
    )
    name_lo = fields.String(
        allow_none=True, required=True, metadata={"description": "Name in Lao script; null until registered or linked"}
    )
    name_latin = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Name in Latin letters; null until registered or linked"},
    )
    office = fields.Nested(
        OfficeSummarySchema,
        allow_none=True,
        required=True,
        metadata={"description": "The member's social security office; null until registered"},
    )
    registration_status = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "enum": [s.value for s in ApplicationStatus],
            "description": "The latest application's status; null before applying",
        },
    )


class MemberUpdateSchema(StrictSchema):
    language = fields.Enum(Language, by_value=True, required=True, metadata={"description": "lo or en"})


def _member_number_field() -> fields.String:
    return fields.String(
        required=True,
        validate=FullMatch(r"^[0-9]{10}$", error="A member number is 10 digits."),
        metadata={"description": "The member number on paper (10 digits)", "example": "0100000042"},
    )


class LinkRecordSchema(StrictSchema):
    member_number = _member_number_field()
    date_of_birth = fields.Date(
        required=True, metadata={"description": "The date of birth on record, as a second check (YYYY-MM-DD)"}
    )


class LinkSchema(LinkRecordSchema):
    code = fields.String(
        required=True,
        validate=FullMatch(r"^[0-9]{6}$", error="A code is exactly 6 digits."),
        metadata={"description": "The 6-digit code sent by SMS to the phone on record for this member number"},
    )


class LinkCodeSentSchema(StrictSchema):
    sent_to = fields.String(required=True, metadata={"description": "The phone on record, masked"})
    expires_in = fields.Integer(
        required=True, attribute="expires_in_seconds", metadata={"description": "Seconds the code stays valid"}
    )


class LinkStatusSchema(StrictSchema):
    member_number = fields.String(required=True, metadata={"description": "The member number this account holds"})
    linked_account = fields.String(required=True, metadata={"description": "The phone of the app account, masked"})
    linked_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When the account was linked (UTC)"}
    )
    method = fields.Enum(
        LinkMethod,
        by_value=True,
        allow_none=True,
        required=True,
        metadata={"description": "How the account was linked to the record"},
    )


class LinkRequestFormSchema(LinkRecordSchema):
    id_photo_attachment_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "A JPEG or PNG of your ID card, uploaded with POST /api/v1/conversations/attachments"},
    )


class MemberLinkRequestSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    status = fields.Enum(
        LinkRequestStatus, by_value=True, required=True, metadata={"description": "pending, approved or rejected"}
    )
    member_number = fields.Function(
        lambda r: r.insured_person.member_number, required=True, metadata={"description": "The member number asked for"}
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


@blp.route("", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, MemberProfileSchema)
@blp.doc(operationId="getMyProfile")
def get_profile() -> Any:
    """The member's phone, language, member number (once registered) and office.

    Call it after signing in to know where the member stands: `member_number` and `office` are null until registration
    is approved; `registration_status` tells how far an application got.
    """
    return profile.member_profile(db_session(), current_principal().id)


@blp.route("", methods=["PATCH"])
@blp.access(MEMBER)
@blp.arguments(MemberUpdateSchema)
@blp.response(200, MemberProfileSchema)
@blp.doc(operationId="updateMyProfile")
def update_profile(body: dict[str, Any]) -> Any:
    """Change the language of notices and texts (lo or en).

    Notices, SMS and error messages follow this language from the next request on.
    """
    profile.set_language(db_session(), current_principal().id, body["language"])
    commit()
    return profile.member_profile(db_session(), current_principal().id)


@blp.route("/link/code", methods=["POST"])
@blp.access(MEMBER)
@blp.arguments(LinkRecordSchema)
@blp.response(202, LinkCodeSentSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No record matches")
@blp.alt_response(
    409,
    response="DEFAULT_ERROR",
    description="Already linked, registration in progress, or no phone on record (error: no_phone_on_record)",
)
@blp.doc(operationId="sendLinkCode")
def send_link_code(body: dict[str, Any]) -> Any:
    """Send a code to the phone on record for this member number (never to your own phone).

    Failed attempts are counted per member number: after a few, the number is refused for a while (429).
    A record without a phone on record is linked through an officer instead (``POST /me/link-request``).
    """
    sent = linking.send_link_code(
        db_session(), settings(), current_principal().id, body["member_number"], body["date_of_birth"], now()
    )
    commit()
    return sent


@blp.route("/link", methods=["POST"])
@blp.access(MEMBER)
@blp.arguments(LinkSchema)
@blp.response(200, MemberProfileSchema)
@blp.alt_response(400, response="DEFAULT_ERROR", description="Wrong or expired code")
@blp.alt_response(404, response="DEFAULT_ERROR", description="No record matches")
@blp.alt_response(409, response="DEFAULT_ERROR", description="Already linked (errors.linked_account: which account)")
@blp.doc(operationId="linkMemberNumber")
def link_member_number(body: dict[str, Any]) -> Any:
    """Link the app to an existing LSSO member number with the code sent to the phone on record.

    For someone already insured (a member number on paper) who signed up in the app: after `sendLinkCode`, send the same
    member number and birth date with the code. Answers with the profile, now with the member number.
    """
    member_id = current_principal().id
    linking.confirm_link(
        db_session(), settings(), member_id, body["member_number"], body["date_of_birth"], body["code"], now()
    )
    commit()
    return profile.member_profile(db_session(), member_id)


@blp.route("/link", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, LinkStatusSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not linked")
@blp.doc(operationId="getMyLink")
def get_link() -> Any:
    """Which member number this account holds, which account that is (masked phone), how and when linked.

    404 while the account holds no member number.
    """
    return linking.link_status(db_session(), current_principal().id)


@blp.route("/link-request", methods=["POST"])
@blp.access(MEMBER)
@blp.arguments(LinkRequestFormSchema)
@blp.response(201, MemberLinkRequestSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No record matches")
@blp.alt_response(409, response="DEFAULT_ERROR", description="Already linked, or a request is pending")
@blp.doc(operationId="requestOfficerLink")
def request_link(body: dict[str, Any]) -> Any:
    """Ask an officer of the record's office to link it, showing a photo of your ID card.

    For a record with no phone on record, or a phone the member no longer has: upload a photo of the ID card first
    (`uploadAttachment`), then send its id here. The member is told by a push when an officer decides.
    """
    request = linking.request_officer_link(
        db_session(),
        settings(),
        current_principal().id,
        body["member_number"],
        body["date_of_birth"],
        body["id_photo_attachment_id"],
        now(),
    )
    commit()
    return request


@blp.route("/link-request", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, MemberLinkRequestSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No link request yet")
@blp.doc(operationId="getMyLinkRequest")
def get_link_request() -> Any:
    """Your latest link request and its status (pending, approved, rejected with a reason).

    Poll it, or wait for the push, after `requestOfficerLink`.
    """
    return linking.current_link_request(db_session(), current_principal().id)
