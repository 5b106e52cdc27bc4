"""conversions

Revision ID: 2026_11_23_0014
Revises: 2026_11_23_0013
Create Date: 2026-11-23
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

revision: str = "2026_11_23_0014"
down_revision: str | None = "2026_11_23_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversions",
        uuid_primary_key(),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("program_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("order_id", sa.String(length=255), nullable=False),
        sa.Column("order_name", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discounts", sa.BigInteger(), nullable=False),
        sa.Column("tax", sa.BigInteger(), nullable=False),
        sa.Column("shipping", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("line_items", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("discount_codes", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("click_ref", sa.String(length=100), nullable=True),
        sa.Column("click_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("customer_hash", sa.String(length=64), nullable=True),
        sa.Column("influencer_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("financial_status", sa.String(length=30), nullable=True),
        sa.Column("is_test", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("last_event_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("attributed_at", sa.DateTime(timezone=True), nullable=True),
        *timestamp_columns(),
        sa.CheckConstraint("source IN ('shopify', 'impact', 'refersion', 'postback', 'amazon')",
                           name=op.f("ck_conversions_source")),
        sa.CheckConstraint("status IN ('open', 'cancelled')", name=op.f("ck_conversions_status")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_conversions_currency")),
        sa.CheckConstraint("subtotal >= 0 AND discounts >= 0 AND tax >= 0 AND shipping >= 0"
                           " AND total >= 0", name=op.f("ck_conversions_amounts_not_negative")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_conversions_merchant_id_merchants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"],
                                name=op.f("fk_conversions_program_id_programs"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["influencer_id"], ["influencers.id"],
                                name=op.f("fk_conversions_influencer_id_influencers"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["last_event_id"], ["webhook_events.id"],
                                name=op.f("fk_conversions_last_event_id_webhook_events"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversions")),
        sa.UniqueConstraint("merchant_id", "source", "order_id",
                            name=op.f("uq_conversions_merchant_id_source_order_id")),
    )
    op.create_index(op.f("ix_conversions_program_id"), "conversions", ["program_id"])
    op.create_index(op.f("ix_conversions_influencer_id"), "conversions", ["influencer_id"])
    op.create_index("ix_conversions_merchant_id_occurred_at", "conversions",
                    ["merchant_id", "occurred_at", "id"])
    op.create_index("ix_conversions_occurred_at", "conversions", ["occurred_at", "id"])
    op.create_index("ix_conversions_click_id", "conversions", ["click_id"],
                    postgresql_where=sa.text("click_id IS NOT NULL"))
    add_updated_at_trigger("conversions")


def downgrade() -> None:
    drop_updated_at_trigger("conversions")
    op.drop_table("conversions")
