"""Benefit claims: status changes by officers of the member's office or by the core system, each
kept in the claim's history and pushed to the member (a benefit decision is always critical)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile import i18n
from lsso_mobile.errors import Conflict, InvalidInput, NotFound
from lsso_mobile.models import BenefitClaim, ClaimStatus, ClaimStatusChange, Member
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.locking import locked
from lsso_mobile.services.paging import keyset_page

# The one life of a claim, for officers and the core system alike: each status and the statuses one
# step on from it. A change may skip steps forward (the core system sends where a claim is now, not
# every step it took) but never goes back: a decision stands, and paid and rejected are final.
STEPS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    ClaimStatus.RECEIVED: frozenset({ClaimStatus.UNDER_REVIEW}),
    ClaimStatus.UNDER_REVIEW: frozenset({ClaimStatus.MORE_INFO_NEEDED, ClaimStatus.APPROVED, ClaimStatus.REJECTED}),
    ClaimStatus.MORE_INFO_NEEDED: frozenset({ClaimStatus.UNDER_REVIEW}),
    ClaimStatus.APPROVED: frozenset({ClaimStatus.PAID}),
    ClaimStatus.REJECTED: frozenset(),
    ClaimStatus.PAID: frozenset(),
}


def _onward(status: ClaimStatus) -> frozenset[ClaimStatus]:
    reached: set[ClaimStatus] = set()
    todo = [status]
    while todo:
        for following in STEPS[todo.pop()] - reached:
            reached.add(following)
            todo.append(following)
    return frozenset(reached - {status})


ALLOWED: dict[ClaimStatus, frozenset[ClaimStatus]] = {status: _onward(status) for status in ClaimStatus}
FINAL = frozenset(status for status, onward in ALLOWED.items() if not onward)
NEEDS_APPROVED_AMOUNT = (ClaimStatus.APPROVED, ClaimStatus.PAID)
REASON_REQUIRED = (ClaimStatus.REJECTED, ClaimStatus.MORE_INFO_NEEDED)


class ClaimStatusNotAllowed(Conflict):
    """The claim's life does not go from its status to the one asked (409)."""


class ApprovedAmountRequired(InvalidInput):
    """Approved and paid claims carry the amount approved (422)."""


def check_transition(claim: BenefitClaim, status: ClaimStatus) -> None:
    """Raise ClaimStatusNotAllowed unless ``status`` is where ``claim`` may go next (its own status is not)."""
    if status in ALLOWED[claim.status]:
        return
    params = {"status": claim.status.value, "asked": status.value}
    if claim.status in FINAL:
        raise ClaimStatusNotAllowed(
            "The claim is {status}; its status can no longer change.",
            error="claim_status_final",
            params=params,
            errors={"status": ["Not allowed after the claim's current status."]},
        )
    raise ClaimStatusNotAllowed(
        "A claim that is {status} cannot become {asked}.",
        error="claim_status_not_allowed",
        params=params,
        errors={"status": ["Not allowed after the claim's current status."]},
    )


def check_approved_amount(status: ClaimStatus, amount_approved: int | None) -> None:
    if status in NEEDS_APPROVED_AMOUNT and amount_approved is None:
        raise ApprovedAmountRequired(
            "A {status} claim needs the amount approved.",
            error="amount_approved_required",
            params={"status": status.value},
            errors={"amount_approved": ["Missing data for required field."]},
        )


# For the notice: English catalogue ids (the Lao is in translations/lo).
STATUS_TEXT = {
    ClaimStatus.RECEIVED: "received",
    ClaimStatus.UNDER_REVIEW: "under review",
    ClaimStatus.MORE_INFO_NEEDED: "needs more information",
    ClaimStatus.APPROVED: "approved",
    ClaimStatus.REJECTED: "not approved",
    ClaimStatus.PAID: "paid",
}
BENEFIT_TEXT = {
    "sickness": "sickness benefit",
    "maternity": "maternity benefit",
    "employment_injury": "employment injury benefit",
    "invalidity": "invalidity benefit",
    "old_age_pension": "old-age pension",
    "survivors": "survivors' benefit",
    "funeral": "funeral grant",
    "health_care": "health care",
}


def notify_claim_change(session: Session, claim: BenefitClaim, reason: str | None, now: datetime) -> None:
    member_id = session.scalar(select(Member.id).where(Member.insured_person_id == claim.insured_person_id))
    if member_id is None:
        return  # not an app user: nobody to tell
    status_en, benefit_en = STATUS_TEXT[claim.status], BENEFIT_TEXT[claim.benefit_type.value]
    status_lo, benefit_lo = i18n.gettext(status_en, i18n.LAO), i18n.gettext(benefit_en, i18n.LAO)
    record_notification(
        session,
        member_id,
        "claim_status_changed",
        {
            "claim_id": claim.id,
            "benefit_lo": benefit_lo,
            "benefit_en": benefit_en,
            "status_lo": status_lo,
            "status_en": status_en,
            "reason": reason or "",
        },
        now,
        collapse_key=f"claim-{claim.id}",
    )


def check_change(claim: BenefitClaim, status: ClaimStatus, reason: str | None, amount_approved: int | None) -> None:
    """Raise unless ``claim`` may be at ``status`` with this (stripped) reason and amount approved.

    A final claim cannot change at all, not even its amount."""
    moving = claim.status is not status
    if moving or claim.status in FINAL:
        check_transition(claim, status)
    check_approved_amount(status, amount_approved)
    if moving and status in REASON_REQUIRED and reason is None:
        raise InvalidInput(
            "A reason is required for this status.", error="reason_required", errors={"reason": ["required"]}
        )


def change_claim_status(
    session: Session,
    claim: BenefitClaim,
    status: ClaimStatus,
    reason: str | None,
    now: datetime,
    staff_id: int | None = None,
    amount_approved: int | None = None,
    *,
    address: str | None = None,
) -> bool:
    """Move a claim (locked by the caller: claim_for_staff, or the import's lock) along its life, keep
    the change in its history and tell the member; returns False if nothing changed.

    The same status again without a reason changes nothing (a retried request); with a reason it is
    kept in the history (a second request for information), except on a final claim.
    ``amount_approved`` None keeps the claim's amount. A change by an officer (``staff_id``) is kept in the
    audit trail, with ``address`` (the caller's, if known); the core system's imports are not.
    """
    reason = (reason or "").strip() or None
    amount = claim.amount_approved if amount_approved is None else amount_approved
    moving = claim.status is not status
    if not moving and reason is None and amount == claim.amount_approved:
        return False
    check_change(claim, status, reason, amount)
    if staff_id is not None:
        record_audit(
            session,
            staff_id,
            "claim.status",
            "benefit_claim",
            claim.id,
            office_id=claim.office_id,
            details={"from": claim.status, "status": status, "amount_approved": amount, "reason": reason},
            address=address,
            now=now,
        )
    claim.amount_approved = amount
    claim.updated_at = now
    if not moving and reason is None:
        return True  # only the amount changed: not a step in the claim's life
    claim.status = status
    session.add(ClaimStatusChange(claim_id=claim.id, status=status, reason=reason, staff_id=staff_id, created_at=now))
    session.flush()
    notify_claim_change(session, claim, reason, now)
    return True


def _office_filter(staff: Principal) -> Any:
    return True if staff.role == "admin" else BenefitClaim.office_id == staff.office_id


def claim_for_staff(session: Session, staff: Principal, claim_id: int) -> BenefitClaim:
    """The claim, locked until commit: an import or another officer changing it waits for this decision."""
    claims = locked(session, select(BenefitClaim).where(BenefitClaim.id == claim_id, _office_filter(staff)))
    if not claims:
        raise NotFound("No such claim in your office.", error="claim_not_found")
    claim: BenefitClaim = claims[0]
    return claim


def list_claims_for_staff(
    session: Session, staff: Principal, status: ClaimStatus | None, after_id: int | None, limit: int
) -> list[BenefitClaim]:
    query = select(BenefitClaim).where(_office_filter(staff))
    if status is not None:
        query = query.where(BenefitClaim.status == status)
    return list(session.scalars(keyset_page(query, BenefitClaim.id, after_id, limit)))
