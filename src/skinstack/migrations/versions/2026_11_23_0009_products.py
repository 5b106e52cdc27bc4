"""products, with a generated full-text search vector

Revision ID: 2026_11_23_0009
Revises: 2026_11_23_0008
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

revision: str = "2026_11_23_0009"
down_revision: str | None = "2026_11_23_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')"
)


def upgrade() -> None:
    op.create_table(
        "products",
        uuid_primary_key(),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("program_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column("product_url", sa.Text(), nullable=False),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=True),
        sa.Column("in_stock", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("search_vector", postgresql.TSVECTOR(), sa.Computed(SEARCH_VECTOR, persisted=True), nullable=False),
        *timestamp_columns(),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_not_negative")),
        sa.CheckConstraint(
            "category IN ('cleanser', 'serum', 'moisturizer', 'sunscreen', 'mask', 'toner',"
            " 'eye_cream', 'treatment', 'set')",
            name=op.f("ck_products_category"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_products_currency")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_products_merchant_id_merchants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"], name=op.f("fk_products_program_id_programs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("merchant_id", "external_id", name=op.f("uq_products_merchant_id_external_id")),
    )
    op.create_index(op.f("ix_products_merchant_id"), "products", ["merchant_id"])
    op.create_index(op.f("ix_products_program_id"), "products", ["program_id"])
    op.create_index("ix_products_search_vector", "products", ["search_vector"], postgresql_using="gin")
    op.create_index("ix_products_category_price", "products", ["category", "price"])
    op.create_index("ix_products_created_at_id", "products", ["created_at", "id"])
    add_updated_at_trigger("products")


def downgrade() -> None:
    drop_updated_at_trigger("products")
    op.drop_table("products")
