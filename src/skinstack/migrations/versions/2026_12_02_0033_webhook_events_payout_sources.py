"""webhook_events: Stripe's and PayPal's payout events, which have no merchant

Revision ID: 2026_12_02_0033
Revises: 2026_12_02_0032
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_12_02_0033"
down_revision: str | None = "2026_12_02_0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALTERS = "webhook_events"
"""A revision that changes a table made by an earlier one names it (tests/test_migrations.py)."""

BEFORE = "source IN ('shopify', 'impact', 'refersion', 'postback', 'amazon')"
AFTER = "source IN ('shopify', 'impact', 'refersion', 'postback', 'amazon', 'stripe', 'paypal')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_webhook_events_source"), "webhook_events", type_="check")
    op.create_check_constraint(op.f("ck_webhook_events_source"), "webhook_events", AFTER)
    op.alter_column("webhook_events", "merchant_id", nullable=True)
    op.create_check_constraint(op.f("ck_webhook_events_merchant"), "webhook_events",
                               "merchant_id IS NOT NULL OR source IN ('stripe', 'paypal')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_webhook_events_merchant"), "webhook_events", type_="check")
    op.execute("DELETE FROM webhook_events WHERE merchant_id IS NULL")
    op.alter_column("webhook_events", "merchant_id", nullable=False)
    op.drop_constraint(op.f("ck_webhook_events_source"), "webhook_events", type_="check")
    op.create_check_constraint(op.f("ck_webhook_events_source"), "webhook_events", BEFORE)
