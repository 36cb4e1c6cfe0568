"""Members paying contributions: rates by effective date, bills and their months, payments keyed on the
provider's transaction, and the officers' review queue."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, str_enum, utcnow
from lsso_mobile.models.people import Scheme


class ContributionRate(Base):
    """A scheme's contribution rate from a period on: ``rate_bp`` basis points of the declared monthly base,
    the base held within [``base_floor``, ``base_ceiling``]. The rate in force for a period is the row with the
    latest ``effective_from`` not after it. Rates changed in 2017, 2022, 2023 and 2024: data, never code."""

    __tablename__ = "contribution_rates"
    __table_args__ = (UniqueConstraint("scheme", "effective_from", name="uq_contribution_rates_scheme_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme: Mapped[Scheme] = mapped_column(str_enum(Scheme, 16))
    effective_from: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    rate_bp: Mapped[int]
    base_floor: Mapped[int]
    base_ceiling: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BillStatus(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Bill(Base):
    """What a member is about to pay: some months (arrears first), an amount, a number with a check digit."""

    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("member_id", "idempotency_key", name="uq_bills_member_key"),
        Index("ix_bills_person", "insured_person_id", "id"),
        Index("ix_bills_open_expiry", "expires_at", postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(12), unique=True)
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    amount: Mapped[int]
    declared_base: Mapped[int]
    status: Mapped[BillStatus] = mapped_column(str_enum(BillStatus, 12))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    sms_sent: Mapped[int] = mapped_column(default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    request_digest: Mapped[str | None] = mapped_column(String(64))


class BillMonth(Base):
    """One month of a bill. ``held`` while the bill is open or paid: one held row per person and month, so
    nobody has two open bills for a month nor pays a month twice through the app."""

    __tablename__ = "bill_months"
    __table_args__ = (
        Index(
            "uq_bill_months_held",
            "insured_person_id",
            "period",
            unique=True,
            postgresql_where=text("held"),
            sqlite_where=text("held"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id"), index=True)
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("insured_persons.id"))
    period: Mapped[str] = mapped_column(String(7))
    amount: Mapped[int]
    arrear: Mapped[bool] = mapped_column(default=False)
    held: Mapped[bool] = mapped_column(default=True)


class PaymentStatus(enum.StrEnum):
    UNCONFIRMED = "unconfirmed"  # a callback said so; the provider has not confirmed yet
    AWAITING_SECOND_OFFICER = "awaiting_second_officer"  # cash, recorded by one officer
    CREDITED = "credited"
    REVIEW = "review"  # paid, but not creditable as it stands: an officer decides
    FAILED = "failed"  # the provider says it did not go through
    REFUNDED = "refunded"


class Payment(Base):
    """One provider transaction (or one cash payment at an office). Credited exactly once: the key is
    (provider, transaction id), whatever the callbacks do."""

    __tablename__ = "bill_payments"
    __table_args__ = (
        UniqueConstraint("provider", "transaction_id", name="uq_bill_payments_provider_transaction"),
        Index("ix_bill_payments_credited", "credited_at", "id"),
        Index("ix_bill_payments_unconfirmed", "received_at", postgresql_where=text("status = 'unconfirmed'")),
        # the cash desk and the daily cash report: an office's cash by day (migration 0017)
        Index(
            "ix_bill_payments_cash_office",
            "office_id",
            "received_at",
            postgresql_where=text("provider = 'cash'"),
            sqlite_where=text("provider = 'cash'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[str] = mapped_column(String(64))
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("bills.id"), index=True)
    bill_number: Mapped[str | None] = mapped_column(String(12))
    amount: Mapped[int | None]
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, 24))
    paid_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    credited_at: Mapped[datetime | None]
    checks: Mapped[int] = mapped_column(default=0)
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    request_digest: Mapped[str | None] = mapped_column(String(64))


class ReviewReason(enum.StrEnum):
    AMOUNT_MISMATCH = "amount_mismatch"
    BILL_EXPIRED = "bill_expired"
    BILL_CANCELLED = "bill_cancelled"
    ALREADY_PAID = "already_paid"
    UNKNOWN_BILL = "unknown_bill"
    NO_CREDIT = "no_credit"  # reconciliation: the provider has the transaction, we credited nothing
    NO_TRANSACTION = "no_transaction"  # reconciliation: we credited it, the provider does not list it


class ReviewStatus(enum.StrEnum):
    OPEN = "open"
    APPLIED = "applied"
    REFUNDED = "refunded"
    DISMISSED = "dismissed"


class PaymentReview(Base):
    """Something about money an officer must decide; never settled silently."""

    __tablename__ = "payment_reviews"
    __table_args__ = (
        UniqueConstraint("provider", "transaction_id", "reason", name="uq_payment_reviews_transaction_reason"),
        Index("ix_payment_reviews_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("bill_payments.id"))
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("bills.id"))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id"), index=True)
    reason: Mapped[ReviewReason] = mapped_column(str_enum(ReviewReason, 24))
    amount: Mapped[int | None]
    status: Mapped[ReviewStatus] = mapped_column(str_enum(ReviewStatus, 12), default=ReviewStatus.OPEN)
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
