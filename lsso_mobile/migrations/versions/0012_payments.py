"""members pay contributions: rates by effective date, bills, bill months, payments, the review queue

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:00:00.000000
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from lsso_mobile.models.base import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _enum(name: str, length: int, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=length, create_constraint=True)


SCHEME = ("compulsory", "voluntary")

# Example rates for voluntary members (9% of a declared monthly base within a band). Confirm the bands with
# the LSSO before production and add each later change as a new row with its effective month.
RATES = (
    ("voluntary", "2017-01", 900, 500_000, 4_500_000),
    ("voluntary", "2024-01", 900, 1_200_000, 4_500_000),
)


def upgrade() -> None:
    with op.batch_alter_table("contributions") as batch:
        batch.add_column(sa.Column("awaiting_confirmation", sa.Boolean(), server_default=sa.false(), nullable=False))
    rates = op.create_table(
        "contribution_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scheme", _enum("scheme", 16, *SCHEME), nullable=False),
        sa.Column("effective_from", sa.String(length=7), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("base_floor", sa.Integer(), nullable=False),
        sa.Column("base_ceiling", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contribution_rates")),
        sa.UniqueConstraint("scheme", "effective_from", name="uq_contribution_rates_scheme_from"),
    )
    op.create_table(
        "bills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=12), nullable=False),
        sa.Column("insured_person_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("declared_base", sa.Integer(), nullable=False),
        sa.Column("status", _enum("billstatus", 12, "open", "paid", "expired", "cancelled"), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sms_sent", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["insured_person_id"], ["insured_persons.id"], name=op.f("fk_bills_insured_person_id_insured_persons")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_bills_member_id_members")),
        sa.ForeignKeyConstraint(["office_id"], ["offices.id"], name=op.f("fk_bills_office_id_offices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bills")),
        sa.UniqueConstraint("member_id", "idempotency_key", name="uq_bills_member_key"),
        sa.UniqueConstraint("number", name=op.f("uq_bills_number")),
    )
    op.create_index("ix_bills_person", "bills", ["insured_person_id", "id"], unique=False)
    op.create_index(op.f("ix_bills_office_id"), "bills", ["office_id"], unique=False)
    op.create_index(
        "ix_bills_open_expiry", "bills", ["expires_at"], unique=False, postgresql_where=sa.text("status = 'open'")
    )
    op.create_table(
        "bill_months",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=False),
        sa.Column("insured_person_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("arrear", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_bill_months_bill_id_bills")),
        sa.ForeignKeyConstraint(
            ["insured_person_id"],
            ["insured_persons.id"],
            name=op.f("fk_bill_months_insured_person_id_insured_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_months")),
    )
    op.create_index(op.f("ix_bill_months_bill_id"), "bill_months", ["bill_id"], unique=False)
    op.create_index(
        "uq_bill_months_held",
        "bill_months",
        ["insured_person_id", "period"],
        unique=True,
        postgresql_where=sa.text("held"),
        sqlite_where=sa.text("held"),
    )
    op.create_table(
        "bill_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=True),
        sa.Column("bill_number", sa.String(length=12), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            _enum(
                "paymentstatus",
                24,
                "unconfirmed",
                "awaiting_second_officer",
                "credited",
                "review",
                "failed",
                "refunded",
            ),
            nullable=False,
        ),
        sa.Column("paid_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("credited_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("request_digest", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_bill_payments_bill_id_bills")),
        sa.ForeignKeyConstraint(["office_id"], ["offices.id"], name=op.f("fk_bill_payments_office_id_offices")),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["staff_users.id"], name=op.f("fk_bill_payments_recorded_by_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["staff_users.id"], name=op.f("fk_bill_payments_confirmed_by_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_payments")),
        sa.UniqueConstraint("provider", "transaction_id", name="uq_bill_payments_provider_transaction"),
    )
    op.create_index(op.f("ix_bill_payments_bill_id"), "bill_payments", ["bill_id"], unique=False)
    op.create_index("ix_bill_payments_credited", "bill_payments", ["credited_at", "id"], unique=False)
    op.create_index(
        "ix_bill_payments_unconfirmed",
        "bill_payments",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("status = 'unconfirmed'"),
    )
    op.create_table(
        "payment_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("bill_id", sa.Integer(), nullable=True),
        sa.Column("office_id", sa.Integer(), nullable=True),
        sa.Column(
            "reason",
            _enum(
                "reviewreason",
                24,
                "amount_mismatch",
                "bill_expired",
                "bill_cancelled",
                "already_paid",
                "unknown_bill",
                "no_credit",
                "no_transaction",
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("status", _enum("reviewstatus", 12, "open", "applied", "refunded", "dismissed"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["bill_payments.id"], name=op.f("fk_payment_reviews_payment_id_bill_payments")
        ),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name=op.f("fk_payment_reviews_bill_id_bills")),
        sa.ForeignKeyConstraint(["office_id"], ["offices.id"], name=op.f("fk_payment_reviews_office_id_offices")),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["staff_users.id"], name=op.f("fk_payment_reviews_resolved_by_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_reviews")),
        sa.UniqueConstraint("provider", "transaction_id", "reason", name="uq_payment_reviews_transaction_reason"),
    )
    op.create_index("ix_payment_reviews_status", "payment_reviews", ["status", "id"], unique=False)
    op.create_index(op.f("ix_payment_reviews_office_id"), "payment_reviews", ["office_id"], unique=False)
    now = datetime.now(UTC)
    op.bulk_insert(
        rates,
        [
            {
                "scheme": scheme,
                "effective_from": effective_from,
                "rate_bp": rate_bp,
                "base_floor": floor,
                "base_ceiling": ceiling,
                "created_at": now,
            }
            for scheme, effective_from, rate_bp, floor, ceiling in RATES
        ],
    )


def downgrade() -> None:
    op.drop_table("payment_reviews")
    op.drop_table("bill_payments")
    op.drop_table("bill_months")
    op.drop_table("bills")
    op.drop_table("contribution_rates")
    with op.batch_alter_table("contributions") as batch:
        batch.drop_column("awaiting_confirmation")
