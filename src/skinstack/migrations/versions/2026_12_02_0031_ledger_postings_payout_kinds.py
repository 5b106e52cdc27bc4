"""ledger_postings: the payout_paid and payout_return kinds

Revision ID: 2026_12_02_0031
Revises: 2026_12_02_0030
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_12_02_0031"
down_revision: str | None = "2026_12_02_0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALTERS = "ledger_postings"
"""A revision that changes a table made by an earlier one names it (tests/test_migrations.py)."""

BEFORE = "kind IN ('accrual', 'recalculation', 'approval', 'reversal', 'payout', 'fee')"
AFTER = ("kind IN ('accrual', 'recalculation', 'approval', 'reversal', 'payout', 'fee',"
         " 'payout_paid', 'payout_return')")


def _check(condition: str) -> None:
    op.drop_constraint(op.f("ck_ledger_postings_kind"), "ledger_postings", type_="check")
    op.create_check_constraint(op.f("ck_ledger_postings_kind"), "ledger_postings", condition)


def upgrade() -> None:
    _check(AFTER)


def downgrade() -> None:
    # Refused (the check fails) once a payout has been paid or returned: history stays.
    _check(BEFORE)
