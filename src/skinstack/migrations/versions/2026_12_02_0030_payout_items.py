"""payout_items (the ledger postings on an available balance that each payout settles)

Revision ID: 2026_12_02_0030
Revises: 2026_12_02_0029
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_02_0030"
down_revision: str | None = "2026_12_02_0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payout_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("payout_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("posting_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("commission_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("reversal_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("platform_fee", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_payout_items_amount")),
        sa.ForeignKeyConstraint(["payout_id"], ["payouts.id"],
                                name=op.f("fk_payout_items_payout_id_payouts")),
        sa.ForeignKeyConstraint(["posting_id"], ["ledger_postings.id"],
                                name=op.f("fk_payout_items_posting_id_ledger_postings")),
        sa.ForeignKeyConstraint(["commission_id"], ["commissions.id"],
                                name=op.f("fk_payout_items_commission_id_commissions")),
        sa.ForeignKeyConstraint(["reversal_id"], ["reversals.id"],
                                name=op.f("fk_payout_items_reversal_id_reversals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_items")),
    )
    op.create_index(op.f("ix_payout_items_payout_id"), "payout_items", ["payout_id"])
    op.create_index("ix_payout_items_commission", "payout_items", ["commission_id"])
    # A posting is settled by one live payout at most: two batches made at once cannot both
    # take it. A failed or returned payout releases its items (active = false).
    op.create_index("uq_payout_items_posting_active", "payout_items", ["posting_id"],
                    unique=True, postgresql_where=sa.text("active"))


def downgrade() -> None:
    op.drop_table("payout_items")
