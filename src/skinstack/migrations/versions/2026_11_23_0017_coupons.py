"""coupons (discount codes a merchant gives to influencers: how a code on an order finds them)

Revision ID: 2026_11_23_0017
Revises: 2026_11_23_0016
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

revision: str = "2026_11_23_0017"
down_revision: str | None = "2026_11_23_0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupons",
        uuid_primary_key(),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("program_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("influencer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *timestamp_columns(),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_coupons_merchant_id_merchants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"],
                                name=op.f("fk_coupons_program_id_programs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["influencer_id"], ["influencers.id"],
                                name=op.f("fk_coupons_influencer_id_influencers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
    )
    op.create_index(op.f("ix_coupons_influencer_id"), "coupons", ["influencer_id"])
    op.create_index(op.f("ix_coupons_program_id"), "coupons", ["program_id"])
    op.create_index("uq_coupons_merchant_id_code", "coupons",
                    ["merchant_id", sa.text("lower(code)")], unique=True)
    add_updated_at_trigger("coupons")


def downgrade() -> None:
    op.drop_table("coupons")
