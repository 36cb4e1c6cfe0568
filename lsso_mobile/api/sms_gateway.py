"""The SMS gateway's webhooks: delivery reports and inbound SMS (look-ups), signed with a shared secret."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request
from marshmallow import fields, validate

from lsso_mobile.api.access import PUBLIC, Blueprint, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import StrictSchema
from lsso_mobile.errors import NotAuthenticated
from lsso_mobile.services.sms import REPORT_STATUSES, record_delivery_report, webhook_is_authentic
from lsso_mobile.services.sms_lookup import receive_inbound

F = TypeVar("F", bound=Callable[..., Any])
MAX_REPORTS_PER_CALL = 500

blp = Blueprint(
    "sms_gateway",
    __name__,
    url_prefix="/api/v1/sms-gateway",
    description="Webhooks of the SMS gateway: delivery reports and inbound SMS",
)


def signed_by_gateway(view: F) -> F:
    """Refuse (401) a call whose ``X-Lsso-Signature`` is not the HMAC of ``X-Lsso-Timestamp`` and the body."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        body = request.get_data(cache=True)
        timestamp = request.headers.get("X-Lsso-Timestamp", "")
        signature = request.headers.get("X-Lsso-Signature", "")
        if not webhook_is_authentic(settings(), timestamp, signature, body, now()):
            raise NotAuthenticated(
                "The SMS gateway's signature is missing, wrong or too old.", error="sms_webhook_signature"
            )
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class DeliveryReportSchema(StrictSchema):
    message_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The gateway's id of the SMS (its answer when we sent it)", "example": "gw-1f3a"},
    )
    status = fields.String(
        required=True,
        validate=validate.OneOf(REPORT_STATUSES),
        metadata={
            "description": "What became of it (final: delivered, failed, expired, rejected)",
            "example": "delivered",
        },
    )
    error_code = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "The network's reason, if it failed", "example": None},
    )


class DeliveryReportsSchema(StrictSchema):
    reports = fields.List(
        fields.Nested(DeliveryReportSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_REPORTS_PER_CALL),
        metadata={"description": "Up to 500 reports a call"},
    )


class DeliveryReportsResultSchema(StrictSchema):
    recorded = fields.Integer(required=True, metadata={"description": "Reports about SMS of ours", "example": 1})
    ignored = fields.Integer(required=True, metadata={"description": "Reports naming no SMS of ours", "example": 0})


class InboundSmsSchema(StrictSchema):
    message_id = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "The gateway's id of this SMS: a retried call counts once", "example": "in-77"},
    )
    sender = fields.String(
        required=True,
        data_key="from",
        validate=validate.Length(min=3, max=32),
        metadata={"description": "The sender's number", "example": "+8562055512345"},
    )
    text = fields.String(
        required=True,
        validate=validate.Length(max=1600),
        metadata={"description": "What the person wrote (a keyword); not stored", "example": "ຍອດ"},
    )


class InboundResultSchema(StrictSchema):
    outcome = fields.String(
        required=True,
        validate=validate.OneOf(["answered", "refused", "limited", "duplicate"]),
        metadata={"description": "What was done: an answer or a polite refusal queued, limited, or seen before"},
    )


@blp.route("/delivery-reports", methods=["POST"])
@blp.access(PUBLIC)
@blp.doc(operationId="receiveSmsDeliveryReports")
@blp.alt_response(401, response="DEFAULT_ERROR", description="Not signed by the gateway")
@signed_by_gateway
@blp.arguments(DeliveryReportsSchema)
@blp.response(200, DeliveryReportsResultSchema)
def delivery_reports(body: dict[str, Any]) -> Any:
    """Delivery reports from the SMS gateway.

    Called by the gateway only. A final report (delivered, failed, expired, rejected) is never replaced,
    so repeated or late reports change nothing.

    Signed by the gateway: header ``X-Lsso-Timestamp`` (Unix seconds, within five minutes of ours) and
    ``X-Lsso-Signature: sha256=<hex>``, the HMAC-SHA256 under ``LSSO_SMS_WEBHOOK_SECRET`` of the timestamp,
    a dot and the raw body; anything else is a 401."""
    session = db_session()
    recorded = sum(
        record_delivery_report(session, r["message_id"], r["status"], r["error_code"], now()) for r in body["reports"]
    )
    commit()
    return {"recorded": recorded, "ignored": len(body["reports"]) - recorded}


@blp.route("/inbound", methods=["POST"])
@blp.access(PUBLIC)
@blp.doc(operationId="receiveInboundSms")
@blp.alt_response(401, response="DEFAULT_ERROR", description="Not signed by the gateway")
@signed_by_gateway
@blp.arguments(InboundSmsSchema)
@blp.response(200, InboundResultSchema)
def inbound_sms(body: dict[str, Any]) -> Any:
    """An SMS a person sent to the service's number: a look-up, answered by SMS in Lao.

    Called by the gateway only. Keywords: ``ຍອດ`` / ``balance`` (contributions and arrears), ``ຊ່ວຍ`` /
    ``help``. Only the phone on record of an insured person gets figures; other phones get a polite
    refusal; each phone gets at most ``LSSO_SMS_LOOKUPS_PER_HOUR`` answers an hour.

    Signed by the gateway: header ``X-Lsso-Timestamp`` (Unix seconds, within five minutes of ours) and
    ``X-Lsso-Signature: sha256=<hex>``, the HMAC-SHA256 under ``LSSO_SMS_WEBHOOK_SECRET`` of the timestamp,
    a dot and the raw body; anything else is a 401."""
    outcome = receive_inbound(db_session(), settings(), body["sender"], body["text"], body["message_id"], now())
    commit()
    return {"outcome": outcome}
