"""cash by office: the cash desk and the daily cash report read an office's cash payments by day

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 00:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

CASH = "provider = 'cash'"


def upgrade() -> None:
    # Partial: cash is a small share of all payments, and only cash is read by office and day. Built
    # CONCURRENTLY on PostgreSQL (outside the migration's transaction), so bank callbacks and cash keep
    # writing to bill_payments while it builds.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_bill_payments_cash_office",
            "bill_payments",
            ["office_id", "received_at"],
            postgresql_where=sa.text(CASH),
            sqlite_where=sa.text(CASH),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index("ix_bill_payments_cash_office", table_name="bill_payments", postgresql_concurrently=True)
