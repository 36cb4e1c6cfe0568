"""Contribution records, benefit claims and payments, fed by the LSSO core system, and the rules
(rates, earnings limits, due day, eligibility) that the office configures as data."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lsso_mobile.models.base import Base, str_enum, utcnow
from lsso_mobile.models.people import Scheme, StaffUser


class ContributionStatus(enum.StrEnum):
    PAID = "paid"
    LATE = "late"  # paid after the due day: counts as contributed
    UNPAID = "unpaid"


class Contribution(Base):
    """One month (period ``YYYY-MM``) of contributions for one insured person. Whole kip."""

    __tablename__ = "contributions"
    __table_args__ = (
        # Covering on PostgreSQL: the summary reads period, status and total from the index alone, so a
        # member's 120+ months spread over as many heap pages (rows arrive month by month) cost no heap reads.
        Index("ix_contributions_person_period", "insured_person_id", "period", postgresql_include=["status", "total"]),
        Index("ix_contributions_person_updated", "insured_person_id", "updated_at"),
        # Few rows are unpaid: the "members in arrears" audience probes this, not the whole table.
        Index(
            "ix_contributions_unpaid",
            "insured_person_id",
            "period",
            postgresql_where=text("status = 'unpaid'"),
            sqlite_where=text("status = 'unpaid'"),
        ),
    )

    # 300 million rows and growing: a 64-bit key (SQLite needs INTEGER to autoincrement)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"))
    period: Mapped[str] = mapped_column(String(7))
    scheme: Mapped[Scheme] = mapped_column(str_enum(Scheme, 16))
    employer_name: Mapped[str | None] = mapped_column(String(200))
    employer_registration_no: Mapped[str | None] = mapped_column(String(32))
    insurable_earnings: Mapped[int]
    employee_share: Mapped[int]
    employer_share: Mapped[int]
    total: Mapped[int]
    status: Mapped[ContributionStatus] = mapped_column(str_enum(ContributionStatus, 8))
    paid_date: Mapped[date | None]
    payment_channel: Mapped[str | None] = mapped_column(String(32))
    receipt_reference: Mapped[str | None] = mapped_column(String(64))
    # Paid through the app (a bill), shown at once; the core system's import confirms it (clears this).
    awaiting_confirmation: Mapped[bool] = mapped_column(default=False, server_default=false())
    source_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BenefitType(enum.StrEnum):
    SICKNESS = "sickness"
    MATERNITY = "maternity"
    EMPLOYMENT_INJURY = "employment_injury"
    INVALIDITY = "invalidity"
    OLD_AGE_PENSION = "old_age_pension"
    SURVIVORS = "survivors"
    FUNERAL = "funeral"
    HEALTH_CARE = "health_care"


class ClaimStatus(enum.StrEnum):
    RECEIVED = "received"
    UNDER_REVIEW = "under_review"
    MORE_INFO_NEEDED = "more_info_needed"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"


class BenefitClaim(Base):
    __tablename__ = "benefit_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    benefit_type: Mapped[BenefitType] = mapped_column(str_enum(BenefitType, 24))
    status: Mapped[ClaimStatus] = mapped_column(str_enum(ClaimStatus, 24))
    amount_claimed: Mapped[int | None]
    amount_approved: Mapped[int | None]
    source_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClaimStatusChange(Base):
    __tablename__ = "claim_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("benefit_claims.id"), index=True)
    status: Mapped[ClaimStatus] = mapped_column(str_enum(ClaimStatus, 24))
    reason: Mapped[str | None] = mapped_column(Text)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    staff: Mapped[StaffUser | None] = relationship(lazy="selectin")

    @property
    def decided_by_name(self) -> str | None:
        """The officer's name (None for a change sent by the core system)."""
        return self.staff.name if self.staff is not None else None


class BenefitPayment(Base):
    __tablename__ = "benefit_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("benefit_claims.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))
    amount: Mapped[int]
    paid_date: Mapped[date]
    channel: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchemeRule(Base):
    """Rates in basis points of insurable earnings, earnings floor and ceiling, due day of the month."""

    __tablename__ = "scheme_rules"

    scheme: Mapped[Scheme] = mapped_column(str_enum(Scheme, 16), primary_key=True)
    employee_rate_bp: Mapped[int]
    employer_rate_bp: Mapped[int]
    earnings_floor: Mapped[int]
    earnings_ceiling: Mapped[int]
    due_day: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EligibilityRule(Base):
    """Who qualifies for a benefit: months in total, months within a recent window, and age."""

    __tablename__ = "eligibility_rules"
    __table_args__ = (UniqueConstraint("benefit_type", "scheme", name="uq_eligibility_rules_benefit_scheme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    benefit_type: Mapped[BenefitType] = mapped_column(str_enum(BenefitType, 24))
    scheme: Mapped[Scheme] = mapped_column(str_enum(Scheme, 16))
    min_total_months: Mapped[int] = mapped_column(default=0)
    min_recent_months: Mapped[int] = mapped_column(default=0)
    recent_window_months: Mapped[int] = mapped_column(default=0)
    min_age: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContributionReminder(Base):
    """A due-date reminder sent for one person and period: never twice."""

    __tablename__ = "contribution_reminders"
    __table_args__ = (UniqueConstraint("insured_person_id", "period", name="uq_contribution_reminders_person_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"))
    period: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleChange(Base):
    """One change of a scheme or eligibility rule: who, when, and the values before and after (the history
    admins read; the audit trail has a row for it too)."""

    __tablename__ = "rule_changes"
    __table_args__ = (Index("ix_rule_changes_rule", "rule_kind", "scheme", "benefit_type", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    rule_kind: Mapped[str] = mapped_column(String(16))  # "scheme" | "eligibility"
    scheme: Mapped[str] = mapped_column(String(16))
    benefit_type: Mapped[str | None] = mapped_column(String(24))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: the rule did not exist
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
