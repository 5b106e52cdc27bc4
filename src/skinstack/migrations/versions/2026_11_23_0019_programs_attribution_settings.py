"""programs: the attribution settings beside the model (half-life, coupon precedence)

Revision ID: 2026_11_23_0019
Revises: 2026_11_23_0018
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_23_0019"
down_revision: str | None = "2026_11_23_0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALTERS = "programs"
"""A revision that changes a table made by an earlier one names it (tests/test_migrations.py)."""


def upgrade() -> None:
    op.add_column("programs", sa.Column("attribution_half_life_hours", sa.Integer(),
                                        server_default="168", nullable=False))
    op.add_column("programs", sa.Column("coupon_beats_click", sa.Boolean(),
                                        server_default=sa.false(), nullable=False))
    op.create_check_constraint(op.f("ck_programs_attribution_half_life"), "programs",
                               "attribution_half_life_hours BETWEEN 1 AND 8760")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_programs_attribution_half_life"), "programs")
    op.drop_column("programs", "coupon_beats_click")
    op.drop_column("programs", "attribution_half_life_hours")
