"""influencers: payout details (ACH bank account) and tax information, the destination cooldown

Revision ID: 2026_12_02_0027
Revises: 2026_12_02_0026
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_02_0027"
down_revision: str | None = "2026_12_02_0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALTERS = "influencers"
"""A revision that changes a table made by an earlier one names it (tests/test_migrations.py)."""

COLUMNS = (
    ("ach_routing_number", sa.String(length=9)),
    ("ach_account_number_encrypted", sa.LargeBinary()),
    ("ach_account_last4", sa.String(length=4)),
    ("ach_account_type", sa.String(length=8)),
    ("ach_holder_name", sa.String(length=200)),
    ("tax_country", sa.String(length=2)),
    ("tax_form", sa.String(length=6)),
    ("tax_legal_name", sa.String(length=200)),
    ("tax_tin_encrypted", sa.LargeBinary()),
    ("tax_tin_last4", sa.String(length=4)),
    ("tax_received_at", sa.DateTime(timezone=True)),
    ("payout_destination_changed_at", sa.DateTime(timezone=True)),
)
CHECKS = (
    ("ach_account_type", "ach_account_type IN ('checking', 'savings')"),
    ("ach_routing_number", "ach_routing_number ~ '^[0-9]{9}$'"),
    ("tax_form", "tax_form IN ('w9', 'w8ben')"),
    ("tax_country", "tax_country ~ '^[A-Z]{2}$'"),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("influencers", sa.Column(name, type_, nullable=True))
    for name, condition in CHECKS:
        op.create_check_constraint(op.f(f"ck_influencers_{name}"), "influencers", condition)


def downgrade() -> None:
    for name, _ in CHECKS:
        op.drop_constraint(op.f(f"ck_influencers_{name}"), "influencers", type_="check")
    for name, _ in reversed(COLUMNS):
        op.drop_column("influencers", name)
