"""the audit trail: one row per officer action (who, what, which record, which office, from where)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

from lsso_mobile.models.base import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_staff_id", sa.Integer(), nullable=True),
        sa.Column(
            "actor_kind",
            sa.Enum("staff", "core", "system", name="actorkind", native_enum=False, length=8, create_constraint=True),
            nullable=False,
        ),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_staff_id"], ["staff_users.id"], name=op.f("fk_audit_events_actor_staff_id_staff_users")
        ),
        sa.ForeignKeyConstraint(["office_id"], ["offices.id"], name=op.f("fk_audit_events_office_id_offices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_object", "audit_events", ["object_type", "object_id", "id"], unique=False)
    op.create_index("ix_audit_events_actor", "audit_events", ["actor_staff_id", "created_at"], unique=False)
    op.create_index("ix_audit_events_office", "audit_events", ["office_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_events_office", table_name="audit_events")
    op.drop_index("ix_audit_events_actor", table_name="audit_events")
    op.drop_index("ix_audit_events_object", table_name="audit_events")
    op.drop_table("audit_events")
