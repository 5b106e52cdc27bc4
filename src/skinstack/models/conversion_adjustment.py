"""Refunds, cancellations and network reversals of an order, as reported (not yet money)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, UUIDPrimaryKey

ADJUSTMENT_KINDS = ("refund", "cancellation", "reversal", "adjustment")


class ConversionAdjustment(UUIDPrimaryKey, Base):
    __tablename__ = "conversion_adjustments"
    __table_args__ = (
        UniqueConstraint("merchant_id", "source", "external_id"),
        CheckConstraint("kind IN ('refund', 'cancellation', 'reversal', 'adjustment')",
                        name="kind"),
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
        # Refunds that came before their order wait here for it.
        Index("ix_conversion_adjustments_order", "merchant_id", "source", "order_id"),
    )

    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(300))
    order_id: Mapped[str] = mapped_column(String(255))
    conversion_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversions.id", ondelete="CASCADE"), index=True)
    """NULL until the order it concerns has arrived."""
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    """Goods amount taken back (minor units, before tax and shipping); NULL = all of it."""
    currency: Mapped[str | None] = mapped_column(String(3))
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    """[{line_id, sku, quantity, amount}] refunded, amounts in minor units."""
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
