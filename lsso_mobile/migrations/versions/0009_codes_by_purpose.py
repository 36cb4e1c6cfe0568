"""codes bound to a purpose and sealed until sent; sign-in failures counted per account name

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 17:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("otp_codes", schema=None) as batch_op:
        # Codes issued before this revision were not bound to a purpose; they expire within minutes.
        batch_op.add_column(sa.Column("purpose", sa.String(length=16), server_default="signup", nullable=False))
        batch_op.add_column(sa.Column("sealed_code", sa.String(length=120), nullable=True))
        batch_op.create_index("ix_otp_codes_phone_purpose_expires", ["phone", "purpose", "expires_at"], unique=False)
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("account_key", sa.String(length=80), nullable=True))
        batch_op.create_index("ix_sign_in_failures_account_created", ["account_key", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_failures_account_created")
        batch_op.drop_column("account_key")
    with op.batch_alter_table("otp_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_otp_codes_phone_purpose_expires")
        batch_op.drop_column("sealed_code")
        batch_op.drop_column("purpose")
