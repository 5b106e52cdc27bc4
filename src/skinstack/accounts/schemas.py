"""Request and response bodies of the accounts API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from skinstack.kit.schemas import Input, Output
from skinstack.kit.urls import normalise_host, validate_web_url
from skinstack.models import IntegrationType

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # bounds the hashing work one request can ask for


def normalise_email(value: str) -> str:
    """Validated and normalised: IDNA domain, whole address in lower case."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return checked.normalized.lower()


Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320),
                  AfterValidator(normalise_email)]
Password = Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)]
Handle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                          pattern=r"^@?[A-Za-z0-9._-]+$")]


class RegisterIn(Input):
    email: Email
    password: Password
    role: Literal["influencer", "merchant"] = Field(
        description="Admins are never self-registered: they are made with `skinstack admin create`."
    )


class UserOut(Output):
    id: uuid.UUID
    email: str
    role: str


class TokenOut(Output):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class InfluencerIn(Input):
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    instagram_handle: Handle | None = None
    tiktok_handle: Handle | None = None
    youtube_handle: Handle | None = None
    total_followers: int = Field(default=0, ge=0, le=10_000_000_000)
    preferred_payout_method: Literal["stripe", "paypal", "ach"]
    stripe_account_id: Annotated[
        str, StringConstraints(pattern=r"^acct_[A-Za-z0-9]{1,250}$")] | None = None
    paypal_email: Email | None = None

    @model_validator(mode="after")
    def _payout_details(self) -> InfluencerIn:
        if self.preferred_payout_method == "paypal" and not self.paypal_email:
            raise ValueError("paypal_email is required when preferred_payout_method is paypal")
        if self.preferred_payout_method == "stripe" and not self.stripe_account_id:
            raise ValueError(
                "stripe_account_id is required when preferred_payout_method is stripe")
        return self


class InfluencerOut(Output):
    id: uuid.UUID
    display_name: str
    instagram_handle: str | None
    tiktok_handle: str | None
    youtube_handle: str | None
    total_followers: int
    preferred_payout_method: str
    stripe_account_id: str | None
    paypal_email: str | None
    created_at: datetime
    updated_at: datetime


class MerchantIn(Input):
    business_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    website_url: Annotated[str, StringConstraints(max_length=2000),
                           AfterValidator(validate_web_url)]
    allowed_domains: list[Annotated[str, AfterValidator(normalise_host)]] = Field(
        default_factory=list, max_length=50)

    @field_validator("allowed_domains")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class MerchantOut(Output):
    id: uuid.UUID
    business_name: str
    website_url: str
    allowed_domains: list[str]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class MeOut(Output):
    id: uuid.UUID
    email: str
    role: str
    is_active: bool
    created_at: datetime
    influencer: InfluencerOut | None = None
    merchant: MerchantOut | None = None


SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def normalise_shop_domain(value: str) -> str:
    """Shopify's permanent shop host (what X-Shopify-Shop-Domain carries), lower case."""
    host = value.strip().lower()
    if not SHOP_DOMAIN.match(host):
        raise ValueError("must be the store's your-store.myshopify.com domain")
    return host


class IntegrationIn(Input):
    type: IntegrationType
    shop_domain: Annotated[str, StringConstraints(max_length=253),
                           AfterValidator(normalise_shop_domain)] | None = None
    account_id: Annotated[str, StringConstraints(min_length=1, max_length=255,
                                                 pattern=r"^[A-Za-z0-9._:@-]+$")] | None = None
    secret: Annotated[str, StringConstraints(min_length=8, max_length=1024)] = Field(
        description="Signing secret or API token; stored encrypted, never returned.")

    @model_validator(mode="after")
    def _identifiers(self) -> IntegrationIn:
        if self.type == IntegrationType.shopify and not self.shop_domain:
            raise ValueError("shop_domain (your-store.myshopify.com) is required for shopify")
        if self.type != IntegrationType.shopify and self.shop_domain:
            raise ValueError("shop_domain applies to shopify integrations only")
        if self.type != IntegrationType.shopify and not self.account_id:
            raise ValueError(f"account_id is required for {self.type}")
        if not self.secret.strip():
            raise ValueError("secret must not be blank")
        return self


class IntegrationOut(Output):
    id: uuid.UUID
    type: str
    shop_domain: str | None
    account_id: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class UserAdminPatch(Input):
    is_active: bool


class UserAdminOut(Output):
    id: uuid.UUID
    email: str
    role: str
    is_active: bool
    created_at: datetime
