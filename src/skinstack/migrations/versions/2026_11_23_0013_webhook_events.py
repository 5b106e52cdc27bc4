"""webhook_events (the inbox)

Revision ID: 2026_11_23_0013
Revises: 2026_11_23_0012
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from skinstack.migrations.helpers import uuid_primary_key

revision: str = "2026_11_23_0013"
down_revision: str | None = "2026_11_23_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        uuid_primary_key(),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=False),
        sa.Column("merchant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("integration_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("source IN ('shopify', 'impact', 'refersion', 'postback', 'amazon')",
                           name=op.f("ck_webhook_events_source")),
        sa.CheckConstraint("status IN ('pending', 'handled', 'failed', 'dead')",
                           name=op.f("ck_webhook_events_status")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"],
                                name=op.f("fk_webhook_events_merchant_id_merchants"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["integration_id"], ["merchant_integrations.id"],
                                name=op.f("fk_webhook_events_integration_id_merchant_integrations"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("source", "external_id",
                            name=op.f("uq_webhook_events_source_external_id")),
    )
    op.create_index(op.f("ix_webhook_events_merchant_id"), "webhook_events", ["merchant_id"])
    op.create_index(op.f("ix_webhook_events_integration_id"), "webhook_events",
                    ["integration_id"])
    op.create_index("ix_webhook_events_status_received_at", "webhook_events",
                    ["status", "received_at", "id"])
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at", "id"])


def downgrade() -> None:
    op.drop_table("webhook_events")
