"""conversions: why attribution decided what it did, and an index of those still waiting

Revision ID: 2026_11_23_0020
Revises: 2026_11_23_0019
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_23_0020"
down_revision: str | None = "2026_11_23_0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALTERS = "conversions"
"""A revision that changes a table made by an earlier one names it (tests/test_migrations.py)."""


def upgrade() -> None:
    op.add_column("conversions", sa.Column("attribution_note", sa.Text(), nullable=True))
    op.create_index("ix_conversions_unattributed", "conversions", ["created_at"],
                    postgresql_where=sa.text("attributed_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_conversions_unattributed", "conversions")
    op.drop_column("conversions", "attribution_note")
