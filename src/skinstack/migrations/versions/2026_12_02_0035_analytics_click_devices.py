"""analytics_click_devices (devices with a counted click per link and quarter hour)

Revision ID: 2026_12_02_0035
Revises: 2026_12_02_0034
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_02_0035"
down_revision: str | None = "2026_12_02_0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "analytics_click_devices",
        sa.Column("link_id", UUID, nullable=False),
        sa.Column("bucket", AT, nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("influencer_id", UUID, nullable=False),
        sa.Column("program_id", UUID, nullable=False),
        sa.Column("merchant_id", UUID, nullable=False),
        sa.PrimaryKeyConstraint("link_id", "bucket", "device_id", name=op.f("pk_analytics_click_devices")),
    )
    op.create_index("ix_analytics_click_devices_influencer", "analytics_click_devices", ["influencer_id", "bucket", "device_id"])
    op.create_index("ix_analytics_click_devices_merchant", "analytics_click_devices", ["merchant_id", "bucket", "device_id"])
    op.create_index("ix_analytics_click_devices_bucket", "analytics_click_devices", ["bucket"])


def downgrade() -> None:
    op.drop_table("analytics_click_devices")
