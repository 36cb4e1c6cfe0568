"""The member's contribution record, claims and payments: small answers for slow connections
(ETag / 304 on the summary, gzip, cursor pages, ``updated_since``)."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from marshmallow import fields, validate

from lsso_mobile.api.access import MEMBER, Blueprint, current_principal, now
from lsso_mobile.api.context import db_session
from lsso_mobile.api.schemas import (
    SANE_TIMES,
    SYNC_MARGIN,
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_period_cursor,
    encode_period_cursor,
    page,
    server_time_field,
)
from lsso_mobile.errors import InvalidInput
from lsso_mobile.models import BenefitType, ClaimStatus, ContributionStatus, Scheme
from lsso_mobile.services.contributions import (
    annual_statement,
    claims_with_history_of,
    contributions_of,
    insured_person_of,
    payments_of,
    summarise,
)

blp = Blueprint(
    "contributions",
    __name__,
    url_prefix="/api/v1/me",
    description="The member's contributions, eligibility, claims and payments",
)


class ArrearSchema(StrictSchema):
    period = fields.String(required=True, metadata={"description": "The unpaid month (YYYY-MM)"})
    amount = fields.Integer(required=True, metadata={"description": "kip"})
    due_date = fields.Date(
        required=True, metadata={"description": "The last day to pay it without being late (YYYY-MM-DD)"}
    )


class UnmetRuleSchema(StrictSchema):
    rule = fields.String(
        required=True,
        metadata={
            "description": "Which rule is not met (the eligibility rule field of the same name)",
            "enum": ["min_total_months", "min_recent_months", "min_age"],
        },
    )
    required = fields.Integer(required=True, metadata={"description": "What the rule requires"})
    actual = fields.Integer(required=True, metadata={"description": "What the member has"})
    missing = fields.Integer(required=True, metadata={"description": "How much is still missing"})


class EligibilitySchema(StrictSchema):
    benefit_type = fields.String(
        required=True, metadata={"enum": [b.value for b in BenefitType], "description": "Which benefit"}
    )
    eligible = fields.Boolean(required=True, metadata={"description": "Whether the member qualifies now"})
    unmet = fields.List(
        fields.Nested(UnmetRuleSchema),
        required=True,
        metadata={"description": "The rules not yet met (empty when eligible)"},
    )


class ContributionSummarySchema(StrictSchema):
    member_number = fields.String(required=True, metadata={"description": "The member's LSSO member number"})
    scheme = fields.String(
        required=True,
        metadata={
            "enum": [s.value for s in Scheme],
            "description": "compulsory (employees, civil servants) or voluntary (self-employed and informal workers)",
        },
    )
    current_period = fields.String(required=True, metadata={"description": "This month (YYYY-MM, Asia/Vientiane)"})
    current_period_paid = fields.Boolean(required=True, metadata={"description": "Whether this month is paid"})
    total_months = fields.Integer(required=True, metadata={"description": "Months with a paid contribution, in total"})
    last_paid_period = fields.String(
        allow_none=True, required=True, metadata={"description": "The latest month paid (YYYY-MM); null if none"}
    )
    arrears = fields.List(
        fields.Nested(ArrearSchema),
        required=True,
        metadata={"description": "Unpaid months, oldest first, with amounts"},
    )
    arrears_total = fields.Integer(required=True, metadata={"description": "Kip owed for unpaid months, in total"})
    eligibility = fields.List(
        fields.Nested(EligibilitySchema),
        required=True,
        metadata={"description": "For each benefit: eligible or not, and which rules are not yet met"},
    )


_SUMMARY_SCHEMA = ContributionSummarySchema()


class ContributionSchema(StrictSchema):
    period = fields.String(required=True, metadata={"description": "The month (YYYY-MM)"})
    scheme = fields.String(
        required=True,
        metadata={
            "enum": [s.value for s in Scheme],
            "description": "compulsory (employees, civil servants) or voluntary (self-employed and informal workers)",
        },
    )
    employer_name = fields.String(
        allow_none=True, required=True, metadata={"description": "The employer, for compulsory members"}
    )
    insurable_earnings = fields.Integer(
        required=True, metadata={"description": "Insurable earnings for the month, in kip"}
    )
    employee_share = fields.Integer(required=True, metadata={"description": "The member's share in kip"})
    employer_share = fields.Integer(
        required=True, metadata={"description": "The employer's share in kip (0 for voluntary members)"}
    )
    total = fields.Integer(required=True, metadata={"description": "Both shares, in kip"})
    status = fields.String(
        required=True, metadata={"enum": [s.value for s in ContributionStatus], "description": "paid, late or unpaid"}
    )
    paid_date = fields.Date(allow_none=True, required=True, metadata={"description": "When it was paid (YYYY-MM-DD)"})
    payment_channel = fields.String(
        allow_none=True, required=True, metadata={"description": "How it was paid, as the core system records it"}
    )
    receipt_reference = fields.String(
        allow_none=True, required=True, metadata={"description": "The receipt's reference, if any"}
    )
    awaiting_confirmation = fields.Boolean(
        required=True,
        metadata={
            "description": "Paid through the app and shown at once; the LSSO core system has not confirmed it yet",
            "example": False,
        },
    )
    updated_at = fields.DateTime(required=True, metadata={"description": "When the core system last changed it (UTC)"})


class ContributionPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(ContributionSchema), required=True, metadata={"description": "This page's items"})
    server_time = server_time_field()


class ContributionListArgsSchema(PageArgsSchema):
    year = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1990, max=2200),
        metadata={"description": "Only the months of this year"},
    )
    updated_since = fields.AwareDateTime(
        load_default=None,
        validate=SANE_TIMES,
        metadata={"description": "Only months changed since then: the server_time of the previous answer"},
    )


class ClaimChangeSchema(StrictSchema):
    status = fields.String(
        required=True, metadata={"enum": [s.value for s in ClaimStatus], "description": "The status it moved to"}
    )
    reason = fields.String(
        allow_none=True, required=True, metadata={"description": "Why (shown to the member where it concerns them)"}
    )
    decided_by_name = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The name of the officer who made the change (null: sent by the core system)"},
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})


class ClaimSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    benefit_type = fields.String(
        required=True, metadata={"enum": [b.value for b in BenefitType], "description": "Which benefit"}
    )
    status = fields.String(
        required=True, metadata={"enum": [s.value for s in ClaimStatus], "description": "Where the claim stands"}
    )
    amount_claimed = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Kip claimed (integer); null if not known"}
    )
    amount_approved = fields.Integer(
        allow_none=True, required=True, metadata={"description": "Kip approved (integer); null until approved"}
    )
    created_at = fields.DateTime(required=True, metadata={"description": "When it was created (UTC, ISO 8601)"})
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})
    history = fields.List(
        fields.Nested(ClaimChangeSchema), required=True, metadata={"description": "Status changes, oldest first"}
    )


class PaymentSchema(StrictSchema):
    claim_id = fields.Integer(required=True, metadata={"description": "The claim it pays"})
    period = fields.String(required=True, metadata={"description": "The month the benefit is for (YYYY-MM)"})
    amount = fields.Integer(required=True, metadata={"description": "Kip paid"})
    paid_date = fields.Date(required=True, metadata={"description": "When it was paid (YYYY-MM-DD)"})
    channel = fields.String(required=True, metadata={"description": "How it was paid, as the core system records it"})


SUMMARY_HEADERS = {
    "ETag": {
        "description": "The summary's version: send it back in If-None-Match; an unchanged summary then answers 304",
        "schema": {"type": "string", "example": '"5d41402abc4b2a76b9719d911017c592"'},
    },
    "Cache-Control": {
        "description": "`private, no-cache`: a phone may keep the summary but must ask (with If-None-Match) before "
        "showing it again",
        "schema": {"type": "string", "example": "private, no-cache"},
    },
}
MAX_IF_NONE_MATCH = 200  # an ETag we send is 34 characters; a few of them fit
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": "The ETag of the summary the app holds; the answer is then 304 with no body if it has not changed",
    "schema": {"type": "string", "maxLength": MAX_IF_NONE_MATCH, "example": '"5d41402abc4b2a76b9719d911017c592"'},
}


@blp.route("/contributions/summary", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, ContributionSummarySchema, headers=SUMMARY_HEADERS)
@blp.alt_response(304, description="Unchanged since the ETag sent in If-None-Match (no body)", headers=SUMMARY_HEADERS)
@blp.doc(parameters=[IF_NONE_MATCH])
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
@blp.doc(operationId="getContributionSummary")
def contribution_summary() -> Any:
    """Months contributed, this month paid or not, arrears with amounts, eligibility per benefit.

    The app's home screen. Sends an ETag: send it back in If-None-Match and an unchanged summary answers 304 with no
    body, which saves data on slow connections.
    """
    if len(request.headers.get("If-None-Match", "")) > MAX_IF_NONE_MATCH:
        raise InvalidInput("The If-None-Match header is too long.", error="header_too_long")
    session = db_session()
    summary = summarise(session, insured_person_of(session, current_principal().id), now())
    response = jsonify(_SUMMARY_SCHEMA.dump(summary))
    response.add_etag()
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


@blp.route("/contributions", methods=["GET"])
@blp.access(MEMBER)
@blp.arguments(ContributionListArgsSchema, location="query")
@blp.response(200, ContributionPageSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
@blp.doc(operationId="listContributions")
def list_contributions(args: dict[str, Any]) -> Any:
    """The month-by-month record, newest month first; filter by year; ``updated_since`` for delta sync.

    For delta sync pass the previous answer's `server_time` as `updated_since`.
    """
    session = db_session()
    person = insured_person_of(session, current_principal().id)
    before = decode_period_cursor(args["cursor"])
    server_time = now() - SYNC_MARGIN  # taken before reading: see SYNC_MARGIN
    items = contributions_of(session, person, args["year"], args["updated_since"], before, args["limit"] + 1)
    result = page(items, args["limit"], lambda item: encode_period_cursor(item.period, item.id))
    return {**result, "server_time": server_time}


class StatementArgsSchema(StrictSchema):
    year = fields.Integer(
        required=True,
        validate=validate.Range(min=1990, max=2200),
        metadata={"description": "The year of the statement"},
    )


class AnnualStatementSchema(StrictSchema):
    member_number = fields.String(required=True, metadata={"description": "The LSSO member number (10 digits)"})
    name_lo = fields.String(required=True, metadata={"description": "Name in Lao script"})
    name_latin = fields.String(
        required=True, metadata={"description": "Name in Latin letters (as on the passport or ID card)"}
    )
    year = fields.Integer(required=True, metadata={"description": "The year (YYYY)"})
    months_contributed = fields.Integer(
        required=True, metadata={"description": "Months of the year with a paid contribution"}
    )
    employee_share = fields.Integer(
        required=True, metadata={"description": "The member's shares paid in the year, in kip"}
    )
    employer_share = fields.Integer(
        required=True, metadata={"description": "The employer's shares paid in the year, in kip"}
    )
    total = fields.Integer(required=True, metadata={"description": "Kip paid in the year (both shares)"})
    unpaid_months = fields.List(
        fields.String(), required=True, metadata={"description": "Months of the year with no paid contribution"}
    )
    months = fields.List(
        fields.Nested(ContributionSchema), required=True, metadata={"description": "Every month of the year"}
    )


@blp.route("/contributions/statement", methods=["GET"])
@blp.access(MEMBER)
@blp.arguments(StatementArgsSchema, location="query")
@blp.response(200, AnnualStatementSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
@blp.doc(operationId="getContributionStatement")
def contribution_statement(args: dict[str, Any]) -> Any:
    """The annual statement: every month of the year and the totals paid.

    Twelve months of the year asked for, unpaid months included, with totals of the employee and employer
    shares.
    """
    session = db_session()
    return annual_statement(session, insured_person_of(session, current_principal().id), args["year"])


@blp.route("/claims", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, ClaimSchema(many=True))
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
@blp.doc(operationId="listMyClaims")
def list_claims() -> Any:
    """The member's benefit claims, newest first, each with its status history.

    Claims are made at the office; the core system sends their status here and the member gets a push at every change.
    """
    session = db_session()
    return claims_with_history_of(session, insured_person_of(session, current_principal().id))


@blp.route("/payments", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, PaymentSchema(many=True))
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
@blp.doc(operationId="listMyPayments")
def list_payments() -> Any:
    """Benefit payments made to the member, newest first.

    What the social security office paid out (benefits), each linked to its claim; not the member's own contributions.
    """
    session = db_session()
    return payments_of(session, insured_person_of(session, current_principal().id))
