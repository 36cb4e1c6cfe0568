"""Staff look members up within their office (the console's member search and page use the same service)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, OFFICER, Blueprint, current_principal, now
from lsso_mobile.api.context import db_session
from lsso_mobile.api.schemas import PageArgsSchema, PageMetaSchema, StrictSchema, decode_cursor, page
from lsso_mobile.models import ApplicationStatus, BenefitType, ClaimStatus, ConversationStatus, Language, Platform
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
    id = fields.Integer(required=True, metadata={"description": "The member's id (getMemberDetail)"})
    phone = fields.String(
        required=True,
        metadata={"description": "Lao mobile number (E.164, +856 20 ...); any common spelling is accepted on input"},
    )
    language = fields.String(
        required=True,
        metadata={"enum": [lang.value for lang in Language], "description": "The member's language: lo or en"},
    )
    office_id = fields.Integer(required=True, allow_none=True, metadata={"description": "The member's office"})
    office_code = fields.String(required=True, allow_none=True, metadata={"description": "The member's office"})
    office_name_lo = fields.String(required=True, allow_none=True, metadata={"description": "Office name in Lao"})
    office_name_en = fields.String(required=True, allow_none=True, metadata={"description": "Office name in English"})
    member_number = fields.String(
        required=True, allow_none=True, metadata={"description": "The LSSO member number (10 digits)"}
    )
    name_lo = fields.String(required=True, allow_none=True, metadata={"description": "Name in Lao script"})
    name_latin = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "Name in Latin letters (as on the passport or ID card)"},
    )
    national_id = fields.String(
        required=True, allow_none=True, metadata={"description": "National ID card or family-book number"}
    )


class MemberPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(MemberCardSchema), required=True, metadata={"description": "This page's items"})


class ApplicationRowSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    status = fields.String(
        required=True,
        metadata={"enum": [s.value for s in ApplicationStatus], "description": "Where the application stands"},
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})


class MemberArrearSchema(StrictSchema):
    period = fields.String(required=True, metadata={"description": "The unpaid month (YYYY-MM)"})
    amount = fields.Integer(required=True, metadata={"description": "Kip due for the month"})
    due_date = fields.Date(
        required=True, metadata={"description": "The last day to pay it without being late (YYYY-MM-DD)"}
    )


class ContributionRowSchema(StrictSchema):
    current_period = fields.String(required=True, metadata={"description": "This month (YYYY-MM, Asia/Vientiane)"})
    current_period_paid = fields.Boolean(required=True, metadata={"description": "Whether this month is paid"})
    total_months = fields.Integer(required=True, metadata={"description": "Months with a paid contribution, in total"})
    last_paid_period = fields.String(
        required=True, allow_none=True, metadata={"description": "The latest month paid (YYYY-MM); null if none"}
    )
    arrears = fields.List(
        fields.Nested(MemberArrearSchema),
        required=True,
        metadata={"description": "Unpaid months, oldest first, with amounts"},
    )
    arrears_total = fields.Integer(required=True, metadata={"description": "Kip owed for unpaid months, in total"})


class ClaimRowSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    benefit_type = fields.String(
        required=True, metadata={"enum": [b.value for b in BenefitType], "description": "Which benefit"}
    )
    status = fields.String(
        required=True, metadata={"enum": [s.value for s in ClaimStatus], "description": "Where the claim stands"}
    )
    amount_claimed = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Kip claimed (integer); null if not known"}
    )
    amount_approved = fields.Integer(
        required=True, allow_none=True, metadata={"description": "Kip approved (integer); null until approved"}
    )
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})


class ConversationRowSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    office_id = fields.Integer(required=True, metadata={"description": "The office the member writes to"})
    subject = fields.String(required=True, metadata={"description": "A short subject line"})
    status = fields.String(
        required=True,
        metadata={
            "enum": [s.value for s in ConversationStatus],
            "description": "open (waiting for the office), pending (answered, waiting for the member) or resolved",
        },
    )
    last_message_at = fields.DateTime(
        required=True, metadata={"description": "When the latest message was written (UTC)"}
    )


class DeviceRowSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The device's id"})
    platform = fields.String(
        required=True, metadata={"enum": [p.value for p in Platform], "description": "The phone's platform"}
    )
    app_version = fields.String(required=True, metadata={"description": "The app's version (e.g. 1.4.2)"})
    active = fields.Boolean(required=True, metadata={"description": "False once the token was found dead or removed"})
    last_seen_at = fields.DateTime(required=True, metadata={"description": "When the device last registered (UTC)"})


class NoticeRowSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    template = fields.String(required=True, metadata={"description": "Which notice it was"})
    title_lo = fields.String(required=True, metadata={"description": "Title in Lao"})
    title_en = fields.String(required=True, metadata={"description": "Title in English"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})


class MemberDetailSchema(StrictSchema):
    member = fields.Nested(MemberCardSchema, required=True, metadata={"description": "The member's profile"})
    applications = fields.List(
        fields.Nested(ApplicationRowSchema),
        required=True,
        metadata={"description": "The member's registration applications"},
    )
    contributions = fields.Nested(
        ContributionRowSchema, required=True, allow_none=True, metadata={"description": "The latest contributions"}
    )
    claims = fields.List(
        fields.Nested(ClaimRowSchema), required=True, metadata={"description": "The latest benefit claims"}
    )
    conversations = fields.List(
        fields.Nested(ConversationRowSchema), required=True, metadata={"description": "The latest conversations"}
    )
    devices = fields.List(fields.Nested(DeviceRowSchema), required=True, metadata={"description": "Active devices"})
    notices = fields.List(
        fields.Nested(NoticeRowSchema), required=True, metadata={"description": "The latest notices sent to the member"}
    )


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
