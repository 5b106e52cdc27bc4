"""networks, seeded with the eight a program can run on

Revision ID: 2026_11_23_0007
Revises: 2026_11_23_0006
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from skinstack.migrations.helpers import (
    add_updated_at_trigger,
    drop_updated_at_trigger,
    timestamp_columns,
    uuid_primary_key,
)

revision: str = "2026_11_23_0007"
down_revision: str | None = "2026_11_23_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# code, name, default cookie window (days), sub-id parameter, reports the sub id back
NETWORKS = [
    ("shopify_refersion", "Shopify / Refersion", 30, "aff_sub", True),
    ("impact", "Impact", 30, "subId1", True),
    ("shareasale", "ShareASale", 30, "afftrack", True),
    ("cj", "CJ Affiliate", 7, "sid", True),
    ("awin", "Awin", 30, "clickref", True),
    ("rakuten", "Rakuten Advertising", 7, "u1", True),
    ("amazon", "Amazon Associates", 1, "ascsubtag", True),
    ("levanta", "Levanta", 14, "click_id", False),
]


def upgrade() -> None:
    networks = op.create_table(
        "networks",
        uuid_primary_key(),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("default_cookie_window_days", sa.Integer(), nullable=False),
        sa.Column("sub_id_parameter", sa.String(length=40), nullable=False),
        sa.Column("supports_sub_ids", sa.Boolean(), nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint("default_cookie_window_days BETWEEN 1 AND 365",
                           name=op.f("ck_networks_cookie_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_networks")),
        sa.UniqueConstraint("code", name=op.f("uq_networks_code")),
    )
    add_updated_at_trigger("networks")
    op.bulk_insert(networks, [
        {"code": code, "name": name, "default_cookie_window_days": window,
         "sub_id_parameter": parameter, "supports_sub_ids": supports}
        for code, name, window, parameter, supports in NETWORKS
    ])


def downgrade() -> None:
    drop_updated_at_trigger("networks")
    op.drop_table("networks")
