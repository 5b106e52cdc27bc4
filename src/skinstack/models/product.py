"""Products a merchant offers for promotion, searchable by full text."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import Base, Timestamps, UUIDPrimaryKey

CATEGORIES = ("cleanser", "serum", "moisturizer", "sunscreen", "mask", "toner", "eye_cream",
              "treatment", "set")

SEARCH_VECTOR = (
    "setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')"
)


class Product(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("merchant_id", "external_id"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint(
            "category IN ('cleanser', 'serum', 'moisturizer', 'sunscreen', 'mask', 'toner',"
            " 'eye_cream', 'treatment', 'set')",
            name="category",
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        Index("ix_products_search_vector", "search_vector", postgresql_using="gin"),
        Index("ix_products_category_price", "category", "price"),
        Index("ix_products_created_at_id", "created_at", "id"),
    )

    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE")
    )
    """Looked up through the unique (merchant_id, external_id) index, whose first column it is."""
    program_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("programs.id", ondelete="SET NULL"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(255))
    """The store's own id (Shopify product id, SKU, ASIN); unique per merchant."""
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[int] = mapped_column(BigInteger)
    """Price in minor units of `currency`."""
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    product_url: Mapped[str] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(20))
    in_stock: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    search_vector: Mapped[str] = mapped_column(TSVECTOR, Computed(SEARCH_VECTOR, persisted=True))
