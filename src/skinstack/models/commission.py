"""Commissions: what one influencer earns from one conversion, with every input of the sum.

Amounts are minor units of `currency` (the order's). `gross_amount` is what the merchant pays,
`platform_fee` our share of it and `net_amount` the influencer's; the `reversed_*` columns are
the parts taken back so far (refunds, cancellations, rejections). The ledger holds the same
movements as balanced postings; these columns are their running totals for reading.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey, one_of


class CommissionStatus(enum.StrEnum):
    pending = "pending"
    on_hold = "on_hold"
    """A person decides (see HoldReason)."""
    approved = "approved"
    paid = "paid"
    reversed = "reversed"


RECALCULABLE = frozenset({CommissionStatus.pending, CommissionStatus.on_hold})
"""The statuses in which a commission is recalculated when its basis changes."""


class HoldReason(enum.StrEnum):
    self_referral = "self_referral"
    coupon_without_click = "coupon_without_click"
    above_threshold = "above_threshold"
    currency_mismatch = "currency_mismatch"


class Commission(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "commissions"
    __table_args__ = (
        UniqueConstraint("conversion_id", "influencer_id"),
        CheckConstraint(one_of("status", CommissionStatus), name="status"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("weight > 0 AND weight <= 1", name="weight"),
        CheckConstraint(
            "commissionable_amount >= 0 AND boost_amount >= 0 AND platform_fee >= 0"
            " AND gross_amount >= boost_amount AND platform_fee <= gross_amount"
            " AND net_amount = gross_amount - platform_fee", name="amounts"),
        CheckConstraint(
            "reversed_amount >= 0 AND reversed_fee >= 0 AND reversed_amount <= gross_amount"
            " AND reversed_fee <= platform_fee AND reversed_net = reversed_amount - reversed_fee"
            " AND reversed_net <= net_amount", name="reversed"),
        CheckConstraint("revision >= 1", name="revision"),
        Index("ix_commissions_influencer_program_month", "influencer_id", "program_id",
              "occurred_at"),
        Index("ix_commissions_influencer_created", "influencer_id", "created_at", "id"),
        Index("ix_commissions_merchant_created", "merchant_id", "created_at", "id"),
        Index("ix_commissions_created", "created_at", "id"),
        Index("ix_commissions_pending", "created_at", postgresql_where=text(
            f"status = '{CommissionStatus.pending}'")),
    )

    conversion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversions.id"))
    influencer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("influencers.id"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"))
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id"))
    """The campaign whose boost is in `boost_amount`."""
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """The order's time (its calendar month decides tiers)."""
    weight: Mapped[Decimal] = mapped_column(Numeric(7, 6))
    """The influencer's share of the conversion: the sum of their current credits' weights."""
    commissionable_amount: Mapped[int] = mapped_column(BigInteger)
    """The order's commissionable amount times `weight`, to the minor unit (for tiers)."""
    gross_amount: Mapped[int] = mapped_column(BigInteger)
    boost_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    platform_fee: Mapped[int] = mapped_column(BigInteger)
    net_amount: Mapped[int] = mapped_column(BigInteger)
    reversed_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reversed_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reversed_net: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(10))
    hold_reasons: Mapped[list[str]] = mapped_column(ARRAY(String(40)), default=list,
                                                    server_default="{}")
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Counts the calculations of the accrual; part of each accrual posting's key."""
    calculation_details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    """The user who approved it; NULL when the approval delay did."""
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reversed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
