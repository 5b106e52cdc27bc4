"""Orders reported by stores and networks, normalised: one row per (merchant, source, order)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey, one_of
from skinstack.models.webhook_event import ORDER_SOURCES


class ConversionStatus(enum.StrEnum):
    """Where an order stands at its source."""
    open = "open"
    cancelled = "cancelled"
    """Cancelled or reversed in full; never reopened by a later report."""


class Conversion(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "conversions"
    __table_args__ = (
        UniqueConstraint("merchant_id", "source", "order_id"),
        CheckConstraint(one_of("source", ORDER_SOURCES), name="source"),
        CheckConstraint(one_of("status", ConversionStatus), name="status"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("subtotal >= 0 AND discounts >= 0 AND tax >= 0 AND shipping >= 0"
                        " AND total >= 0", name="amounts_not_negative"),
        Index("ix_conversions_merchant_id_occurred_at", "merchant_id", "occurred_at", "id"),
        Index("ix_conversions_occurred_at", "occurred_at", "id"),
        Index("ix_conversions_click_id", "click_id", postgresql_where="click_id IS NOT NULL"),
        Index("ix_conversions_unattributed", "created_at",
              postgresql_where="attributed_at IS NULL"),
    )

    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    program_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("programs.id", ondelete="SET NULL"), index=True)
    """From the clicked link, else the merchant's only active program on the source's network."""
    source: Mapped[str] = mapped_column(String(20))
    """A WebhookSource of ORDER_SOURCES."""
    order_id: Mapped[str] = mapped_column(String(255))
    order_name: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    currency: Mapped[str] = mapped_column(String(3))
    # Amounts in minor units of `currency`.
    subtotal: Mapped[int] = mapped_column(BigInteger)
    """Line items after their own discounts, before order-level discounts, tax and shipping."""
    discounts: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    shipping: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    """[{line_id, sku, quantity, unit_price, discount}] with amounts in minor units."""
    discount_codes: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    click_ref: Mapped[str | None] = mapped_column(String(100))
    """The sub id as it came back (aff_sub, SubId1, …), whatever it holds."""
    click_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    """`click_ref` when it is one of our click ids."""
    device_id: Mapped[str | None] = mapped_column(String(64))
    customer_hash: Mapped[str | None] = mapped_column(String(64))
    """Keyed hash of the customer's email (never the email)."""
    influencer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("influencers.id", ondelete="SET NULL"), index=True)
    """Named by the source itself (an Amazon tracking id); attribution decides credit."""
    status: Mapped[str] = mapped_column(String(10), default=ConversionStatus.open,
                                        server_default=ConversionStatus.open.value)
    """A ConversionStatus."""
    financial_status: Mapped[str | None] = mapped_column(String(30))
    is_test: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    last_event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("webhook_events.id", ondelete="SET NULL"))
    attributed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set by attribution; NULL means the conversion waits for it."""
    attribution_note: Mapped[str | None] = mapped_column(Text)
    """What attribution decided and why, in a sentence (also when nothing matched)."""
