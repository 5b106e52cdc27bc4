"""influencers

Revision ID: 2026_11_23_0002
Revises: 2026_11_23_0001
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

revision: str = "2026_11_23_0002"
down_revision: str | None = "2026_11_23_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "influencers",
        uuid_primary_key(),
        sa.Column("user_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("instagram_handle", sa.String(length=100), nullable=True),
        sa.Column("tiktok_handle", sa.String(length=100), nullable=True),
        sa.Column("youtube_handle", sa.String(length=100), nullable=True),
        sa.Column("total_followers", sa.Integer(), server_default="0", nullable=False),
        sa.Column("preferred_payout_method", sa.String(length=10), nullable=False),
        sa.Column("stripe_account_id", sa.String(length=255), nullable=True),
        sa.Column("paypal_email_encrypted", sa.LargeBinary(), nullable=True),
        *timestamp_columns(),
        sa.CheckConstraint(
            "preferred_payout_method IN ('stripe', 'paypal', 'ach')",
            name=op.f("ck_influencers_payout_method"),
        ),
        sa.CheckConstraint("total_followers >= 0", name=op.f("ck_influencers_followers_not_negative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_influencers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_influencers")),
        sa.UniqueConstraint("user_id", name=op.f("uq_influencers_user_id")),
    )
    add_updated_at_trigger("influencers")


def downgrade() -> None:
    drop_updated_at_trigger("influencers")
    op.drop_table("influencers")
