"""Members pay their contributions (dues, bills, LAO QR, receipts); banks call back; officers take cash and
settle the review queue; the core system reads the app's payments."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import request
from marshmallow import fields, validate

from lsso_mobile import metrics
from lsso_mobile.api.access import ADMIN, CORE, MEMBER, OFFICER, PUBLIC, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.headers import binary_response
from lsso_mobile.api.schemas import (
    MultiLineText,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_cursor,
    decode_time_cursor,
    encode_time_cursor,
    page,
)
from lsso_mobile.errors import InvalidInput, NotAuthenticated, NotFound
from lsso_mobile.models import PaymentStatus, ReviewReason, ReviewStatus, Scheme
from lsso_mobile.services import payments
from lsso_mobile.services.contributions import insured_person_of
from lsso_mobile.services.lao_qr import bill_payload, qr_image
from lsso_mobile.services.payment_providers import CallbackRefused, build_provider

ERROR = "DEFAULT_ERROR"
PERIOD = r"^(199[0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"
BILL_NUMBER = r"^[0-9]{10}$"
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,64}")
IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Any string of 1-64 printable ASCII characters (a UUID): a retry with the same key gets the "
    "first answer; the same key with a different request is a 409",
    "schema": {"type": "string", "pattern": "^[!-~]{1,64}$", "maxLength": 64},
}
REPLAYED_HEADER = {
    "Idempotent-Replayed": {"description": "true when this is a retry's answer", "schema": {"type": "string"}}
}

member_blp = Blueprint(
    "bills", __name__, url_prefix="/api/v1/me", description="Members pay their contributions: dues, bills, LAO QR"
)
callback_blp = Blueprint(
    "payment_callbacks",
    __name__,
    url_prefix="/api/v1/payments/callbacks",
    description="Banks and aggregators tell the service a bill was paid (signed; a hint, confirmed with the bank)",
)
staff_blp = Blueprint(
    "staff_payments",
    __name__,
    url_prefix="/api/v1/staff",
    description="Officers take cash with four eyes and settle the payment review queue",
)
core_blp = Blueprint(
    "integration_payments",
    __name__,
    url_prefix="/api/v1/integration",
    description="The core system reads the payments members made through the app",
)


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise InvalidInput(
            "The Idempotency-Key header must be 1 to 64 printable ASCII characters.",
            error="invalid_idempotency_key",
            errors={"Idempotency-Key": ["Use 1 to 64 printable ASCII characters, such as a UUID."]},
        )
    return key


# -- schemas ---------------------------------------------------------------------------------------------


class DueMonthSchema(StrictSchema):
    period = fields.String(required=True, metadata={"description": "The month, YYYY-MM", "example": "2026-11"})
    amount = fields.Integer(required=True, metadata={"description": "Whole kip", "example": 180000})
    kind = fields.String(
        required=True,
        validate=validate.OneOf(["arrear", "current", "ahead"]),
        metadata={"description": "arrear, current or ahead", "example": "arrear"},
    )
    open_bill_number = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The open bill this month is on, if any", "example": None},
    )


class DuesSchema(StrictSchema):
    member_number = fields.String(
        required=True, metadata={"description": "LSSO member number", "example": "0112345678"}
    )
    scheme = fields.String(
        required=True,
        metadata={"enum": [s.value for s in Scheme], "description": "The member's scheme", "example": "voluntary"},
    )
    declared_base = fields.Integer(
        required=True, metadata={"description": "Declared monthly income in kip", "example": 2000000}
    )
    rounding = fields.String(
        required=True, metadata={"description": "How amounts are computed", "example": payments.ROUNDING_RULE}
    )
    arrears_total = fields.Integer(required=True, metadata={"description": "Kip in arrears", "example": 180000})
    months = fields.List(
        fields.Nested(DueMonthSchema),
        required=True,
        metadata={"description": "Arrears oldest first, then the current month and up to 12 ahead"},
    )


class BillMonthSchema(StrictSchema):
    period = fields.String(required=True, metadata={"description": "YYYY-MM", "example": "2026-10"})
    amount = fields.Integer(required=True, metadata={"description": "Whole kip", "example": 180000})
    arrear = fields.Boolean(required=True, metadata={"description": "An arrear month", "example": True})


class BillSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "Bill id", "example": 12})
    number = fields.String(
        required=True,
        metadata={"description": "10 digits, the last a check digit: type it at a bank", "example": "4829105736"},
    )
    amount = fields.Integer(required=True, metadata={"description": "Whole kip", "example": 540000})
    status = fields.String(
        required=True,
        validate=validate.OneOf(["open", "paid", "expired", "cancelled"]),
        metadata={"description": "open, paid, expired or cancelled", "example": "open"},
    )
    expires_at = fields.DateTime(
        required=True, metadata={"description": "Pay before this", "example": "2026-11-30T08:15:00+00:00"}
    )
    created_at = fields.DateTime(
        required=True, metadata={"description": "When made", "example": "2026-11-30T08:15:00+00:00"}
    )
    paid_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When paid", "example": "2026-11-30T08:15:00+00:00"}
    )
    months = fields.List(
        fields.Nested(BillMonthSchema), required=True, metadata={"description": "Months, oldest first"}
    )
    qr_payload = fields.Method(
        "_qr", required=True, metadata={"description": "LAO QR (EMVCo) text; null unless open", "example": None}
    )

    def _qr(self, bill: Any) -> str | None:
        if bill.status != "open":
            return None
        return bill_payload(settings(), bill.number, bill.amount)


class BillPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(BillSchema), required=True, metadata={"description": "Newest first"})


class NewBillSchema(StrictSchema):
    months = fields.List(
        fields.String(validate=validate.Regexp(PERIOD, error="Expected YYYY-MM.")),
        required=True,
        validate=validate.Length(min=1, max=payments.MAX_MONTHS_PER_BILL),
        metadata={"description": "Months to pay (YYYY-MM): the oldest owed first", "example": ["2026-10", "2026-11"]},
    )


class QrArgsSchema(StrictSchema):
    format = fields.String(
        load_default="png",
        validate=validate.OneOf(["png", "svg"]),
        metadata={"description": "png or svg", "example": "png"},
    )


class CallbackAnswerSchema(StrictSchema):
    status = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in PaymentStatus]),
        metadata={
            "description": "Our state of the transaction (unconfirmed until the bank confirms it)",
            "example": "unconfirmed",
        },
    )


class CashInSchema(StrictSchema):
    bill_number = fields.String(
        required=True,
        validate=validate.Regexp(BILL_NUMBER, error="Expected the 10-digit bill number."),
        metadata={"description": "The member's bill number", "example": "4829105736"},
    )
    amount = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=2_147_483_647),
        metadata={"description": "Cash taken, whole kip (must equal the bill)", "example": 540000},
    )


class CashPaymentSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "Payment id", "example": 7})
    bill_number = fields.String(required=True, metadata={"description": "Bill number", "example": "4829105736"})
    amount = fields.Integer(required=True, metadata={"description": "Whole kip", "example": 540000})
    status = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in PaymentStatus]),
        metadata={"description": "awaiting_second_officer, credited, review, ...", "example": "credited"},
    )
    recorded_by_id = fields.Integer(required=True, metadata={"description": "Officer who took it", "example": 3})
    confirmed_by_id = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Second officer", "example": 4}
    )
    received_at = fields.DateTime(
        required=True, metadata={"description": "When taken", "example": "2026-11-30T08:15:00+00:00"}
    )


class CashReportArgsSchema(StrictSchema):
    day = fields.Date(
        required=True,
        metadata={"description": "The day (Vientiane), YYYY-MM-DD", "example": "2026-12-03"},
        validate=validate.Range(min=date(2000, 1, 1), max=date(2200, 1, 1)),
    )


class CashReportSchema(StrictSchema):
    office_id = fields.Integer(required=True, metadata={"description": "The officer's office", "example": 5})
    day = fields.Date(required=True, metadata={"description": "The day (Vientiane)", "example": "2026-12-03"})
    confirmed_count = fields.Integer(required=True, metadata={"description": "Confirmed payments", "example": 4})
    confirmed_total = fields.Integer(required=True, metadata={"description": "Kip confirmed", "example": 720000})
    awaiting_count = fields.Integer(required=True, metadata={"description": "Awaiting a second officer", "example": 1})
    awaiting_total = fields.Integer(required=True, metadata={"description": "Kip awaiting", "example": 180000})
    payments = fields.List(fields.Nested(CashPaymentSchema), required=True, metadata={"description": "Each payment"})


class ReviewSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "Review item id", "example": 9})
    provider = fields.String(required=True, metadata={"description": "Provider (or cash)", "example": "bank"})
    transaction_id = fields.String(required=True, metadata={"description": "Provider's id", "example": "TX123"})
    reason = fields.String(
        required=True,
        validate=validate.OneOf([r.value for r in ReviewReason]),
        metadata={"description": "Why it needs an officer", "example": "amount_mismatch"},
    )
    status = fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in ReviewStatus]),
        metadata={"description": "open, applied, refunded or dismissed", "example": "open"},
    )
    amount = fields.Integer(allow_none=True, required=True, metadata={"description": "Kip paid", "example": 100000})
    bill_id = fields.Integer(allow_none=True, required=True, metadata={"description": "The bill", "example": 12})
    payment_id = fields.Integer(allow_none=True, required=True, metadata={"description": "The payment", "example": 3})
    note = fields.String(allow_none=True, required=True, metadata={"description": "Officer's note", "example": None})
    created_at = fields.DateTime(
        required=True, metadata={"description": "When flagged", "example": "2026-11-30T08:15:00+00:00"}
    )
    resolved_at = fields.DateTime(
        allow_none=True, required=True, metadata={"description": "When settled", "example": None}
    )


class ReviewPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(ReviewSchema), required=True, metadata={"description": "Oldest first"})


class ReviewListArgsSchema(PageArgsSchema):
    status = fields.Enum(ReviewStatus, by_value=True, load_default=None, metadata={"description": "Filter"})


class ResolveSchema(StrictSchema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(["apply", "refund", "dismiss"]),
        metadata={"description": "apply (credit the bill), refund or dismiss", "example": "refund"},
    )
    note = MultiLineText(
        required=True,
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "Why (kept in the audit trail)", "example": "Member paid 100,000 short; refunded."},
    )


class FeedMonthSchema(StrictSchema):
    period = fields.String(required=True, metadata={"description": "YYYY-MM", "example": "2026-10"})
    amount = fields.Integer(required=True, metadata={"description": "Whole kip", "example": 180000})


class FeedItemSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "Payment id", "example": 3})
    provider = fields.String(required=True, metadata={"description": "bank, sandbox or cash", "example": "bank"})
    transaction_id = fields.String(required=True, metadata={"description": "Provider's id", "example": "TX123"})
    bill_number = fields.String(required=True, metadata={"description": "Bill number", "example": "4829105736"})
    member_number = fields.String(required=True, metadata={"description": "Member number", "example": "0112345678"})
    amount = fields.Integer(required=True, metadata={"description": "Whole kip", "example": 540000})
    paid_at = fields.DateTime(
        required=True, metadata={"description": "When paid", "example": "2026-11-30T08:15:00+00:00"}
    )
    credited_at = fields.DateTime(
        required=True, metadata={"description": "When credited", "example": "2026-11-30T08:15:00+00:00"}
    )
    months = fields.List(fields.Nested(FeedMonthSchema), required=True, metadata={"description": "Months paid"})


class FeedPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(FeedItemSchema), required=True, metadata={"description": "In credit order"})


# -- members -------------------------------------------------------------------------------------------


@member_blp.route("/dues", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="getMyDues")
@member_blp.response(200, DuesSchema)
@member_blp.alt_response(404, response=ERROR, description="No LSSO member number linked yet")
@member_blp.alt_response(409, response=ERROR, description="Not a voluntary member (the employer pays)")
def my_dues() -> Any:
    """What you owe and may pay.

    Arrears oldest first, the current month and up to 12 months ahead, each with its amount (rate x declared
    base within the band, rounded half up to the whole kip). Members only."""
    session = db_session()
    dues = payments.dues_of(session, insured_person_of(session, current_principal().id), now())
    commit()  # bills found expired are recorded
    return dues


@member_blp.route("/bills", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="createBill", parameters=[IDEMPOTENCY_HEADER])
@member_blp.arguments(NewBillSchema)
@member_blp.response(201, BillSchema, headers=REPLAYED_HEADER)
@member_blp.alt_response(404, response=ERROR, description="No LSSO member number linked yet")
@member_blp.alt_response(409, response=ERROR, description="A month is on an open bill, key reused, or not voluntary")
@member_blp.alt_response(422, response=ERROR, description="Not payable now, or not the oldest months first")
def create_bill(body: dict[str, Any]) -> Any:
    """Make a bill for some months.

    The oldest months owed come first; a month is on at most one open bill. Send an Idempotency-Key to retry
    safely. Members only."""
    session = db_session()
    person = insured_person_of(session, current_principal().id)
    bill, replayed = payments.create_bill(
        session, settings(), current_principal().id, person, body["months"], _idempotency_key(), now()
    )
    commit()
    return bill, 201, {"Idempotent-Replayed": "true" if replayed else "false"}


@member_blp.route("/bills", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="listMyBills")
@member_blp.arguments(PageArgsSchema, location="query")
@member_blp.response(200, BillPageSchema)
def list_bills(args: dict[str, Any]) -> Any:
    """Your bills, newest first.

    Members only; each member sees only their own bills."""
    items = payments.bills_of_member(
        db_session(), current_principal().id, decode_cursor(args["cursor"]), args["limit"] + 1
    )
    return page(items, args["limit"])


@member_blp.route("/bills/<int:bill_id>", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="getMyBill")
@member_blp.response(200, BillSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your bill")
def get_bill(bill_id: int) -> Any:
    """One of your bills, with its LAO QR text while open.

    Members only."""
    return payments.bill_of_member(db_session(), current_principal().id, bill_id)


@member_blp.route("/bills/<int:bill_id>/cancel", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="cancelMyBill")
@member_blp.response(200, BillSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your bill")
@member_blp.alt_response(409, response=ERROR, description="Paid already")
def cancel_bill(bill_id: int) -> Any:
    """Cancel an open bill, freeing its months.

    Cancelling again changes nothing. Members only."""
    bill = payments.cancel_bill(db_session(), current_principal().id, bill_id, now())
    commit()
    return bill


@member_blp.route("/bills/<int:bill_id>/sms", methods=["POST"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="sendMyBillBySms")
@member_blp.response(202, BillSchema)
@member_blp.alt_response(404, response=ERROR, description="Not your bill")
@member_blp.alt_response(409, response=ERROR, description="Not open, or sent three times already")
def send_bill_sms(bill_id: int) -> Any:
    """Send the bill number and amount to your phone by SMS.

    For paying at a bank counter or agent; at most 3 times a bill. Members only."""
    bill = payments.send_bill_sms(db_session(), settings(), current_principal().id, bill_id, now())
    commit()
    return bill


@member_blp.route("/bills/<int:bill_id>/qr", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="getMyBillQr")
@member_blp.arguments(QrArgsSchema, location="query")
@member_blp.response(
    200, content_type="image/png", description="The LAO QR image: image/png, or image/svg+xml with format=svg"
)
@member_blp.alt_response(404, response=ERROR, description="Not your bill")
@member_blp.alt_response(409, response=ERROR, description="Not open")
def bill_qr(args: dict[str, Any], bill_id: int) -> Any:
    """The bill's LAO QR as a PNG or SVG image.

    Scan it in any Lao bank's app. Members only."""
    bill = payments.open_bill_of_member(db_session(), current_principal().id, bill_id, now())
    kind = args["format"]
    image = qr_image(bill_payload(settings(), bill.number, bill.amount), kind)
    content_type = "image/svg+xml" if kind == "svg" else "image/png"
    return binary_response(image, content_type, f"bill-{bill.number}.{kind}")


@member_blp.route("/bills/<int:bill_id>/receipt", methods=["GET"])
@member_blp.access(MEMBER)
@member_blp.doc(operationId="getMyBillReceipt")
@member_blp.response(200, content_type="application/pdf", description="The receipt (PDF, Lao and English)")
@member_blp.alt_response(404, response=ERROR, description="Not your bill")
@member_blp.alt_response(409, response=ERROR, description="Not paid yet")
def bill_receipt(bill_id: int) -> Any:
    """The receipt of a paid bill as a PDF.

    In Lao with English beside each label. Members only."""
    receipt = payments.receipt_of_member(db_session(), current_principal().id, bill_id)
    pdf = payments.receipt_pdf(receipt)
    return binary_response(pdf, "application/pdf", f"receipt-{receipt.bill.number}.pdf", disposition="attachment")


# -- bank callbacks ------------------------------------------------------------------------------------

# Why a callback was refused (CallbackRefused.reason) -> its outcome in lsso_payment_callbacks_total.
REFUSAL_OUTCOMES = {"bad_signature": "bad_signature", "stale_timestamp": "replayed", "malformed": "malformed"}


@callback_blp.route("/<string(maxlength=16):provider>", methods=["POST"])
@callback_blp.access(PUBLIC)
@callback_blp.doc(
    operationId="receivePaymentCallback",
    parameters=[
        {
            "in": "header",
            "name": "X-Timestamp",
            "required": True,
            "description": "Unix time in seconds when the provider signed the callback (replays outside the "
            "window are refused)",
            "schema": {"type": "string", "maxLength": 12},
        },
        {
            "in": "header",
            "name": "X-Signature",
            "required": True,
            "description": 'Hex HMAC-SHA256 of timestamp + "." + raw body with the shared callback secret',
            "schema": {"type": "string", "maxLength": 80},
        },
    ],
    requestBody={
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["transaction_id"],
                    "properties": {
                        "transaction_id": {
                            "type": "string",
                            "maxLength": 64,
                            "description": "The provider's id of the payment (credited at most once)",
                        },
                        "bill_number": {
                            "type": "string",
                            "maxLength": 12,
                            "description": "The bill the provider says was paid (a hint: the query decides)",
                        },
                    },
                },
                "example": {"transaction_id": "TX123", "bill_number": "4829105736"},
            }
        },
    },
)
@callback_blp.response(202, CallbackAnswerSchema)
@callback_blp.alt_response(401, response=ERROR, description="Bad signature, or a timestamp outside the window")
@callback_blp.alt_response(404, response=ERROR, description="Not the configured provider")
@callback_blp.alt_response(422, response=ERROR, description="No transaction id")
def receive_payment_callback(provider: str) -> Any:
    """A bank's signal that a bill was paid.

    Signed with HMAC-SHA256 over ``timestamp + "." + raw body`` (headers X-Timestamp, X-Signature); refused
    outside the replay window. Only a hint: the payment is confirmed with the bank by a job before anything is
    credited. Any caller may send it; only a correct signature is heard."""
    configured = build_provider(settings())
    if provider != configured.name:
        metrics.PAYMENT_CALLBACKS.labels(provider="unknown", outcome="unknown").inc()  # never the path's text
        raise NotFound("No such payment provider.", error="provider_not_found")
    raw = request.get_data(cache=True)
    try:
        hint = configured.verify_callback(raw, dict(request.headers), now())
    except CallbackRefused as refused:
        outcome = REFUSAL_OUTCOMES.get(refused.reason, "bad_signature")
        metrics.PAYMENT_CALLBACKS.labels(provider=configured.name, outcome=outcome).inc()
        if refused.reason == "malformed":
            raise InvalidInput(
                "The callback has no transaction id.",
                error="callback_malformed",
                errors={"transaction_id": ["Missing or not text."]},
            ) from None
        raise NotAuthenticated(
            "The callback's signature or timestamp is not valid.", error="callback_refused"
        ) from None
    status = payments.record_callback(
        db_session(), configured.name, hint.transaction_id, hint.bill_number, now(), count_as_callback=True
    )
    commit()
    return {"status": status.value}


# -- officers --------------------------------------------------------------------------------------------


@staff_blp.route("/cash-payments", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.doc(operationId="recordCashPayment", parameters=[IDEMPOTENCY_HEADER])
@staff_blp.arguments(CashInSchema)
@staff_blp.response(201, CashPaymentSchema, headers=REPLAYED_HEADER)
@staff_blp.alt_response(404, response=ERROR, description="No such bill at your office")
@staff_blp.alt_response(409, response=ERROR, description="Bill not open, cash already recorded, or key reused")
@staff_blp.alt_response(422, response=ERROR, description="Amount is not the bill's")
def record_cash(body: dict[str, Any]) -> Any:
    """Record cash taken for a bill, with the member present.

    A second officer of the office confirms it the same day. Officers only."""
    payment, replayed = payments.record_cash(
        db_session(), current_principal(), body["bill_number"], body["amount"], _idempotency_key(), now(), client_ip()
    )
    commit()
    return payment, 201, {"Idempotent-Replayed": "true" if replayed else "false"}


@staff_blp.route("/cash-payments/<int:payment_id>/confirm", methods=["POST"])
@staff_blp.access(OFFICER)
@staff_blp.doc(operationId="confirmCashPayment")
@staff_blp.response(200, CashPaymentSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not at your office")
@staff_blp.alt_response(409, response=ERROR, description="Settled already, or not taken today")
def confirm_cash(payment_id: int) -> Any:
    """Confirm a colleague's cash payment (four eyes); the bill is then credited.

    Not the officer who took it; the same day. Officers only."""
    payment = payments.confirm_cash(db_session(), settings(), current_principal(), payment_id, now(), client_ip())
    commit()
    return payment


@staff_blp.route("/cash-payments/report", methods=["GET"])
@staff_blp.access(OFFICER)
@staff_blp.doc(operationId="getCashReport")
@staff_blp.arguments(CashReportArgsSchema, location="query")
@staff_blp.response(200, CashReportSchema)
def cash_report(args: dict[str, Any]) -> Any:
    """The office's cash of one day: confirmed and awaiting, with totals.

    Officers only (their office)."""
    return payments.cash_report(db_session(), current_principal(), args["day"])


@staff_blp.route("/payment-reviews", methods=["GET"])
@staff_blp.access(OFFICER, ADMIN)
@staff_blp.doc(operationId="listPaymentReviews")
@staff_blp.arguments(ReviewListArgsSchema, location="query")
@staff_blp.response(200, ReviewPageSchema)
def list_reviews(args: dict[str, Any]) -> Any:
    """Payments an officer must settle: wrong amount, expired or cancelled bill, paid twice, reconciliation.

    Officers (their office) and admins (all)."""
    items = payments.reviews_for_staff(
        db_session(), current_principal(), args["status"], decode_cursor(args["cursor"]), args["limit"] + 1
    )
    return page(items, args["limit"])


@staff_blp.route("/payment-reviews/<int:review_id>/resolve", methods=["POST"])
@staff_blp.access(OFFICER, ADMIN)
@staff_blp.doc(operationId="resolvePaymentReview")
@staff_blp.arguments(ResolveSchema)
@staff_blp.response(200, ReviewSchema)
@staff_blp.alt_response(404, response=ERROR, description="Not at your office")
@staff_blp.alt_response(409, response=ERROR, description="Settled already, or cannot be applied")
def resolve_review(body: dict[str, Any], review_id: int) -> Any:
    """Settle a review item: apply, refund or dismiss, with a note.

    Officers (their office) and admins."""
    review = payments.resolve_review(
        db_session(), settings(), current_principal(), review_id, body["action"], body["note"], now(), client_ip()
    )
    commit()
    return review


# -- the core system -----------------------------------------------------------------------------------


@core_blp.route("/app-payments", methods=["GET"])
@core_blp.access(CORE)
@core_blp.doc(operationId="listAppPayments")
@core_blp.arguments(PageArgsSchema, location="query")
@core_blp.response(200, FeedPageSchema)
def app_payments(args: dict[str, Any]) -> Any:
    """Payments members made through the app, in the order they were credited, each once.

    Keep the last ``next_cursor`` you were given and ask with it next time; an empty page (``next_cursor``
    null) means nothing new yet: ask again later with the same cursor. The core system's client only."""
    after = decode_time_cursor(args["cursor"], kind="pay")
    items = payments.payment_feed(
        db_session(),
        after,
        args["limit"] + 1,
        now(),
        settings().payment_feed_lag_seconds,
    )
    result = page(items, args["limit"], lambda item: encode_time_cursor(item.credited_at, item.id, kind="pay"))
    if result["next_cursor"] is None and result["items"]:
        last = result["items"][-1]
        result["next_cursor"] = encode_time_cursor(last.credited_at, last.id, kind="pay")
    return result
