"""merchants

Revision ID: 2026_11_23_0003
Revises: 2026_11_23_0002
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

revision: str = "2026_11_23_0003"
down_revision: str | None = "2026_11_23_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchants",
        uuid_primary_key(),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("business_name", sa.String(length=200), nullable=False),
        sa.Column("website_url", sa.Text(), nullable=False),
        sa.Column("allowed_domains", postgresql.ARRAY(sa.String(length=253)), server_default="{}", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *timestamp_columns(),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_merchants_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
        sa.UniqueConstraint("user_id", name=op.f("uq_merchants_user_id")),
    )
    add_updated_at_trigger("merchants")


def downgrade() -> None:
    drop_updated_at_trigger("merchants")
    op.drop_table("merchants")
