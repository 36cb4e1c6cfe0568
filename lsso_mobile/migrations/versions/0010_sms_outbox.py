"""the SMS outbox: SMS texts wait sealed in the database, the job queue holds only ids

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 18:05:00.000000
"""

import sqlalchemy as sa
from alembic import op

from lsso_mobile.models.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("sealed_text", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sms_messages_unsent", "sms_messages", ["sent_at", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sms_messages_unsent", table_name="sms_messages")
    op.drop_table("sms_messages")
