"""Accounts: the people and systems that log in."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import SENSITIVE, Base, Timestamps, UUIDPrimaryKey, one_of


class Role(enum.StrEnum):
    influencer = "influencer"
    merchant = "merchant"
    admin = "admin"


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(one_of("role", Role), name="role"),
        CheckConstraint("email = lower(email)", name="email_normalised"),
    )

    email: Mapped[str] = mapped_column(String(320), unique=True)
    """Normalised (lower case, IDNA domain); the login name."""
    password_hash: Mapped[str] = mapped_column(Text, info=SENSITIVE)
    """argon2id PHC string."""
    role: Mapped[str] = mapped_column(String(20))
    """A Role."""
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
