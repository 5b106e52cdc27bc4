"""programs: the commission above which a person approves (manual approval threshold)

Revision ID: 2026_11_23_0025
Revises: 2026_11_23_0024
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_23_0025"
down_revision: str | None = "2026_11_23_0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALTERS = "programs"
"""A revision that changes a table made by an earlier one names it (tests/test_migrations.py)."""


def upgrade() -> None:
    op.add_column("programs", sa.Column("manual_approval_threshold", sa.BigInteger(),
                                        nullable=True))
    op.create_check_constraint(op.f("ck_programs_manual_approval_threshold"), "programs",
                               "manual_approval_threshold IS NULL OR manual_approval_threshold > 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_programs_manual_approval_threshold"), "programs")
    op.drop_column("programs", "manual_approval_threshold")
