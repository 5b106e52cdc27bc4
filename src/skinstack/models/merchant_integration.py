"""A merchant's connection to a store or network: how its webhooks are recognised and verified."""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, LargeBinary, String, text, true
from sqlalchemy.orm import Mapped, mapped_column

from skinstack.models.base import SENSITIVE, Base, Timestamps, UUIDPrimaryKey, one_of


class IntegrationType(enum.StrEnum):
    shopify = "shopify"
    impact = "impact"
    refersion = "refersion"
    amazon = "amazon"
    postback = "postback"


class MerchantIntegration(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "merchant_integrations"
    __table_args__ = (
        CheckConstraint(one_of("type", IntegrationType), name="type"),
        # One store or network account belongs to one merchant: webhooks are routed by it.
        Index(
            "uq_merchant_integrations_type_shop_domain",
            "type",
            "shop_domain",
            unique=True,
            postgresql_where=text("shop_domain IS NOT NULL"),
        ),
        Index(
            "uq_merchant_integrations_type_account_id",
            "type",
            "account_id",
            unique=True,
            postgresql_where=text("account_id IS NOT NULL"),
        ),
    )

    merchant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(20))
    shop_domain: Mapped[str | None] = mapped_column(String(253))
    """Shopify's X-Shopify-Shop-Domain (the *.myshopify.com host), lower case."""
    account_id: Mapped[str | None] = mapped_column(String(255))
    """Impact account SID, Refersion public key, Amazon associate tag, postback key id."""
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary, info=SENSITIVE)
    """The signing secret, MultiFernet-encrypted; never returned or logged."""
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
