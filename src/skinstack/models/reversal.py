"""Reversals: commission taken back, each caused by one reported event (a refund, a
cancellation, a network reversal) or one decision (a rejection, a re-attribution)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, UUIDPrimaryKey, one_of


class ReversalKind(enum.StrEnum):
    """The order's adjustments (conversion_adjustments.kind) and the decisions made here."""
    refund = "refund"
    cancellation = "cancellation"
    reversal = "reversal"
    adjustment = "adjustment"
    """A network's lower amount."""
    rejection = "rejection"
    reattribution = "reattribution"


class TakenFrom(enum.StrEnum):
    """The influencer's balance a reversal came out of."""
    pending = "pending"
    available = "available"
    paid = "paid"
    """Available after payout: a clawback that the next payout nets off."""


class Reversal(UUIDPrimaryKey, Base):
    __tablename__ = "reversals"
    __table_args__ = (
        UniqueConstraint("commission_id", "source", "external_id"),
        CheckConstraint(one_of("kind", ReversalKind), name="kind"),
        CheckConstraint(
            "gross_amount >= 0 AND platform_fee >= 0 AND platform_fee <= gross_amount"
            " AND net_amount = gross_amount - platform_fee", name="amounts"),
        CheckConstraint("fraction > 0 AND fraction <= 1", name="fraction"),
        CheckConstraint(one_of("taken_from", TakenFrom), name="taken_from"),
    )

    commission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("commissions.id"))
    adjustment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversion_adjustments.id"))
    source: Mapped[str] = mapped_column(String(20))
    """The adjustment's source, or "skinstack" for a decision made here."""
    external_id: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    gross_amount: Mapped[int] = mapped_column(BigInteger)
    platform_fee: Mapped[int] = mapped_column(BigInteger)
    net_amount: Mapped[int] = mapped_column(BigInteger)
    fraction: Mapped[Decimal] = mapped_column(Numeric(12, 10))
    """The share of the order taken back by all reversals up to and including this one."""
    taken_from: Mapped[str] = mapped_column(String(10))
    """The influencer's balance it came out of: pending, available, or available after payout
    ("paid": a clawback that the next payout nets off)."""
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
