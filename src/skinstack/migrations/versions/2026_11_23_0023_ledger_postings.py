"""ledger_postings (one balanced money movement, unique by its idempotency key; append-only)

Revision ID: 2026_11_23_0023
Revises: 2026_11_23_0022
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import execute_script, uuid_primary_key

revision: str = "2026_11_23_0023"
down_revision: str | None = "2026_11_23_0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_postings",
        uuid_primary_key(),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("influencer_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("commission_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("reversal_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("memo", sa.Text(), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True),
                  server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('accrual', 'recalculation', 'approval', 'reversal', 'payout', 'fee')",
            name=op.f("ck_ledger_postings_kind")),
        sa.ForeignKeyConstraint(["commission_id"], ["commissions.id"],
                                name=op.f("fk_ledger_postings_commission_id_commissions")),
        sa.ForeignKeyConstraint(["reversal_id"], ["reversals.id"],
                                name=op.f("fk_ledger_postings_reversal_id_reversals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_postings")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_postings_idempotency_key")),
    )
    op.create_index("ix_ledger_postings_merchant_booked", "ledger_postings",
                    ["merchant_id", "booked_at"])
    op.create_index(op.f("ix_ledger_postings_commission_id"), "ledger_postings",
                    ["commission_id"])
    # The ledger is history: nothing in it is ever changed or removed, here or in
    # ledger_entries (whose revision attaches the same function).
    execute_script("""
        CREATE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$;
        CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
            FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
        CREATE TRIGGER ledger_postings_no_truncate BEFORE TRUNCATE ON ledger_postings
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();
    """)


def downgrade() -> None:
    op.drop_table("ledger_postings")
    op.execute("DROP FUNCTION IF EXISTS refuse_ledger_change()")
