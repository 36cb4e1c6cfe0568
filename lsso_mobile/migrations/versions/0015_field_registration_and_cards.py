"""field registration (promoters, offline batches, confirmation, ID photos) and signed member cards

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 20:50:00.000000
"""

import sqlalchemy as sa
from alembic import op

from lsso_mobile.models.base import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

OLD_ROLES = ("officer", "ops", "admin")
NEW_ROLES = ("officer", "promoter", "ops", "admin")
OLD_STATUSES = ("submitted", "more_info_needed", "approved", "rejected")
NEW_STATUSES = ("awaiting_confirmation", *OLD_STATUSES)


def _roles(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="staffrole", native_enum=False, create_constraint=True, length=16)


def _statuses(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="applicationstatus", native_enum=False, create_constraint=True, length=24)


def upgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.alter_column("role", existing_type=_roles(OLD_ROLES), type_=_roles(NEW_ROLES), existing_nullable=False)
        batch_op.add_column(sa.Column("district_code", sa.String(length=4), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_staff_users_district_code_districts"), "districts", ["district_code"], ["code"]
        )

    with op.batch_alter_table("registration_applications", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=_statuses(OLD_STATUSES), type_=_statuses(NEW_STATUSES), existing_nullable=False
        )
        batch_op.alter_column("member_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("registered_by_staff_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("device_record_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("confirmation", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("attested_by_staff_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("confirm_code_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("confirm_code_expires_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("confirm_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("first_payment_kip", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("first_payment_receipt", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_registration_applications_registered_by_staff_id_staff_users"),
            "staff_users",
            ["registered_by_staff_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_registration_applications_attested_by_staff_id_staff_users"),
            "staff_users",
            ["attested_by_staff_id"],
            ["id"],
        )
        batch_op.create_unique_constraint(
            "uq_registration_applications_device", ["registered_by_staff_id", "device_record_id"]
        )
        batch_op.create_index(
            batch_op.f("ix_registration_applications_registered_by_staff_id"), ["registered_by_staff_id"], unique=False
        )
    with op.batch_alter_table("registration_events", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=_statuses(OLD_STATUSES), type_=_statuses(NEW_STATUSES), existing_nullable=False
        )

    op.create_table(
        "member_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.String(length=16), nullable=False),
        sa.Column("insured_person_id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("paid_to", sa.String(length=7), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("issued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.Column("revoked_by_staff_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["insured_person_id"],
            ["insured_persons.id"],
            name=op.f("fk_member_cards_insured_person_id_insured_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_staff_id"], ["staff_users.id"], name=op.f("fk_member_cards_revoked_by_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_cards")),
        sa.UniqueConstraint("card_id", name=op.f("uq_member_cards_card_id")),
    )
    with op.batch_alter_table("member_cards", schema=None) as batch_op:
        batch_op.create_index("ix_member_cards_person_current", ["insured_person_id", "id"], unique=False)
        batch_op.create_index("ix_member_cards_revoked", ["revoked_at", "expires_at"], unique=False)

    op.create_table(
        "field_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("device_photo_id", sa.String(length=64), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["registration_applications.id"],
            name=op.f("fk_field_photos_application_id_registration_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["attachment_id"], ["attachments.id"], name=op.f("fk_field_photos_attachment_id_attachments")
        ),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"], name=op.f("fk_field_photos_staff_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_photos")),
        sa.UniqueConstraint("staff_id", "device_photo_id", name="uq_field_photos_staff_device"),
    )
    with op.batch_alter_table("field_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_field_photos_attachment_id"), ["attachment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_field_photos_application_id"), ["application_id"], unique=False)


def downgrade() -> None:
    op.drop_table("field_photos")
    op.drop_table("member_cards")
    with op.batch_alter_table("registration_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_applications_registered_by_staff_id"))
        batch_op.drop_constraint("uq_registration_applications_device", type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_registration_applications_attested_by_staff_id_staff_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_registration_applications_registered_by_staff_id_staff_users"), type_="foreignkey"
        )
        for column in (
            "first_payment_receipt",
            "first_payment_kip",
            "confirm_attempts",
            "confirm_code_expires_at",
            "confirm_code_hash",
            "attested_by_staff_id",
            "confirmed_at",
            "confirmation",
            "phone",
            "device_record_id",
            "registered_by_staff_id",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column("member_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column(
            "status", existing_type=_statuses(NEW_STATUSES), type_=_statuses(OLD_STATUSES), existing_nullable=False
        )
    with op.batch_alter_table("registration_events", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=_statuses(NEW_STATUSES), type_=_statuses(OLD_STATUSES), existing_nullable=False
        )
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_staff_users_district_code_districts"), type_="foreignkey")
        batch_op.drop_column("district_code")
        batch_op.alter_column("role", existing_type=_roles(NEW_ROLES), type_=_roles(OLD_ROLES), existing_nullable=False)
