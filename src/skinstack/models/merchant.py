"""Brands' profiles: who pays commissions, and where their links may point."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, String, Text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey


class Merchant(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "merchants"

    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    business_name: Mapped[str] = mapped_column(String(200))
    website_url: Mapped[str] = mapped_column(Text)
    allowed_domains: Mapped[list[str]] = mapped_column(
        ARRAY(String(253)), default=list, server_default="{}"
    )
    """Hosts besides website_url's that links may point at (lower case, IDNA)."""
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
