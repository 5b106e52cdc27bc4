"""Amazon Associates tracking ids a merchant has given to influencers: how report rows, which
name only a tracking id, find their influencer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, UUIDPrimaryKey


class AmazonTrackingId(UUIDPrimaryKey, Base):
    __tablename__ = "amazon_tracking_ids"
    __table_args__ = (
        Index("uq_amazon_tracking_ids_merchant_id_tracking_id", "merchant_id",
              text("lower(tracking_id)"), unique=True),
    )

    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    tracking_id: Mapped[str] = mapped_column(String(128))
    influencer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("influencers.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
