"""staff administration: forced password change, TOTP second factor, disabling; the history of rule changes

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 20:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

from lsso_mobile.models.base import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("second_factor_required", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("totp_secret_sealed", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("totp_confirmed_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("disabled_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("password_changed_at", UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        "rule_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.Column("rule_kind", sa.String(length=16), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("benefit_type", sa.String(length=24), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"], ["staff_users.id"], name=op.f("fk_rule_changes_actor_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_changes")),
    )
    op.create_index("ix_rule_changes_rule", "rule_changes", ["rule_kind", "scheme", "benefit_type", "id"])
    # The audit log is searched by action and by time as well as by actor and object.
    op.create_index("ix_audit_events_action_created", "audit_events", ["action", "created_at"])
    op.create_index("ix_audit_events_created", "audit_events", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_created", table_name="audit_events")
    op.drop_index("ix_audit_events_action_created", table_name="audit_events")
    op.drop_index("ix_rule_changes_rule", table_name="rule_changes")
    op.drop_table("rule_changes")
    with op.batch_alter_table("staff_users") as batch:
        for column in (
            "password_changed_at",
            "disabled_at",
            "totp_last_step",
            "totp_confirmed_at",
            "totp_secret_sealed",
            "second_factor_required",
            "must_change_password",
        ):
            batch.drop_column(column)
