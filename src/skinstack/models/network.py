"""Affiliate networks and stores a program can run on, seeded by migration."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey


class Network(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "networks"
    __table_args__ = (
        CheckConstraint("default_cookie_window_days BETWEEN 1 AND 365", name="cookie_window"),
    )

    code: Mapped[str] = mapped_column(String(40), unique=True)
    """Stable name used by the API: shopify_refersion, impact, amazon, …"""
    name: Mapped[str] = mapped_column(String(100))
    default_cookie_window_days: Mapped[int] = mapped_column(Integer)
    sub_id_parameter: Mapped[str] = mapped_column(String(40))
    """Query parameter that carries our click id to the network (aff_sub, subId1, ascsubtag…)."""
    supports_sub_ids: Mapped[bool] = mapped_column(Boolean)
    """Whether the network reports the sub id back with the conversion."""
