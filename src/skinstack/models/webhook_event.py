"""The webhook inbox: every accepted delivery, stored raw before anything acts on it."""

from __future__ import annotations

import enum
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

from skinstack.models.base import Base, UUIDPrimaryKey, one_of


class WebhookSource(enum.StrEnum):
    """Who sent an event: a store or network by its webhooks, a postback, an uploaded report."""
    shopify = "shopify"
    impact = "impact"
    refersion = "refersion"
    postback = "postback"
    amazon = "amazon"
    stripe = "stripe"
    """Stripe's events about our payouts' transfers (no merchant)."""
    paypal = "paypal"
    """PayPal's events about our payouts (no merchant)."""


PAYOUT_SOURCES = (WebhookSource.stripe, WebhookSource.paypal)
"""Sources whose events concern payouts, not a merchant's orders."""
ORDER_SOURCES = tuple(source for source in WebhookSource if source not in PAYOUT_SOURCES)
"""Sources that report orders: a conversion's source is one of them."""


class EventStatus(enum.StrEnum):
    """Where an inbox event stands."""
    pending = "pending"
    """Queued, or being retried (`last_error` says why)."""
    handled = "handled"
    failed = "failed"
    """The payload can never be processed as it is; not retried (an admin may replay it)."""
    dead = "dead"
    """Every attempt failed; not retried (an admin may replay it)."""


class WebhookEvent(UUIDPrimaryKey, Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        # The delivery's identity at its source: a repeat is a no-op (INSERT … ON CONFLICT).
        UniqueConstraint("source", "external_id"),
        CheckConstraint(one_of("source", WebhookSource), name="source"),
        CheckConstraint(one_of("status", EventStatus), name="status"),
        CheckConstraint("merchant_id IS NOT NULL OR source IN ('stripe', 'paypal')",
                        name="merchant"),
        Index("ix_webhook_events_status_received_at", "status", "received_at", "id"),
        Index("ix_webhook_events_received_at", "received_at", "id"),
    )

    source: Mapped[str] = mapped_column(String(20))
    """A WebhookSource."""
    external_id: Mapped[str] = mapped_column(String(300))
    """Shopify's event id, Impact's account:action:state:amount, … (see webhooks.intake)."""
    merchant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    """NULL only for the payout providers' events (PAYOUT_SOURCES)."""
    integration_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("merchant_integrations.id", ondelete="SET NULL"), index=True)
    topic: Mapped[str] = mapped_column(String(100))
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """The request's headers without credentials (signatures, Authorization, cookies)."""
    body: Mapped[bytes] = mapped_column(LargeBinary)
    """The raw body exactly as signed."""
    status: Mapped[str] = mapped_column(String(10), default=EventStatus.pending,
                                        server_default=EventStatus.pending.value)
    """An EventStatus."""
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    handled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
