"""delivery on cheap phones: acknowledgements, SMS fallback, SMS parts and delivery reports, SMS look-ups

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 20:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

from lsso_mobile.models.base import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

SMS_DUE = "sms_due_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("acked_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sms_due_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sms_outcome", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("sms_lo", sa.Text(), nullable=True))
        batch.add_column(sa.Column("sms_en", sa.Text(), nullable=True))
    op.create_index(
        "ix_notifications_sms_due",
        "notifications",
        ["sms_due_at"],
        unique=False,
        postgresql_where=sa.text(SMS_DUE),
        sqlite_where=sa.text(SMS_DUE),
    )
    with op.batch_alter_table("notification_preferences") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=8), server_default="push", nullable=False))
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("sms_fallback", sa.Boolean(), server_default="0", nullable=False))
    op.create_table(
        "broadcast_acks",
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("acked_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"], ["broadcasts.id"], name=op.f("fk_broadcast_acks_broadcast_id_broadcasts")
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name=op.f("fk_broadcast_acks_member_id_members")),
        sa.PrimaryKeyConstraint("broadcast_id", "member_id", name=op.f("pk_broadcast_acks")),
    )
    op.create_index("ix_broadcast_acks_member_id", "broadcast_acks", ["member_id"], unique=False)
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("member_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("notification_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("broadcast_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("office_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("category", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("encoding", sa.String(length=8), server_default="gsm7", nullable=False))
        batch.add_column(sa.Column("parts", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("gateway_message_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("report_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("report_error", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("reported_at", UTCDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(op.f("fk_sms_messages_member_id_members"), "members", ["member_id"], ["id"])
        batch.create_foreign_key(
            op.f("fk_sms_messages_notification_id_notifications"), "notifications", ["notification_id"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_sms_messages_broadcast_id_broadcasts"), "broadcasts", ["broadcast_id"], ["id"]
        )
        batch.create_foreign_key(op.f("fk_sms_messages_office_id_offices"), "offices", ["office_id"], ["id"])
    op.create_index("ix_sms_messages_created_at", "sms_messages", ["created_at"], unique=False)
    op.create_index("ix_sms_messages_member_created", "sms_messages", ["member_id", "created_at"], unique=False)
    op.create_index("ix_sms_messages_gateway_message_id", "sms_messages", ["gateway_message_id"], unique=False)
    op.create_index(
        "uq_sms_messages_notification_id",
        "sms_messages",
        ["notification_id"],
        unique=True,
        postgresql_where=sa.text("notification_id IS NOT NULL"),
        sqlite_where=sa.text("notification_id IS NOT NULL"),
    )
    op.create_index(
        "uq_sms_messages_broadcast_member",
        "sms_messages",
        ["broadcast_id", "member_id"],
        unique=True,
        postgresql_where=sa.text("broadcast_id IS NOT NULL"),
        sqlite_where=sa.text("broadcast_id IS NOT NULL"),
    )
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gateway_message_id", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("keyword", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reply_sms_id", sa.Integer(), nullable=True),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_sms_id"], ["sms_messages.id"], name=op.f("fk_inbound_sms_reply_sms_id_sms_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
        sa.UniqueConstraint("gateway_message_id", name=op.f("uq_inbound_sms_gateway_message_id")),
    )
    op.create_index("ix_inbound_sms_phone_received", "inbound_sms", ["phone", "received_at"], unique=False)
    op.create_index("ix_insured_persons_phone", "insured_persons", ["phone"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_insured_persons_phone", table_name="insured_persons")
    op.drop_index("ix_inbound_sms_phone_received", table_name="inbound_sms")
    op.drop_table("inbound_sms")
    for name in (
        "uq_sms_messages_broadcast_member",
        "uq_sms_messages_notification_id",
        "ix_sms_messages_gateway_message_id",
        "ix_sms_messages_member_created",
        "ix_sms_messages_created_at",
    ):
        op.drop_index(name, table_name="sms_messages")
    with op.batch_alter_table("sms_messages") as batch:
        for fk in (
            "member_id_members",
            "notification_id_notifications",
            "broadcast_id_broadcasts",
            "office_id_offices",
        ):
            batch.drop_constraint(f"fk_sms_messages_{fk}", type_="foreignkey")
        for column in (
            "reported_at",
            "report_error",
            "report_status",
            "gateway_message_id",
            "parts",
            "encoding",
            "category",
            "office_id",
            "broadcast_id",
            "notification_id",
            "member_id",
        ):
            batch.drop_column(column)
    op.drop_index("ix_broadcast_acks_member_id", table_name="broadcast_acks")
    op.drop_table("broadcast_acks")
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("sms_fallback")
    with op.batch_alter_table("notification_preferences") as batch:
        batch.drop_column("channel")
    op.drop_index("ix_notifications_sms_due", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        for column in ("sms_en", "sms_lo", "sms_outcome", "sms_due_at", "acked_at"):
            batch.drop_column(column)
