"""Benefit claims: status changes by officers of the member's office or by the core system, each
kept in the claim's history and pushed to the member (a benefit decision is always critical)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import Conflict, InvalidInput, NotFound
from lsso_mobile.models import BenefitClaim, ClaimStatus, ClaimStatusChange, Member
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.services.accounts import Principal

FINAL = (ClaimStatus.PAID,)
REASON_REQUIRED = (ClaimStatus.REJECTED, ClaimStatus.MORE_INFO_NEEDED)

STATUS_TEXT = {  # for the notice: Lao, English
    ClaimStatus.RECEIVED: ("ໄດ້ຮັບແລ້ວ", "received"),
    ClaimStatus.UNDER_REVIEW: ("ກຳລັງພິຈາລະນາ", "under review"),
    ClaimStatus.MORE_INFO_NEEDED: ("ຕ້ອງການຂໍ້ມູນເພີ່ມ", "needs more information"),
    ClaimStatus.APPROVED: ("ອະນຸມັດແລ້ວ", "approved"),
    ClaimStatus.REJECTED: ("ບໍ່ອະນຸມັດ", "not approved"),
    ClaimStatus.PAID: ("ຈ່າຍແລ້ວ", "paid"),
}
BENEFIT_TEXT = {
    "sickness": ("ເງິນອຸດໜູນເຈັບເປັນ", "sickness benefit"),
    "maternity": ("ເງິນອຸດໜູນເກີດລູກ", "maternity benefit"),
    "employment_injury": ("ເງິນອຸດໜູນອຸບັດຕິເຫດແຮງງານ", "employment injury benefit"),
    "invalidity": ("ເງິນອຸດໜູນເສຍອົງຄະ", "invalidity benefit"),
    "old_age_pension": ("ເງິນບຳນານ", "old-age pension"),
    "survivors": ("ເງິນອຸດໜູນຜູ້ຢູ່ເບື້ອງຫຼັງ", "survivors' benefit"),
    "funeral": ("ເງິນຊ່ວຍເຫຼືອງານສົບ", "funeral grant"),
    "health_care": ("ການປິ່ນປົວສຸຂະພາບ", "health care"),
}


def notify_claim_change(session: Session, claim: BenefitClaim, reason: str | None, now: datetime) -> None:
    member_id = session.scalar(select(Member.id).where(Member.insured_person_id == claim.insured_person_id))
    if member_id is None:
        return  # not an app user: nobody to tell
    status_lo, status_en = STATUS_TEXT[claim.status]
    benefit_lo, benefit_en = BENEFIT_TEXT[claim.benefit_type.value]
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
            "reason": reason or "-",
        },
        now,
        collapse_key=f"claim-{claim.id}",
    )


def change_claim_status(
    session: Session,
    claim: BenefitClaim,
    status: ClaimStatus,
    reason: str | None,
    now: datetime,
    staff_id: int | None = None,
) -> bool:
    """Record a status change and tell the member; returns False if nothing changed."""
    reason = (reason or "").strip() or None
    if claim.status is status and reason is None:
        return False
    if claim.status in FINAL and status is not claim.status:
        raise Conflict(f"The claim is {claim.status.value}; its status can no longer change.")
    if status in REASON_REQUIRED and reason is None:
        raise InvalidInput("A reason is required for this status.", errors={"reason": ["required"]})
    claim.status = status
    claim.updated_at = now
    session.add(ClaimStatusChange(claim_id=claim.id, status=status, reason=reason, staff_id=staff_id, created_at=now))
    session.flush()
    notify_claim_change(session, claim, reason, now)
    return True


def _office_filter(staff: Principal) -> Any:
    return True if staff.role == "admin" else BenefitClaim.office_id == staff.office_id


def claim_for_staff(session: Session, staff: Principal, claim_id: int) -> BenefitClaim:
    claim = session.scalars(
        select(BenefitClaim).where(BenefitClaim.id == claim_id, _office_filter(staff)).with_for_update()
    ).first()
    if claim is None:
        raise NotFound("No such claim in your office.")
    return claim


def list_claims_for_staff(
    session: Session, staff: Principal, status: ClaimStatus | None, after_id: int | None, limit: int
) -> list[BenefitClaim]:
    query = select(BenefitClaim).where(_office_filter(staff))
    if status is not None:
        query = query.where(BenefitClaim.status == status)
    if after_id is not None:
        query = query.where(BenefitClaim.id > after_id)
    return list(session.scalars(query.order_by(BenefitClaim.id).limit(limit)))
