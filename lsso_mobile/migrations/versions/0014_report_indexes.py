"""report indexes: each report reads one range of one time column

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 20:45:00.000000
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_registration_applications_created_at", "registration_applications", ["created_at"]),
    ("ix_conversations_created_at", "conversations", ["created_at"]),
    # the status too: counting a range of days by outcome reads the index alone (an index-only scan)
    ("ix_deliveries_updated_at_status", "deliveries", ["updated_at", "status"]),
    ("ix_broadcasts_published_at", "broadcasts", ["published_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
