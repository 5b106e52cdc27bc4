"""analytics_refresh_state (where the incremental analytics refresh stands)

Revision ID: 2026_12_02_0037
Revises: 2026_12_02_0036
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_02_0037"
down_revision: str | None = "2026_12_02_0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "analytics_refresh_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("money_since", AT, nullable=False),
        sa.Column("clicks_since", AT, nullable=False),
        sa.Column("refreshed_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_refresh_state")),
    )


def downgrade() -> None:
    op.drop_table("analytics_refresh_state")
