"""A merchant's affiliate program: commission terms, cookie window, attribution settings."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey

ATTRIBUTION_MODELS = ("last_click", "first_click", "linear", "time_decay", "position_based",
                      "data_driven")


class Program(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint("commission_type IN ('percentage', 'fixed')", name="commission_type"),
        CheckConstraint(
            "(commission_type = 'percentage' AND commission_percent > 0"
            " AND commission_percent <= 100 AND fixed_amount IS NULL)"
            " OR (commission_type = 'fixed' AND fixed_amount > 0)",
            name="commission_terms",
        ),
        CheckConstraint("cookie_window_days BETWEEN 1 AND 365", name="cookie_window"),
        CheckConstraint("platform_fee_percent >= 0 AND platform_fee_percent <= 100",
                        name="platform_fee"),
        CheckConstraint("approval_delay_days BETWEEN 0 AND 365", name="approval_delay"),
        CheckConstraint(
            "attribution_model IN ('last_click', 'first_click', 'linear', 'time_decay',"
            " 'position_based', 'data_driven')",
            name="attribution_model",
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("attribution_half_life_hours BETWEEN 1 AND 8760",
                        name="attribution_half_life"),
        CheckConstraint("manual_approval_threshold IS NULL OR manual_approval_threshold > 0",
                        name="manual_approval_threshold"),
    )

    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    network_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("networks.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    commission_type: Mapped[str] = mapped_column(String(20))
    commission_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    """Percent of the commissionable amount ("15" = 15 %), for percentage programs."""
    fixed_amount: Mapped[int | None] = mapped_column(BigInteger)
    """Per-order commission in minor units of `currency`, for fixed programs."""
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    cookie_window_days: Mapped[int] = mapped_column(Integer)
    platform_fee_percent: Mapped[Decimal] = mapped_column(
        Numeric(7, 4), default=Decimal(20), server_default="20")
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    """[{"min_monthly_sales": minor units (int), "commission_percent": "decimal string"}],
    ascending by min_monthly_sales."""
    excluded_skus: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list,
                                                     server_default="{}")
    attribution_model: Mapped[str] = mapped_column(String(20), default="last_click",
                                                   server_default="last_click")
    attribution_half_life_hours: Mapped[int] = mapped_column(Integer, default=168,
                                                             server_default="168")
    """Time decay: a click this much older than another earns half its credit."""
    coupon_beats_click: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default=false())
    """True: an influencer's coupon on the order wins over a link click."""
    manual_approval_threshold: Mapped[int | None] = mapped_column(BigInteger)
    """A commission above this (minor units of `currency`) waits on hold for a person."""
    approval_delay_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
