"""Creators' profiles: who promotes, and how they are paid."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import SENSITIVE, Base, Timestamps, UUIDPrimaryKey


class Influencer(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "influencers"
    __table_args__ = (
        CheckConstraint(
            "preferred_payout_method IN ('stripe', 'paypal', 'ach')", name="payout_method"
        ),
        CheckConstraint("total_followers >= 0", name="followers_not_negative"),
        CheckConstraint("ach_account_type IN ('checking', 'savings')", name="ach_account_type"),
        CheckConstraint("ach_routing_number ~ '^[0-9]{9}$'", name="ach_routing_number"),
        CheckConstraint("tax_form IN ('w9', 'w8ben')", name="tax_form"),
        CheckConstraint("tax_country ~ '^[A-Z]{2}$'", name="tax_country"),
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
    stripe_account_id: Mapped[str | None] = mapped_column(String(255), info=SENSITIVE)
    paypal_email_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, info=SENSITIVE)
    """The PayPal receiver address, Fernet-encrypted: payouts need it in clear, logs never."""
    # US bank account for ACH (issue 17): the account number encrypted, its last four shown.
    ach_routing_number: Mapped[str | None] = mapped_column(String(9), info=SENSITIVE)
    """ABA routing number, its check digit verified on the way in."""
    ach_account_number_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary,
                                                                       info=SENSITIVE)
    ach_account_last4: Mapped[str | None] = mapped_column(String(4), info=SENSITIVE)
    ach_account_type: Mapped[str | None] = mapped_column(String(8))
    """checking or savings."""
    ach_holder_name: Mapped[str | None] = mapped_column(String(200), info=SENSITIVE)
    # Tax information (W-9 for US persons, W-8BEN otherwise); the TIN encrypted, last four shown.
    tax_country: Mapped[str | None] = mapped_column(String(2))
    tax_form: Mapped[str | None] = mapped_column(String(6))
    tax_legal_name: Mapped[str | None] = mapped_column(String(200), info=SENSITIVE)
    tax_tin_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, info=SENSITIVE)
    tax_tin_last4: Mapped[str | None] = mapped_column(String(4), info=SENSITIVE)
    tax_received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payout_destination_changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True))
    """When a destination already set was replaced: payouts wait for the cooldown after it
    (PAYOUT_DESTINATION_COOLDOWN_HOURS). The first destination set leaves it NULL."""
