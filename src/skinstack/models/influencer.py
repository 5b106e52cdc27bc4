"""Creators' profiles: who promotes, and how they are paid."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import SENSITIVE, Base, Timestamps, UUIDPrimaryKey


class Influencer(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "influencers"
    __table_args__ = (
        CheckConstraint(
            "preferred_payout_method IN ('stripe', 'paypal', 'ach')", name="payout_method"
        ),
        CheckConstraint("total_followers >= 0", name="followers_not_negative"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    display_name: Mapped[str] = mapped_column(String(100))
    instagram_handle: Mapped[str | None] = mapped_column(String(100))
    tiktok_handle: Mapped[str | None] = mapped_column(String(100))
    youtube_handle: Mapped[str | None] = mapped_column(String(100))
    total_followers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    preferred_payout_method: Mapped[str] = mapped_column(String(10))
    stripe_account_id: Mapped[str | None] = mapped_column(String(255))
    paypal_email_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, info=SENSITIVE)
    """The PayPal receiver address, Fernet-encrypted: payouts need it in clear, logs never."""
