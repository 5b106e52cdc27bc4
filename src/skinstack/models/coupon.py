"""Discount codes a merchant has given to influencers: an order that carries one is theirs when
no link click says otherwise (or before a click, when the program says so)."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, text, true
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey


class Coupon(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "coupons"
    __table_args__ = (
        Index("uq_coupons_merchant_id_code", "merchant_id", text("lower(code)"), unique=True),
    )

    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("programs.id", ondelete="CASCADE"), index=True)
    """The program whose terms an order with this code falls under."""
    influencer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    """As the store spells it; matched without regard to case."""
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
