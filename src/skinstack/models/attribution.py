"""Credits of a conversion: to a click, a coupon or an influencer the source named, with the
model, match type, confidence and reason that explain them. Re-attribution never edits a
credit: it marks the current ones superseded and writes the new ones beside them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, UUIDPrimaryKey

MATCH_TYPES = ("sub_id", "coupon", "network", "device", "path")


class Attribution(UUIDPrimaryKey, Base):
    __tablename__ = "attributions"
    __table_args__ = (
        CheckConstraint("weight > 0 AND weight <= 1", name="weight"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence"),
        CheckConstraint(
            "model IN ('last_click', 'first_click', 'linear', 'time_decay', 'position_based',"
            " 'data_driven')", name="model"),
        CheckConstraint("match_type IN ('sub_id', 'coupon', 'network', 'device', 'path')",
                        name="match_type"),
        CheckConstraint("(click_id IS NULL) = (clicked_at IS NULL)", name="click_time"),
        Index("uq_attributions_current", "conversion_id", "click_id", "coupon_code",
              "influencer_id", unique=True, postgresql_where=text("superseded_at IS NULL"),
              postgresql_nulls_not_distinct=True),
    )

    conversion_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversions.id", ondelete="CASCADE"), index=True)
    # No foreign keys but the conversion: the ids below are copied from the click (which has
    # none, being written by COPY at thousands a second) or the coupon, and batch writes of
    # credits would cost about a third more with each checked.
    influencer_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), index=True)
    program_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    """The program whose terms the credit earns under: the click's link's, or the coupon's."""
    click_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    clicked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """With `click_id`, the click's key in the partitioned clicks table."""
    link_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    coupon_code: Mapped[str | None] = mapped_column(String(100))
    weight: Mapped[Decimal] = mapped_column(Numeric(7, 6))
    """Share of the conversion; a conversion's current weights sum to exactly 1."""
    model: Mapped[str] = mapped_column(String(20))
    match_type: Mapped[str] = mapped_column(String(10))
    confidence: Mapped[Decimal] = mapped_column(Numeric(3, 2))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when a re-attribution replaced this credit; NULL for the current ones."""
