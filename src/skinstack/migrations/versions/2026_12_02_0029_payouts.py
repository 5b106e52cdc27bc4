"""payouts (one per influencer and currency in a batch)

Revision ID: 2026_12_02_0029
Revises: 2026_12_02_0028
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

revision: str = "2026_12_02_0029"
down_revision: str | None = "2026_12_02_0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Money records: no ON DELETE CASCADE.
    op.create_table(
        "payouts",
        uuid_primary_key(),
        sa.Column("batch_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("influencer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("commission_count", sa.Integer(), nullable=False),
        sa.Column("gross_amount", sa.BigInteger(), nullable=False),
        sa.Column("platform_fees", sa.BigInteger(), nullable=False),
        sa.Column("processing_fees", sa.BigInteger(), nullable=False),
        sa.Column("net_amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_method", sa.String(length=10), nullable=False),
        sa.Column("destination_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("destination_hint", sa.String(length=60), nullable=False),
        sa.Column("payment_reference", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("initiated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_reason", sa.Text(), nullable=True),
        *timestamp_columns(),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'paid', 'failed', 'returned')",
            name=op.f("ck_payouts_status")),
        sa.CheckConstraint("payment_method IN ('stripe', 'paypal', 'ach')",
                           name=op.f("ck_payouts_payment_method")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payouts_currency")),
        sa.CheckConstraint(
            "gross_amount > 0 AND processing_fees >= 0 AND platform_fees >= 0"
            " AND net_amount = gross_amount - processing_fees AND net_amount > 0",
            name=op.f("ck_payouts_amounts")),
        sa.CheckConstraint("commission_count >= 0 AND attempts >= 0",
                           name=op.f("ck_payouts_counts")),
        sa.ForeignKeyConstraint(["batch_id"], ["payout_batches.id"],
                                name=op.f("fk_payouts_batch_id_payout_batches")),
        sa.ForeignKeyConstraint(["influencer_id"], ["influencers.id"],
                                name=op.f("fk_payouts_influencer_id_influencers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("batch_id", "influencer_id", "currency",
                            name=op.f("uq_payouts_batch_id_influencer_id_currency")),
    )
    add_updated_at_trigger("payouts")
    op.create_index("ix_payouts_influencer_created", "payouts",
                    ["influencer_id", "created_at", "id"])
    op.create_index("ix_payouts_created", "payouts", ["created_at", "id"])
    # The sender's and the status follower's work: payouts not final yet.
    op.create_index("ix_payouts_open", "payouts", ["batch_id"],
                    postgresql_where=sa.text("status IN ('pending', 'sending', 'sent')"))


def downgrade() -> None:
    drop_updated_at_trigger("payouts")
    op.drop_table("payouts")
