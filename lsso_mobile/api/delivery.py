"""What reached members: channel health, delivery of notices and broadcasts, SMS costs (staff)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, OFFICER, OPS, Blueprint, current_principal, now
from lsso_mobile.api.context import db_session, settings
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.models import StaffRole
from lsso_mobile.notify.preferences import VIENTIANE
from lsso_mobile.notify.templates import CATEGORIES
from lsso_mobile.services import delivery_reports

blp = Blueprint(
    "delivery",
    __name__,
    url_prefix="/api/v1/staff",
    description="Delivery on cheap phones: acknowledgements, SMS fallback, SMS costs",
)


class ChannelHealthSchema(StrictSchema):
    member_id = fields.Integer(required=True, metadata={"description": "The member", "example": 12})
    channel = fields.String(
        required=True,
        metadata={"description": "The member's choice: push (with SMS fallback) or sms", "example": "push"},
    )
    active_devices = fields.Integer(required=True, metadata={"description": "Devices that get pushes", "example": 1})
    last_app_start = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "The app last registered its device then"}
    )
    last_ack = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "The app last acknowledged a notice then"}
    )
    notices = fields.Integer(required=True, metadata={"description": "Personal notices, last 30 days", "example": 9})
    pushed = fields.Integer(
        required=True, metadata={"description": "... of which FCM accepted a push to a device", "example": 8}
    )
    acknowledged = fields.Integer(
        required=True, metadata={"description": "... of which the app acknowledged", "example": 6}
    )
    ack_share = fields.Float(
        allow_none=True,
        required=True,
        metadata={"description": "acknowledged / pushed (null: nothing pushed)", "example": 0.75},
    )
    sms = fields.Integer(required=True, metadata={"description": "SMS to the member, last 30 days", "example": 2})
    sms_parts = fields.Integer(required=True, metadata={"description": "Their parts (what was billed)", "example": 3})


class SmsReportSchema(StrictSchema):
    parts = fields.Integer(required=True, metadata={"description": "SMS parts billed", "example": 2})
    encoding = fields.String(required=True, metadata={"description": "gsm7 or ucs2 (Lao)", "example": "ucs2"})
    sent_at = fields.DateTime(allow_none=True, required=True, metadata={"description": "The gateway took it"})
    report_status = fields.String(
        allow_none=True, required=True, metadata={"description": "The gateway's latest report", "example": "delivered"}
    )
    report_error = fields.String(allow_none=True, required=True, metadata={"description": "Its error code, if any"})
    reported_at = fields.DateTime(allow_none=True, required=True, metadata={"description": "When it reported"})


class NoticeDeliverySchema(StrictSchema):
    notification_id = fields.Integer(required=True, metadata={"description": "The notice", "example": 41})
    member_id = fields.Integer(required=True, metadata={"description": "Its member", "example": 12})
    category = fields.String(
        required=True, metadata={"enum": list(CATEGORIES), "description": "Its category", "example": "benefits"}
    )
    template = fields.String(required=True, metadata={"description": "Its template", "example": "benefit_paid"})
    critical = fields.Boolean(required=True, metadata={"description": "Ignores muting and quiet hours"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it was written"})
    pushes = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={
            "description": "Pushes to devices by outcome (sent, failed, unregistered, ...)",
            "example": {"sent": 1},
        },
    )
    acked_at = fields.DateTime(allow_none=True, required=True, metadata={"description": "The app acknowledged it"})
    sms_due_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "Goes by SMS then unless acknowledged"}
    )
    sms_outcome = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "enum": ["queued", "capped", "muted", "no_phone", "no_text", None],
            "description": "queued (fell back to SMS), capped, muted, no_phone, no_text; null: no SMS needed",
        },
    )
    sms = fields.Nested(SmsReportSchema, allow_none=True, required=True, metadata={"description": "Its SMS, if any"})


class BroadcastDeliverySchema(StrictSchema):
    broadcast_id = fields.Integer(required=True, metadata={"description": "The broadcast", "example": 7})
    sms_fallback = fields.Boolean(required=True, metadata={"description": "Ops chose to send it by SMS too"})
    audience_members = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Members when sending began", "example": 1200}
    )
    pushed = fields.Integer(required=True, metadata={"description": "Pushes FCM accepted", "example": 900})
    acknowledged = fields.Integer(
        required=True, metadata={"description": "Members whose app acknowledged it", "example": 700}
    )
    sms = fields.Integer(required=True, metadata={"description": "SMS sent for it", "example": 150})
    sms_parts = fields.Integer(required=True, metadata={"description": "Their parts", "example": 300})
    sms_reports = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={
            "description": "SMS by the gateway's latest report (none: no report yet)",
            "example": {"delivered": 140},
        },
    )


REPORT_DAYS = validate.Range(min=date(2000, 1, 1), max=date(2199, 12, 31), error="Out of range.")


class CostArgsSchema(StrictSchema):
    first = fields.Date(
        data_key="from",
        load_default=None,
        validate=REPORT_DAYS,
        metadata={"description": "First day (Vientiane); default 30 days ago", "example": "2026-11-01"},
    )
    last = fields.Date(
        data_key="to",
        load_default=None,
        validate=REPORT_DAYS,
        metadata={"description": "Last day; default today", "example": "2026-11-30"},
    )


class CostRowSchema(StrictSchema):
    day = fields.Date(required=True, metadata={"description": "The day in Vientiane", "example": "2026-11-30"})
    office_code = fields.String(
        allow_none=True, required=True, metadata={"description": "The member's office (null: none)", "example": "D0101"}
    )
    category = fields.String(
        required=True, metadata={"description": "The notice category, or what the SMS was for", "example": "benefits"}
    )
    messages = fields.Integer(required=True, metadata={"description": "SMS handed to the gateway", "example": 12})
    parts = fields.Integer(required=True, metadata={"description": "Their parts", "example": 20})
    cost = fields.Integer(
        required=True, metadata={"description": "Kip: parts x LSSO_SMS_COST_PER_PART", "example": 4000}
    )


class CostReportSchema(StrictSchema):
    cost_per_part = fields.Integer(required=True, metadata={"description": "Kip per part", "example": 200})
    rows = fields.List(
        fields.Nested(CostRowSchema),
        required=True,
        metadata={"description": "SMS parts and cost per day, office and category"},
    )
    total_parts = fields.Integer(required=True, metadata={"description": "All parts in the range", "example": 20})
    total_cost = fields.Integer(required=True, metadata={"description": "Kip in the range", "example": 4000})


@blp.route("/members/<int:member_id>/channel-health", methods=["GET"])
@blp.access(OFFICER, OPS, ADMIN)
@blp.doc(operationId="getMemberChannelHealth")
@blp.response(200, ChannelHealthSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No such member (or another office's)")
def member_channel_health(member_id: int) -> Any:
    """How notices reach one member: devices, last app start, acknowledgements, SMS.

    Officers (their office's members), ops and admins."""
    return delivery_reports.channel_health(db_session(), current_principal(), member_id, now())


@blp.route("/notifications/<int:notification_id>/delivery", methods=["GET"])
@blp.access(OFFICER, OPS, ADMIN)
@blp.doc(operationId="getNotificationDelivery")
@blp.response(200, NoticeDeliverySchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No such notice (or another office's member's)")
def notification_delivery(notification_id: int) -> Any:
    """What became of one personal notice: pushes, acknowledgement, SMS fallback and the gateway's report.

    Officers (their office's members), ops and admins."""
    return delivery_reports.notice_delivery(db_session(), current_principal(), notification_id)


@blp.route("/broadcasts/<int:broadcast_id>/delivery", methods=["GET"])
@blp.access(OPS, ADMIN)
@blp.doc(operationId="getBroadcastDelivery")
@blp.response(200, BroadcastDeliverySchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No such broadcast")
def broadcast_delivery(broadcast_id: int) -> Any:
    """What became of one broadcast: pushed, acknowledged, SMS and their delivery reports.

    Ops and admins."""
    return delivery_reports.broadcast_delivery(db_session(), broadcast_id)


@blp.route("/sms/costs", methods=["GET"])
@blp.access(OFFICER, OPS, ADMIN)
@blp.doc(operationId="getSmsCosts")
@blp.arguments(CostArgsSchema, location="query")
@blp.response(200, CostReportSchema)
@blp.alt_response(422, response="DEFAULT_ERROR", description="The range is backwards or longer than 92 days")
def sms_costs(args: dict[str, Any]) -> Any:
    """SMS sent and their cost by day (Vientiane), office and category, over at most 92 days.

    Ops and admins see every office; officers their own office."""
    principal = current_principal()
    today = now().astimezone(VIENTIANE).date()
    last: date = args["last"] or today
    first: date = args["first"] or last - timedelta(days=29)
    cost_per_part = settings().sms_cost_per_part
    office = principal.office_id if principal.role == StaffRole.OFFICER.value else None
    rows = delivery_reports.sms_costs(db_session(), first, last, cost_per_part, office)
    return {
        "cost_per_part": cost_per_part,
        "rows": rows,
        "total_parts": sum(r.parts for r in rows),
        "total_cost": sum(r.cost for r in rows),
    }
