"""programs

Revision ID: 2026_11_23_0008
Revises: 2026_11_23_0007
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

revision: str = "2026_11_23_0008"
down_revision: str | None = "2026_11_23_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "programs",
        uuid_primary_key(),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("network_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("commission_type", sa.String(length=20), nullable=False),
        sa.Column("commission_percent", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("fixed_amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("cookie_window_days", sa.Integer(), nullable=False),
        sa.Column("platform_fee_percent", sa.Numeric(precision=7, scale=4), server_default="20", nullable=False),
        sa.Column("tiers", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("excluded_skus", postgresql.ARRAY(sa.String(length=100)), server_default="{}", nullable=False),
        sa.Column("attribution_model", sa.String(length=20), server_default="last_click", nullable=False),
        sa.Column("approval_delay_days", sa.Integer(), server_default="30", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint("commission_type IN ('percentage', 'fixed')", name=op.f("ck_programs_commission_type")),
        sa.CheckConstraint(
            "(commission_type = 'percentage' AND commission_percent > 0"
            " AND commission_percent <= 100 AND fixed_amount IS NULL)"
            " OR (commission_type = 'fixed' AND fixed_amount > 0)",
            name=op.f("ck_programs_commission_terms"),
        ),
        sa.CheckConstraint("cookie_window_days BETWEEN 1 AND 365", name=op.f("ck_programs_cookie_window")),
        sa.CheckConstraint("platform_fee_percent >= 0 AND platform_fee_percent <= 100", name=op.f("ck_programs_platform_fee")),
        sa.CheckConstraint("approval_delay_days BETWEEN 0 AND 365", name=op.f("ck_programs_approval_delay")),
        sa.CheckConstraint(
            "attribution_model IN ('last_click', 'first_click', 'linear', 'time_decay',"
            " 'position_based', 'data_driven')",
            name=op.f("ck_programs_attribution_model"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_programs_currency")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_programs_merchant_id_merchants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], name=op.f("fk_programs_network_id_networks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programs")),
    )
    op.create_index(op.f("ix_programs_merchant_id"), "programs", ["merchant_id"])
    op.create_index(op.f("ix_programs_network_id"), "programs", ["network_id"])
    add_updated_at_trigger("programs")


def downgrade() -> None:
    drop_updated_at_trigger("programs")
    op.drop_table("programs")
