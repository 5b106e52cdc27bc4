"""analytics_click_buckets (clicks per link and quarter hour)

Revision ID: 2026_12_02_0034
Revises: 2026_12_02_0033
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_02_0034"
down_revision: str | None = "2026_12_02_0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "analytics_click_buckets",
        sa.Column("link_id", UUID, nullable=False),
        sa.Column("bucket", AT, nullable=False),
        sa.Column("influencer_id", UUID, nullable=False),
        sa.Column("program_id", UUID, nullable=False),
        sa.Column("merchant_id", UUID, nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("link_id", "bucket", name=op.f("pk_analytics_click_buckets")),
    )
    op.create_index("ix_analytics_click_buckets_influencer", "analytics_click_buckets", ["influencer_id", "bucket"])
    op.create_index("ix_analytics_click_buckets_merchant", "analytics_click_buckets", ["merchant_id", "bucket"])
    op.create_index("ix_analytics_click_buckets_bucket", "analytics_click_buckets", ["bucket"])


def downgrade() -> None:
    op.drop_table("analytics_click_buckets")
