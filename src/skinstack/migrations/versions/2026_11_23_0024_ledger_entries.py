"""ledger_entries (the signed amounts of a posting, one per account; append-only, balanced)

Revision ID: 2026_11_23_0024
Revises: 2026_11_23_0023
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import execute_script

revision: str = "2026_11_23_0024"
down_revision: str | None = "2026_11_23_0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("posting_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_amount")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_ledger_entries_currency")),
        sa.CheckConstraint(
            "account ~ '^(merchant:[0-9a-f-]{36}\\:payable"
            "|influencer:[0-9a-f-]{36}:(pending|available)"
            "|platform:revenue|payouts:in_transit|fees:processing)$'",
            name=op.f("ck_ledger_entries_account")),
        sa.ForeignKeyConstraint(["posting_id"], ["ledger_postings.id"],
                                name=op.f("fk_ledger_entries_posting_id_ledger_postings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index("ix_ledger_entries_account", "ledger_entries",
                    ["account", "currency", "booked_at"])
    op.create_index(op.f("ix_ledger_entries_posting_id"), "ledger_entries", ["posting_id"])
    # A posting's entries arrive in one INSERT statement and sum to zero in each currency;
    # checked per statement (not deferred), so it also holds inside savepoints.
    execute_script("""
        CREATE FUNCTION check_ledger_postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            bad uuid;
        BEGIN
            SELECT posting_id INTO bad FROM new_entries
            GROUP BY posting_id, currency HAVING sum(amount) <> 0 LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'posting % does not sum to zero in each currency', bad
                    USING ERRCODE = 'check_violation';
            END IF;
            SELECT n.posting_id INTO bad
            FROM (SELECT posting_id, count(*) AS entries FROM new_entries GROUP BY posting_id) n
            WHERE n.entries <> (SELECT count(*) FROM ledger_entries e
                                WHERE e.posting_id = n.posting_id)
            LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'posting % was written in more than one statement', bad
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;
        END;
        $$;
        CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
            REFERENCING NEW TABLE AS new_entries
            FOR EACH STATEMENT EXECUTE FUNCTION check_ledger_postings_balanced();
        CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
            FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
        CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
            FOR EACH STATEMENT EXECUTE FUNCTION refuse_ledger_change();
    """)


def downgrade() -> None:
    op.drop_table("ledger_entries")
    op.execute("DROP FUNCTION IF EXISTS check_ledger_postings_balanced()")
