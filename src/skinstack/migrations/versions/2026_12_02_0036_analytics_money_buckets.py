"""analytics_money_buckets (orders and commissions per influencer, program, currency and quarter hour)

Revision ID: 2026_12_02_0036
Revises: 2026_12_02_0035
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_02_0036"
down_revision: str | None = "2026_12_02_0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "analytics_money_buckets",
        sa.Column("influencer_id", UUID, nullable=False),
        sa.Column("program_id", UUID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bucket", AT, nullable=False),
        sa.Column("merchant_id", UUID, nullable=False),
        sa.Column("conversions", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("order_revenue_refunded", sa.BigInteger(), nullable=False),
        sa.Column("revenue_refunded", sa.BigInteger(), nullable=False),
        sa.Column("earnings", sa.BigInteger(), nullable=False),
        sa.Column("pending", sa.BigInteger(), nullable=False),
        sa.Column("on_hold", sa.BigInteger(), nullable=False),
        sa.Column("approved", sa.BigInteger(), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("reversed", sa.BigInteger(), nullable=False),
        sa.Column("earnings_reversed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("influencer_id", "program_id", "currency", "bucket", name=op.f("pk_analytics_money_buckets")),
    )
    op.create_index("ix_analytics_money_buckets_merchant", "analytics_money_buckets", ["merchant_id", "bucket"])
    op.create_index("ix_analytics_money_buckets_bucket", "analytics_money_buckets", ["bucket"])


def downgrade() -> None:
    op.drop_table("analytics_money_buckets")
