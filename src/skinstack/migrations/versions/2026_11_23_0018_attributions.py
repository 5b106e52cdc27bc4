"""attributions (credits of a conversion to clicks, coupons or a named influencer)

Revision ID: 2026_11_23_0018
Revises: 2026_11_23_0017
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import uuid_primary_key

revision: str = "2026_11_23_0018"
down_revision: str | None = "2026_11_23_0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Only the conversion is a foreign key: the influencer, program and link are copied from
    # the click (which has none, for the same reason) or the coupon, and each key checked
    # would cost the batch writes about a third more.
    op.create_table(
        "attributions",
        uuid_primary_key(),
        sa.Column("conversion_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("influencer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("program_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("click_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("link_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("coupon_code", sa.String(length=100), nullable=True),
        sa.Column("weight", sa.Numeric(precision=7, scale=6), nullable=False),
        sa.Column("model", sa.String(length=20), nullable=False),
        sa.Column("match_type", sa.String(length=10), nullable=False),
        sa.Column("confidence", sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("weight > 0 AND weight <= 1", name=op.f("ck_attributions_weight")),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1",
                           name=op.f("ck_attributions_confidence")),
        sa.CheckConstraint(
            "model IN ('last_click', 'first_click', 'linear', 'time_decay', 'position_based',"
            " 'data_driven')", name=op.f("ck_attributions_model")),
        sa.CheckConstraint(
            "match_type IN ('sub_id', 'coupon', 'network', 'device', 'path')",
            name=op.f("ck_attributions_match_type")),
        sa.CheckConstraint("(click_id IS NULL) = (clicked_at IS NULL)",
                           name=op.f("ck_attributions_click_time")),
        sa.ForeignKeyConstraint(["conversion_id"], ["conversions.id"],
                                name=op.f("fk_attributions_conversion_id_conversions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attributions")),
    )
    # One current credit per conversion and click (or coupon, or named influencer); superseded
    # rows stay as history.
    op.create_index("uq_attributions_current", "attributions",
                    ["conversion_id", "click_id", "coupon_code", "influencer_id"], unique=True,
                    postgresql_where=sa.text("superseded_at IS NULL"),
                    postgresql_nulls_not_distinct=True)
    op.create_index(op.f("ix_attributions_conversion_id"), "attributions", ["conversion_id"])
    op.create_index(op.f("ix_attributions_influencer_id"), "attributions", ["influencer_id"])


def downgrade() -> None:
    op.drop_table("attributions")
