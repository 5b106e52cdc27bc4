"""tracking_links

Revision ID: 2026_11_23_0011
Revises: 2026_11_23_0010
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

revision: str = "2026_11_23_0011"
down_revision: str | None = "2026_11_23_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracking_links",
        uuid_primary_key(),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("influencer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("program_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("product_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("campaign_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("destination_url", sa.Text(), nullable=False),
        sa.Column("sub_id_parameter", sa.String(length=40), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        *timestamp_columns(),
        sa.ForeignKeyConstraint(["influencer_id"], ["influencers.id"], name=op.f("fk_tracking_links_influencer_id_influencers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_tracking_links_program_id_programs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_tracking_links_merchant_id_merchants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_tracking_links_product_id_products"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_tracking_links_campaign_id_campaigns"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_links")),
    )
    op.create_index("uq_tracking_links_slug_lower", "tracking_links", [sa.text("lower(slug)")], unique=True)
    op.create_index("ix_tracking_links_influencer_id_created_at", "tracking_links", ["influencer_id", "created_at"])
    op.create_index(op.f("ix_tracking_links_program_id"), "tracking_links", ["program_id"])
    op.create_index(op.f("ix_tracking_links_merchant_id"), "tracking_links", ["merchant_id"])
    op.create_index(op.f("ix_tracking_links_product_id"), "tracking_links", ["product_id"])
    op.create_index(op.f("ix_tracking_links_campaign_id"), "tracking_links", ["campaign_id"])
    add_updated_at_trigger("tracking_links")


def downgrade() -> None:
    drop_updated_at_trigger("tracking_links")
    op.drop_table("tracking_links")
