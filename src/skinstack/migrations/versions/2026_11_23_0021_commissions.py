"""commissions (what an influencer earns from one conversion: one row per conversion and influencer)

Revision ID: 2026_11_23_0021
Revises: 2026_11_23_0020
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import (
    add_updated_at_trigger,
    timestamp_columns,
    uuid_primary_key,
)

revision: str = "2026_11_23_0021"
down_revision: str | None = "2026_11_23_0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Money records: no ON DELETE CASCADE anywhere, so deleting an order, program or party that
    # earned money fails instead of taking the record with it.
    op.create_table(
        "commissions",
        uuid_primary_key(),
        sa.Column("conversion_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("influencer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("program_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("campaign_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("weight", sa.Numeric(precision=7, scale=6), nullable=False),
        sa.Column("commissionable_amount", sa.BigInteger(), nullable=False),
        sa.Column("gross_amount", sa.BigInteger(), nullable=False),
        sa.Column("boost_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("platform_fee", sa.BigInteger(), nullable=False),
        sa.Column("net_amount", sa.BigInteger(), nullable=False),
        sa.Column("reversed_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reversed_fee", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reversed_net", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("hold_reasons", postgresql.ARRAY(sa.String(length=40)),
                  server_default="{}", nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("calculation_details", postgresql.JSONB(astext_type=sa.Text()),
                  nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        *timestamp_columns(),
        sa.CheckConstraint("status IN ('pending', 'on_hold', 'approved', 'paid', 'reversed')",
                           name=op.f("ck_commissions_status")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_commissions_currency")),
        sa.CheckConstraint("weight > 0 AND weight <= 1", name=op.f("ck_commissions_weight")),
        sa.CheckConstraint(
            "commissionable_amount >= 0 AND boost_amount >= 0 AND platform_fee >= 0"
            " AND gross_amount >= boost_amount AND platform_fee <= gross_amount"
            " AND net_amount = gross_amount - platform_fee",
            name=op.f("ck_commissions_amounts")),
        sa.CheckConstraint(
            "reversed_amount >= 0 AND reversed_fee >= 0 AND reversed_amount <= gross_amount"
            " AND reversed_fee <= platform_fee AND reversed_net = reversed_amount - reversed_fee"
            " AND reversed_net <= net_amount",
            name=op.f("ck_commissions_reversed")),
        sa.CheckConstraint("revision >= 1", name=op.f("ck_commissions_revision")),
        sa.ForeignKeyConstraint(["conversion_id"], ["conversions.id"],
                                name=op.f("fk_commissions_conversion_id_conversions")),
        sa.ForeignKeyConstraint(["influencer_id"], ["influencers.id"],
                                name=op.f("fk_commissions_influencer_id_influencers")),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"],
                                name=op.f("fk_commissions_program_id_programs")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_commissions_merchant_id_merchants")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_commissions_campaign_id_campaigns")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commissions")),
        sa.UniqueConstraint("conversion_id", "influencer_id",
                            name=op.f("uq_commissions_conversion_id_influencer_id")),
    )
    add_updated_at_trigger("commissions")
    # Tiers: an influencer's sales in a program for a month.
    op.create_index("ix_commissions_influencer_program_month", "commissions",
                    ["influencer_id", "program_id", "occurred_at"])
    # Lists, newest first, for each kind of reader.
    op.create_index("ix_commissions_influencer_created", "commissions",
                    ["influencer_id", "created_at", "id"])
    op.create_index("ix_commissions_merchant_created", "commissions",
                    ["merchant_id", "created_at", "id"])
    op.create_index("ix_commissions_created", "commissions", ["created_at", "id"])
    # The approval sweep.
    op.create_index("ix_commissions_pending", "commissions", ["created_at"],
                    postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_table("commissions")
