"""amazon_tracking_ids

Revision ID: 2026_11_23_0016
Revises: 2026_11_23_0015
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import uuid_primary_key

revision: str = "2026_11_23_0016"
down_revision: str | None = "2026_11_23_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "amazon_tracking_ids",
        uuid_primary_key(),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("tracking_id", sa.String(length=128), nullable=False),
        sa.Column("influencer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_amazon_tracking_ids_merchant_id_merchants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["influencer_id"], ["influencers.id"],
                                name=op.f("fk_amazon_tracking_ids_influencer_id_influencers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_amazon_tracking_ids")),
    )
    op.create_index(op.f("ix_amazon_tracking_ids_influencer_id"), "amazon_tracking_ids",
                    ["influencer_id"])
    op.create_index("uq_amazon_tracking_ids_merchant_id_tracking_id", "amazon_tracking_ids",
                    ["merchant_id", sa.text("lower(tracking_id)")], unique=True)


def downgrade() -> None:
    op.drop_table("amazon_tracking_ids")
