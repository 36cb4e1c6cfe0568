"""Officers work the benefit claims of their office's members."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from lsso_mobile.api.access import ADMIN, OFFICER, Blueprint, client_ip, current_principal, now
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.schemas import MultiLineText, PageArgsSchema, PageMetaSchema, StrictSchema, decode_cursor, page
from lsso_mobile.models import BenefitType, ClaimStatus
from lsso_mobile.services import claims
from lsso_mobile.services.core_import import MAX_KIP

blp = Blueprint(
    "staff_claims",
    __name__,
    url_prefix="/api/v1/staff/claims",
    description="Officers update benefit claims of their office's members",
)


class StaffClaimSchema(StrictSchema):
    id = fields.Integer(required=True, metadata={"description": "The record's id (stable; use it in URLs)"})
    insured_person_id = fields.Integer(required=True, metadata={"description": "The insured person's record"})
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
    updated_at = fields.DateTime(required=True, metadata={"description": "When it last changed (UTC, ISO 8601)"})


class StaffClaimPageSchema(PageMetaSchema):
    items = fields.List(fields.Nested(StaffClaimSchema), required=True, metadata={"description": "This page's items"})


class ClaimListArgsSchema(PageArgsSchema):
    status = fields.Enum(
        ClaimStatus, by_value=True, load_default=None, metadata={"description": "Only those in this status"}
    )


class ClaimStatusUpdateSchema(StrictSchema):
    status = fields.Enum(
        ClaimStatus, by_value=True, required=True, metadata={"description": "The status to move the claim to"}
    )
    reason = MultiLineText(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=2000),
        metadata={"description": "Required to reject or to ask for more information; shown to the member"},
    )
    amount_approved = fields.Integer(
        load_default=None,
        allow_none=True,
        strict=True,
        validate=validate.Range(min=0, max=MAX_KIP),
        metadata={"description": "In kip; required to approve a claim that has no approved amount yet"},
    )


@blp.route("", methods=["GET"])
@blp.access(OFFICER, ADMIN)
@blp.arguments(ClaimListArgsSchema, location="query")
@blp.response(200, StaffClaimPageSchema)
@blp.doc(operationId="listOfficeClaims")
def list_office_claims(args: dict[str, Any]) -> Any:
    """Claims of the officer's office, oldest first; filter by status.

    An admin sees every office's.
    """
    items = claims.list_claims_for_staff(
        db_session(), current_principal(), args["status"], decode_cursor(args["cursor"]), args["limit"] + 1
    )
    return page(items, args["limit"])


@blp.route("/<int:claim_id>/status", methods=["POST"])
@blp.access(OFFICER, ADMIN)
@blp.arguments(ClaimStatusUpdateSchema)
@blp.response(200, StaffClaimSchema)
@blp.alt_response(404, response="DEFAULT_ERROR", description="Not in your office")
@blp.alt_response(
    409, response="DEFAULT_ERROR", description="Not a step the claim may take (never back; paid, rejected final)"
)
@blp.doc(operationId="updateClaimStatus")
def update_claim_status(body: dict[str, Any], claim_id: int) -> Any:
    """Move a claim along received, under review (more information needed), approved or rejected, paid;
    the member is told at once.

    Only forward steps are allowed; a reason is required to reject or to ask for more information. The member is told by
    push.
    """
    principal = current_principal()
    session = db_session()
    claim = claims.claim_for_staff(session, principal, claim_id)
    claims.change_claim_status(
        session,
        claim,
        body["status"],
        body["reason"],
        now(),
        staff_id=principal.id,
        amount_approved=body["amount_approved"],
        address=client_ip(),
    )
    commit()
    return claim
