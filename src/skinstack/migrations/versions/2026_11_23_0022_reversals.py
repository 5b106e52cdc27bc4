"""reversals (commission taken back: refunds, cancellations, network reversals, rejections)

Revision ID: 2026_11_23_0022
Revises: 2026_11_23_0021
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import uuid_primary_key

revision: str = "2026_11_23_0022"
down_revision: str | None = "2026_11_23_0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reversals",
        uuid_primary_key(),
        sa.Column("commission_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("adjustment_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("gross_amount", sa.BigInteger(), nullable=False),
        sa.Column("platform_fee", sa.BigInteger(), nullable=False),
        sa.Column("net_amount", sa.BigInteger(), nullable=False),
        sa.Column("fraction", sa.Numeric(precision=12, scale=10), nullable=False),
        sa.Column("taken_from", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.CheckConstraint(
            "kind IN ('refund', 'cancellation', 'reversal', 'adjustment', 'rejection',"
            " 'reattribution')", name=op.f("ck_reversals_kind")),
        sa.CheckConstraint(
            "gross_amount >= 0 AND platform_fee >= 0 AND platform_fee <= gross_amount"
            " AND net_amount = gross_amount - platform_fee", name=op.f("ck_reversals_amounts")),
        sa.CheckConstraint("fraction > 0 AND fraction <= 1", name=op.f("ck_reversals_fraction")),
        sa.CheckConstraint("taken_from IN ('pending', 'available', 'paid')",
                           name=op.f("ck_reversals_taken_from")),
        sa.ForeignKeyConstraint(["commission_id"], ["commissions.id"],
                                name=op.f("fk_reversals_commission_id_commissions")),
        sa.ForeignKeyConstraint(["adjustment_id"], ["conversion_adjustments.id"],
                                name=op.f("fk_reversals_adjustment_id_conversion_adjustments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reversals")),
        # One refund of an order split between influencers reverses each of their commissions
        # once: the reported event's (source, external id), per commission.
        sa.UniqueConstraint("commission_id", "source", "external_id",
                            name=op.f("uq_reversals_commission_id_source_external_id")),
    )


def downgrade() -> None:
    op.drop_table("reversals")
