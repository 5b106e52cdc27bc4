"""Clicks on tracking links: append-only, partitioned by month, written in batches by COPY."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base


class Click(Base):
    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_link_id_clicked_at", "link_id", "clicked_at"),
        Index("ix_clicks_device_id_clicked_at", "device_id", "clicked_at"),
        {"postgresql_partition_by": "RANGE (clicked_at)"},
    )

    # No foreign keys: the table takes thousands of rows a second through COPY, and every id in
    # a row comes from a link that existed when it was clicked.
    id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True), primary_key=True)
    """UUIDv7 made in the process; its short form went out in the sub-id parameter."""
    clicked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    link_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    influencer_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    program_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    merchant_id: Mapped[uuid.UUID] = mapped_column(PG_UUID(as_uuid=True))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(PG_UUID(as_uuid=True))
    device_id: Mapped[str | None] = mapped_column(String(64))
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    """HMAC-SHA256 of the client IP under HASH_KEY; never the IP."""
    user_agent: Mapped[str | None] = mapped_column(String(512))
    platform: Mapped[str | None] = mapped_column(String(20))
    os: Mapped[str | None] = mapped_column(String(50))
    browser: Mapped[str | None] = mapped_column(String(50))
    referrer: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    gclid: Mapped[str | None] = mapped_column(String(255))
    fbclid: Mapped[str | None] = mapped_column(String(255))
    ttclid: Mapped[str | None] = mapped_column(String(255))
    utm: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    fraud_score: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    """0 (clean) to 100 (certainly not a person)."""
    fraud_flags: Mapped[list[str]] = mapped_column(ARRAY(String(30)), default=list,
                                                   server_default="{}")
    counted: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    """False when flagged: kept out of click figures, kept for the record. Whether the click
    may get attribution follows from its flags, not from this (fraud.clicks.creditable): a
    repeat or velocity click is not counted but stays creditable."""
