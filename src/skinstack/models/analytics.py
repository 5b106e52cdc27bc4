"""Analytics rollups: what the worker keeps summed from clicks, orders, commissions and
reversals, per quarter hour (UTC), so every report reads small tables.

Buckets are quarter hours (`date_bin('15 minutes', …)` on UTC), not hours: every time zone in
use today is offset from UTC by a multiple of 15 minutes (India +5:30, Nepal +5:45, Chatham
+12:45), so a day, a week or a month in any of them is a whole number of buckets and every
figure stays exact. Rows are derived data: `skinstack analytics rebuild` recomputes them from
the base tables, and equals what the worker maintained incrementally.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, SmallInteger, String
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base


class AnalyticsClickBucket(Base):
    """Clicks on a link in a quarter hour: counted ones and flagged ones (`clicks.counted`)."""

    __tablename__ = "analytics_click_buckets"
    __table_args__ = (
        Index("ix_analytics_click_buckets_influencer", "influencer_id", "bucket"),
        Index("ix_analytics_click_buckets_merchant", "merchant_id", "bucket"),
        Index("ix_analytics_click_buckets_bucket", "bucket"),
    )

    link_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    """The quarter hour's start (UTC)."""
    influencer_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    program_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    merchant_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    counted: Mapped[int] = mapped_column(Integer)
    flagged: Mapped[int] = mapped_column(Integer)


class AnalyticsClickDevice(Base):
    """The devices (first-party device cookie) with a counted click on a link in a quarter
    hour: a range's unique clicks are `count(DISTINCT device_id)` over its buckets, exact
    whatever the range (never a sum of smaller uniques)."""

    __tablename__ = "analytics_click_devices"
    __table_args__ = (
        Index("ix_analytics_click_devices_influencer", "influencer_id", "bucket", "device_id"),
        Index("ix_analytics_click_devices_merchant", "merchant_id", "bucket", "device_id"),
        Index("ix_analytics_click_devices_bucket", "bucket"),
    )

    link_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    influencer_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    program_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    merchant_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))


class AnalyticsMoneyBucket(Base):
    """Orders and commissions of an influencer in a program and currency, per quarter hour.

    Two kinds of column. "Order side" ones sit in the bucket of the order's time and hold the
    order as it stands now (`conversions`, `revenue`, `order_revenue_refunded`, `earnings` and
    the earnings left in each status): the stats of a range read them. "Event side" ones sit
    in the bucket of the refund or reversal (`revenue_refunded`, `earnings_reversed`): a time
    series subtracts them where they happened. Amounts are minor units of `currency`.
    """

    __tablename__ = "analytics_money_buckets"
    __table_args__ = (
        Index("ix_analytics_money_buckets_merchant", "merchant_id", "bucket"),
        Index("ix_analytics_money_buckets_bucket", "bucket"),
    )

    influencer_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    program_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    conversions: Mapped[int] = mapped_column(Integer)
    """Orders placed with a current credit of the influencer (one each, whatever the weight)."""
    revenue: Mapped[int] = mapped_column(BigInteger)
    """Σ round_half_up(subtotal x the influencer's current weight) of those orders."""
    order_revenue_refunded: Mapped[int] = mapped_column(BigInteger)
    """What their refunds took back so far, the same way: round(refunded x weight)."""
    revenue_refunded: Mapped[int] = mapped_column(BigInteger)
    """Event side: revenue taken back by refunds reported in this bucket."""
    earnings: Mapped[int] = mapped_column(BigInteger)
    """Σ net_amount of the commissions on orders placed in this bucket."""
    pending: Mapped[int] = mapped_column(BigInteger)
    on_hold: Mapped[int] = mapped_column(BigInteger)
    approved: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger)
    """net_amount - reversed_net of those commissions, by their status now."""
    reversed: Mapped[int] = mapped_column(BigInteger)
    """Σ reversed_net of those commissions (taken back whenever)."""
    earnings_reversed: Mapped[int] = mapped_column(BigInteger)
    """Event side: Σ net_amount of the reversals made in this bucket."""


class AnalyticsRefreshState(Base):
    """Where the incremental refresh stands (one row)."""

    __tablename__ = "analytics_refresh_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    money_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """Base rows stamped (created, updated, superseded) at or after this are read again."""
    clicks_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    """Clicks made at or after this, less the grace, are summed again."""
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
