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
    PageArgsSchema,
    PageMetaSchema,
    StrictSchema,
    decode_period_cursor,
    encode_period_cursor,
    page,
)
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
    period = fields.String(required=True)
    amount = fields.Integer(required=True, metadata={"description": "kip"})
    due_date = fields.Date(required=True)


class UnmetRuleSchema(StrictSchema):
    rule = fields.String(required=True)
    required = fields.Integer(required=True)
    actual = fields.Integer(required=True)
    missing = fields.Integer(required=True)


class EligibilitySchema(StrictSchema):
    benefit_type = fields.String(required=True)
    eligible = fields.Boolean(required=True)
    unmet = fields.List(fields.Nested(UnmetRuleSchema), required=True)


class ContributionSummarySchema(StrictSchema):
    member_number = fields.String(required=True)
    scheme = fields.String(required=True)
    current_period = fields.String(required=True)
    current_period_paid = fields.Boolean(required=True)
    total_months = fields.Integer(required=True)
    last_paid_period = fields.String(allow_none=True, required=True)
    arrears = fields.List(fields.Nested(ArrearSchema), required=True)
    arrears_total = fields.Integer(required=True)
    eligibility = fields.List(fields.Nested(EligibilitySchema), required=True)


_SUMMARY_SCHEMA = ContributionSummarySchema()


class ContributionSchema(StrictSchema):
    period = fields.String(required=True)
    scheme = fields.String(required=True)
    employer_name = fields.String(allow_none=True, required=True)
    insurable_earnings = fields.Integer(required=True)
    employee_share = fields.Integer(required=True)
    employer_share = fields.Integer(required=True)
    total = fields.Integer(required=True)
    status = fields.String(required=True)
    paid_date = fields.Date(allow_none=True, required=True)
    payment_channel = fields.String(allow_none=True, required=True)
    receipt_reference = fields.String(allow_none=True, required=True)
    awaiting_confirmation = fields.Boolean(
        required=True,
        metadata={
            "description": "Paid through the app and shown at once; the LSSO core system has not confirmed it yet",
            "example": False,
        },
    )
    updated_at = fields.DateTime(required=True)


class ContributionPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(ContributionSchema), required=True)


class ContributionListArgsSchema(PageArgsSchema):
    year = fields.Integer(load_default=None, validate=validate.Range(min=1990, max=2200))
    updated_since = fields.AwareDateTime(load_default=None, validate=SANE_TIMES)


class ClaimChangeSchema(StrictSchema):
    status = fields.String(required=True)
    reason = fields.String(allow_none=True, required=True)
    decided_by_name = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The name of the officer who made the change (null: sent by the core system)"},
    )
    created_at = fields.DateTime(required=True)


class ClaimSchema(StrictSchema):
    id = fields.Integer(required=True)
    benefit_type = fields.String(required=True)
    status = fields.String(required=True)
    amount_claimed = fields.Integer(allow_none=True, required=True)
    amount_approved = fields.Integer(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    history = fields.List(fields.Nested(ClaimChangeSchema), required=True)


class PaymentSchema(StrictSchema):
    claim_id = fields.Integer(required=True)
    period = fields.String(required=True)
    amount = fields.Integer(required=True)
    paid_date = fields.Date(required=True)
    channel = fields.String(required=True)


@blp.route("/contributions/summary", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, ContributionSummarySchema)
@blp.alt_response(304, description="Unchanged since the ETag sent in If-None-Match")
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
def contribution_summary() -> Any:
    """Months contributed, this month paid or not, arrears with amounts, eligibility per benefit."""
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
def list_contributions(args: dict[str, Any]) -> Any:
    """The month-by-month record, newest month first; filter by year; ``updated_since`` for delta sync."""
    session = db_session()
    person = insured_person_of(session, current_principal().id)
    before = decode_period_cursor(args["cursor"])
    items = contributions_of(session, person, args["year"], args["updated_since"], before, args["limit"] + 1)
    return page(items, args["limit"], lambda item: encode_period_cursor(item.period, item.id))


class StatementArgsSchema(StrictSchema):
    year = fields.Integer(required=True, validate=validate.Range(min=1990, max=2200))


class AnnualStatementSchema(StrictSchema):
    member_number = fields.String(required=True)
    name_lo = fields.String(required=True)
    name_latin = fields.String(required=True)
    year = fields.Integer(required=True)
    months_contributed = fields.Integer(required=True)
    employee_share = fields.Integer(required=True)
    employer_share = fields.Integer(required=True)
    total = fields.Integer(required=True)
    unpaid_months = fields.List(fields.String(), required=True)
    months = fields.List(fields.Nested(ContributionSchema), required=True)


@blp.route("/contributions/statement", methods=["GET"])
@blp.access(MEMBER)
@blp.arguments(StatementArgsSchema, location="query")
@blp.response(200, AnnualStatementSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
def contribution_statement(args: dict[str, Any]) -> Any:
    """The annual statement: every month of the year and the totals paid."""
    session = db_session()
    return annual_statement(session, insured_person_of(session, current_principal().id), args["year"])


@blp.route("/claims", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, ClaimSchema(many=True))
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
def list_claims() -> Any:
    """The member's benefit claims, newest first, each with its status history."""
    session = db_session()
    return claims_with_history_of(session, insured_person_of(session, current_principal().id))


@blp.route("/payments", methods=["GET"])
@blp.access(MEMBER)
@blp.response(200, PaymentSchema(many=True))
@blp.alt_response(404, response="DEFAULT_ERROR", description="No LSSO member number linked yet")
def list_payments() -> Any:
    """Benefit payments made to the member, newest first."""
    session = db_session()
    return payments_of(session, insured_person_of(session, current_principal().id))
