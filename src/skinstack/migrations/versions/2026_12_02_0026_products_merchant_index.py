"""products: drop ix_products_merchant_id, which the unique (merchant_id, external_id) index covers

Every lookup by merchant (the catalog's visibility filters, the cascade from merchants) is served
by the unique index, whose first column it is. The duplicate cost an index write per product and
misled the import: with statistics from before a new merchant's first import, the planner probed
it (scanning all the merchant's products) instead of the unique index (one entry).

Revision ID: 2026_12_02_0026
Revises: 2026_11_23_0025
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_12_02_0026"
down_revision: str | None = "2026_11_23_0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALTERS = "products"
"""A revision that changes a table made by an earlier one names it (tests/test_migrations.py)."""


def upgrade() -> None:
    op.drop_index(op.f("ix_products_merchant_id"), table_name="products")


def downgrade() -> None:
    op.create_index(op.f("ix_products_merchant_id"), "products", ["merchant_id"])
