"""Request and response bodies of the accounts API."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from skinstack.kit.schemas import Input, Output
from skinstack.kit.urls import normalise_host, validate_web_url
from skinstack.models import IntegrationType
from skinstack.payouts import details
from skinstack.payouts.aba import aba_valid

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


def check_routing_number(value: str) -> str:
    if not aba_valid(value):
        # The message never repeats the value (nor does the 422: inputs are left out).
        raise ValueError("must be a nine-digit ABA routing number with a valid check digit")
    return value


RoutingNumber = Annotated[str, StringConstraints(strip_whitespace=True, max_length=9),
                          AfterValidator(check_routing_number)]
AccountNumber = Annotated[str, StringConstraints(strip_whitespace=True,
                                                 pattern=r"^[0-9]{4,17}$")]
StripeAccount = Annotated[str, StringConstraints(pattern=r"^acct_[A-Za-z0-9]{1,250}$")]


class AchIn(Input):
    """A US bank account for ACH payouts. The account number is stored encrypted and never
    shown again: answers carry its last four digits only."""
    routing_number: RoutingNumber = Field(
        description="Nine digits; the ABA check digit (weights 3, 7, 1) is verified.")
    account_number: AccountNumber = Field(description="4 to 17 digits.")
    account_type: Literal["checking", "savings"]
    holder_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                  max_length=200)]


class AchOut(Output):
    routing_number: str
    account_last4: str
    account_type: str
    holder_name: str


class InfluencerIn(Input):
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    instagram_handle: Handle | None = None
    tiktok_handle: Handle | None = None
    youtube_handle: Handle | None = None
    total_followers: int = Field(default=0, ge=0, le=10_000_000_000)
    preferred_payout_method: Literal["stripe", "paypal", "ach"]
    stripe_account_id: StripeAccount | None = None
    paypal_email: Email | None = None
    ach: AchIn | None = Field(default=None, description=(
        "The bank account for ACH. Left out: the stored one is kept (its number is never shown,"
        " so it cannot be sent back); `null`: removed. `preferred_payout_method: ach` without"
        " a bank account is accepted, and payouts wait for one (`waiting_for: payout_method`)."))

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
    ach: AchOut | None
    created_at: datetime
    updated_at: datetime


class TaxIn(Input):
    """The tax form received from the influencer: a W-9 for the United States, a W-8BEN for
    anywhere else."""
    country: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True,
                                              pattern=r"^[A-Za-z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 country of tax residence (US: a W-9).")
    form: Literal["w9", "w8ben"]
    legal_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                                 max_length=200)]
    tin: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, validate_default=True, description=(
            "Required on a W-9: nine digits, an SSN (NNN-NN-NNNN) or EIN (NN-NNNNNNN). Optional"
            " on a W-8BEN (the foreign TIN). Stored encrypted; only its last four are shown."))

    @field_validator("form")
    @classmethod
    def _form_of_the_country(cls, form: str, info: ValidationInfo) -> str:
        country = info.data.get("country")
        if country and form != details.form_for(country):
            raise ValueError("a W-9 (w9) for the US, a W-8BEN (w8ben) for any other country")
        return form

    @field_validator("tin")
    @classmethod
    def _tin_of_the_form(cls, tin: str | None, info: ValidationInfo) -> str | None:
        form = info.data.get("form")
        if form == "w9":
            if tin is None or not tin.strip():
                raise ValueError("a W-9 needs the TIN (SSN or EIN)")
            return details.us_tin(tin)
        if tin is None or not tin.strip():
            return None
        return details.foreign_tin(tin)


class TaxOut(Output):
    country: str
    form: str
    legal_name: str
    tin_last4: str | None
    received_at: datetime


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
