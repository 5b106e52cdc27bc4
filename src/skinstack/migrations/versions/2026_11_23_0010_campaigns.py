"""campaigns

Revision ID: 2026_11_23_0010
Revises: 2026_11_23_0009
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

revision: str = "2026_11_23_0010"
down_revision: str | None = "2026_11_23_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        uuid_primary_key(),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("program_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("commission_boost_percent", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("budget", sa.BigInteger(), nullable=True),
        sa.Column("spent", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("eligible_product_ids", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), server_default="{}", nullable=False),
        sa.Column("eligible_influencer_ids", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), server_default="{}", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint("commission_boost_percent > 0", name=op.f("ck_campaigns_boost_positive")),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name=op.f("ck_campaigns_date_range")),
        sa.CheckConstraint("budget IS NULL OR budget >= 0", name=op.f("ck_campaigns_budget_not_negative")),
        sa.CheckConstraint("spent >= 0 AND (budget IS NULL OR spent <= budget)", name=op.f("ck_campaigns_spent")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_campaigns_merchant_id_merchants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_campaigns_program_id_programs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_merchant_id"), "campaigns", ["merchant_id"])
    op.create_index(op.f("ix_campaigns_program_id"), "campaigns", ["program_id"])
    add_updated_at_trigger("campaigns")


def downgrade() -> None:
    drop_updated_at_trigger("campaigns")
    op.drop_table("campaigns")
