"""The webhook inbox: every accepted delivery, stored raw before anything acts on it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, UUIDPrimaryKey

SOURCES = ("shopify", "impact", "refersion", "postback", "amazon")
EVENT_STATUSES = ("pending", "handled", "failed", "dead")


class WebhookEvent(UUIDPrimaryKey, Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        # The delivery's identity at its source: a repeat is a no-op (INSERT … ON CONFLICT).
        UniqueConstraint("source", "external_id"),
        CheckConstraint(
            "source IN ('shopify', 'impact', 'refersion', 'postback', 'amazon')", name="source"),
        CheckConstraint("status IN ('pending', 'handled', 'failed', 'dead')", name="status"),
        Index("ix_webhook_events_status_received_at", "status", "received_at", "id"),
        Index("ix_webhook_events_received_at", "received_at", "id"),
    )

    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(300))
    """Shopify's event id, Impact's account:action:state:amount, … (see webhooks.intake)."""
    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    integration_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("merchant_integrations.id", ondelete="SET NULL"), index=True)
    topic: Mapped[str] = mapped_column(String(100))
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """The request's headers without credentials (signatures, Authorization, cookies)."""
    body: Mapped[bytes] = mapped_column(LargeBinary)
    """The raw body exactly as signed."""
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
