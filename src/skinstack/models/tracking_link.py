"""Tracking links: an influencer's short link for a program (and maybe a product, a campaign)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, String, Text, func, true
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey


class TrackingLink(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "tracking_links"
    __table_args__ = (
        # Slugs are unique whatever their case: /l/Glow and /l/glow are one link.
        Index("uq_tracking_links_slug_lower", func.lower("slug"), unique=True),
        Index("ix_tracking_links_influencer_id_created_at", "influencer_id", "created_at"),
    )

    slug: Mapped[str] = mapped_column(String(50))
    influencer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"))
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id", ondelete="CASCADE"),
                                                  index=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    """The program's merchant, kept here so the redirect needs one row."""
    product_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    destination_url: Mapped[str] = mapped_column(Text)
    """Where the link goes, UTM parameters included; the click id is added per click."""
    sub_id_parameter: Mapped[str] = mapped_column(String(40))
    """The query parameter that carries the click id (the network's)."""
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
