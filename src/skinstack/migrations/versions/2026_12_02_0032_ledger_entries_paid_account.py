"""ledger_entries: the payouts:paid account (money that reached the influencers)

Revision ID: 2026_12_02_0032
Revises: 2026_12_02_0031
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_12_02_0032"
down_revision: str | None = "2026_12_02_0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALTERS = "ledger_entries"
"""A revision that changes a table made by an earlier one names it (tests/test_migrations.py)."""

_ACCOUNTS = ("account ~ '^(merchant:[0-9a-f-]{{36}}\\:payable"
             "|influencer:[0-9a-f-]{{36}}:(pending|available)"
             "|platform:revenue|payouts:in_transit|{paid}fees:processing)$'")
BEFORE = _ACCOUNTS.format(paid="")
AFTER = _ACCOUNTS.format(paid="payouts:paid|")


def _check(condition: str) -> None:
    op.drop_constraint(op.f("ck_ledger_entries_account"), "ledger_entries", type_="check")
    op.create_check_constraint(op.f("ck_ledger_entries_account"), "ledger_entries", condition)


def upgrade() -> None:
    _check(AFTER)


def downgrade() -> None:
    _check(BEFORE)
