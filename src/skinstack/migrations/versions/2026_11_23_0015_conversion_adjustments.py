"""conversion_adjustments (refunds, cancellations, network reversals as reported)

Revision ID: 2026_11_23_0015
Revises: 2026_11_23_0014
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import uuid_primary_key

revision: str = "2026_11_23_0015"
down_revision: str | None = "2026_11_23_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversion_adjustments",
        uuid_primary_key(),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=False),
        sa.Column("order_id", sa.String(length=255), nullable=False),
        sa.Column("conversion_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("line_items", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.CheckConstraint("kind IN ('refund', 'cancellation', 'reversal', 'adjustment')",
                           name=op.f("ck_conversion_adjustments_kind")),
        sa.CheckConstraint("amount IS NULL OR amount >= 0",
                           name=op.f("ck_conversion_adjustments_amount_not_negative")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_conversion_adjustments_merchant_id_merchants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["conversion_id"], ["conversions.id"],
                                name=op.f("fk_conversion_adjustments_conversion_id_conversions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["webhook_events.id"],
                                name=op.f("fk_conversion_adjustments_event_id_webhook_events"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_adjustments")),
        sa.UniqueConstraint("merchant_id", "source", "external_id",
                            name=op.f("uq_conversion_adjustments_merchant_id_source_external_id")),
    )
    op.create_index(op.f("ix_conversion_adjustments_conversion_id"), "conversion_adjustments",
                    ["conversion_id"])
    op.create_index("ix_conversion_adjustments_order", "conversion_adjustments",
                    ["merchant_id", "source", "order_id"])


def downgrade() -> None:
    op.drop_table("conversion_adjustments")
