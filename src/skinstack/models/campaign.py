"""Campaigns: time-boxed commission boosts on a program, optionally with a budget."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Numeric, String, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey


class Campaign(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("commission_boost_percent > 0", name="boost_positive"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="date_range"),
        CheckConstraint("budget IS NULL OR budget >= 0", name="budget_not_negative"),
        CheckConstraint("spent >= 0 AND (budget IS NULL OR spent <= budget)", name="spent"),
    )

    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    commission_boost_percent: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    """Gross commission grows by this percent while the campaign runs ("25": times 1.25)."""
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    """Last day included; open-ended when null."""
    budget: Mapped[int | None] = mapped_column(BigInteger)
    """Most the boosts may add in total, minor units of the program's currency; no cap if null."""
    spent: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """Boost paid out so far, minor units; grows atomically as commissions accrue."""
    eligible_product_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(PG_UUID(as_uuid=True)), default=list, server_default="{}")
    """Empty: every product of the program's merchant."""
    eligible_influencer_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(PG_UUID(as_uuid=True)), default=list, server_default="{}")
    """Empty: every influencer."""
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
