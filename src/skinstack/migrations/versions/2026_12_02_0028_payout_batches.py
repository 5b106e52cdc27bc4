"""payout_batches (one per period an admin or the schedule pays)

Revision ID: 2026_12_02_0028
Revises: 2026_12_02_0027
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import (
    add_updated_at_trigger,
    drop_updated_at_trigger,
    timestamp_columns,
    uuid_primary_key,
)

revision: str = "2026_12_02_0028"
down_revision: str | None = "2026_12_02_0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payout_batches",
        uuid_primary_key(),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="created", nullable=False),
        sa.Column("created_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("payout_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("paypal_batch_id", sa.String(length=100), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        *timestamp_columns(),
        sa.CheckConstraint("status IN ('created', 'sending', 'sent', 'completed')",
                           name=op.f("ck_payout_batches_status")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_payout_batches_period")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_batches")),
    )
    add_updated_at_trigger("payout_batches")
    op.create_index("ix_payout_batches_created", "payout_batches", ["created_at", "id"])


def downgrade() -> None:
    drop_updated_at_trigger("payout_batches")
    op.drop_table("payout_batches")
