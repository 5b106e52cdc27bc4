"""merchant_integrations

Revision ID: 2026_11_23_0004
Revises: 2026_11_23_0003
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

revision: str = "2026_11_23_0004"
down_revision: str | None = "2026_11_23_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchant_integrations",
        uuid_primary_key(),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("shop_domain", sa.String(length=253), nullable=True),
        sa.Column("account_id", sa.String(length=255), nullable=True),
        sa.Column("secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint(
            "type IN ('shopify', 'impact', 'refersion', 'amazon', 'postback')",
            name=op.f("ck_merchant_integrations_type"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_integrations_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_integrations")),
    )
    op.create_index(
        op.f("ix_merchant_integrations_merchant_id"), "merchant_integrations", ["merchant_id"]
    )
    op.create_index(
        "uq_merchant_integrations_type_shop_domain",
        "merchant_integrations",
        ["type", "shop_domain"],
        unique=True,
        postgresql_where=sa.text("shop_domain IS NOT NULL"),
    )
    op.create_index(
        "uq_merchant_integrations_type_account_id",
        "merchant_integrations",
        ["type", "account_id"],
        unique=True,
        postgresql_where=sa.text("account_id IS NOT NULL"),
    )
    add_updated_at_trigger("merchant_integrations")


def downgrade() -> None:
    drop_updated_at_trigger("merchant_integrations")
    op.drop_table("merchant_integrations")
