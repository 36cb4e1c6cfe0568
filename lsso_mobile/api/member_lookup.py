"""Staff look members up within their office (the console's member search and page use the same service)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, OFFICER, Blueprint, current_principal, now
from lsso_mobile.api.context import db_session
from lsso_mobile.api.schemas import PageArgsSchema, PageMetaSchema, StrictSchema, decode_cursor, page
from lsso_mobile.services import member_lookup

blp = Blueprint(
    "staff_members",
    __name__,
    url_prefix="/api/v1/staff/members",
    description="Officers find the members of their office and see one member whole",
)


class MemberSearchArgsSchema(PageArgsSchema):
    q = fields.String(
        required=True,
        validate=validate.Length(min=member_lookup.MIN_QUERY_CHARS, max=member_lookup.MAX_QUERY_CHARS),
        metadata={"description": "Phone, member number, national ID or name (Lao or Latin; case and spaces ignored)"},
    )


class MemberCardSchema(StrictSchema):
    id = fields.Integer(required=True)
    phone = fields.String(required=True)
    language = fields.String(required=True)
    office_id = fields.Integer(required=True, allow_none=True)
    office_code = fields.String(required=True, allow_none=True)
    office_name_lo = fields.String(required=True, allow_none=True)
    office_name_en = fields.String(required=True, allow_none=True)
    member_number = fields.String(required=True, allow_none=True)
    name_lo = fields.String(required=True, allow_none=True)
    name_latin = fields.String(required=True, allow_none=True)
    national_id = fields.String(required=True, allow_none=True)


class MemberPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(MemberCardSchema), required=True)


class ApplicationRowSchema(StrictSchema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class MemberArrearSchema(StrictSchema):
    period = fields.String(required=True)
    amount = fields.Integer(required=True)
    due_date = fields.Date(required=True)


class ContributionRowSchema(StrictSchema):
    current_period = fields.String(required=True)
    current_period_paid = fields.Boolean(required=True)
    total_months = fields.Integer(required=True)
    last_paid_period = fields.String(required=True, allow_none=True)
    arrears = fields.List(fields.Nested(MemberArrearSchema), required=True)
    arrears_total = fields.Integer(required=True)


class ClaimRowSchema(StrictSchema):
    id = fields.Integer(required=True)
    benefit_type = fields.String(required=True)
    status = fields.String(required=True)
    amount_claimed = fields.Integer(required=True, allow_none=True)
    amount_approved = fields.Integer(required=True, allow_none=True)
    updated_at = fields.DateTime(required=True)


class ConversationRowSchema(StrictSchema):
    id = fields.Integer(required=True)
    office_id = fields.Integer(required=True)
    subject = fields.String(required=True)
    status = fields.String(required=True)
    last_message_at = fields.DateTime(required=True)


class DeviceRowSchema(StrictSchema):
    id = fields.Integer(required=True)
    platform = fields.String(required=True)
    app_version = fields.String(required=True)
    active = fields.Boolean(required=True)
    last_seen_at = fields.DateTime(required=True)


class NoticeRowSchema(StrictSchema):
    id = fields.Integer(required=True)
    template = fields.String(required=True)
    title_lo = fields.String(required=True)
    title_en = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class MemberDetailSchema(StrictSchema):
    member = fields.Nested(MemberCardSchema, required=True)
    applications = fields.List(fields.Nested(ApplicationRowSchema), required=True)
    contributions = fields.Nested(ContributionRowSchema, required=True, allow_none=True)
    claims = fields.List(fields.Nested(ClaimRowSchema), required=True)
    conversations = fields.List(fields.Nested(ConversationRowSchema), required=True)
    devices = fields.List(fields.Nested(DeviceRowSchema), required=True)
    notices = fields.List(fields.Nested(NoticeRowSchema), required=True)


@blp.route("", methods=["GET"])
@blp.access(OFFICER, ADMIN)
@blp.arguments(MemberSearchArgsSchema, location="query")
@blp.response(200, MemberPageSchema)
@blp.alt_response(422, response="DEFAULT_ERROR", description="Query too short or too long, or a bad cursor")
@blp.doc(operationId="searchMembers")
def search(args: dict[str, Any]) -> Any:
    """Members of your office by phone, member number, national ID or name, by id.

    Give exactly one of the search fields. An admin searches every office. Names match in Lao script or Latin spelling.
    """
    found = member_lookup.search_members(
        db_session(), current_principal(), args["q"], decode_cursor(args["cursor"]), args["limit"] + 1
    )
    result = page(found, args["limit"])
    result["items"] = [asdict(card) for card in result["items"]]
    return result


@blp.route("/<int:member_id>", methods=["GET"])
@blp.access(OFFICER, ADMIN)
@blp.response(200, MemberDetailSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not a member of your office")
@blp.doc(operationId="getMemberDetail")
def detail(member_id: int) -> Any:
    """One member of your office: profile, registrations, contributions, claims, conversations, devices and
    recent notices.

    What an officer needs on the phone with a member: the latest of each list. Reading it is recorded in the audit log.
    """
    found = member_lookup.member_detail(db_session(), current_principal(), member_id, now())
    return {
        "member": asdict(found.card),
        "applications": found.applications,
        "contributions": found.contributions,
        "claims": found.claims,
        "conversations": found.conversations,
        "devices": found.devices,
        "notices": found.notices,
    }
