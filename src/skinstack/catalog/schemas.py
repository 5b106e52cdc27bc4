"""Request and response bodies of the catalog API. Money travels as decimal strings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from skinstack.kit.money import Currency, DecimalAmount, Percent
from skinstack.kit.schemas import Input, Output
from skinstack.kit.urls import validate_web_url

NetworkCode = Literal["shopify_refersion", "impact", "amazon", "levanta", "shareasale", "cj",
                      "awin", "rakuten"]
CommissionType = Literal["percentage", "fixed"]
AttributionModel = Literal["last_click", "first_click", "linear", "time_decay", "position_based",
                           "data_driven"]
Category = Literal["cleanser", "serum", "moisturizer", "sunscreen", "mask", "toner", "eye_cream",
                   "treatment", "set"]

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
WebUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(validate_web_url)]
Days = Annotated[int, Field(ge=1, le=365)]


def _unique(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not contain duplicates")
    return values


class NetworkOut(Output):
    code: str
    name: str
    default_cookie_window_days: int
    sub_id_parameter: str
    supports_sub_ids: bool


# Programs ------------------------------------------------------------------------------------

class TierIn(Input):
    min_monthly_sales: DecimalAmount = Field(description="In the program's currency.")
    commission_percent: Percent


class TierOut(Output):
    min_monthly_sales: str
    commission_percent: str


HalfLife = Annotated[int, Field(ge=1, le=8760)]


class ProgramIn(Input):
    name: Name
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    network: NetworkCode
    commission_type: CommissionType
    commission_percent: Percent | None = None
    fixed_amount: DecimalAmount | None = Field(default=None, description="Per order.")
    currency: Currency = "USD"
    cookie_window_days: Days | None = Field(
        default=None, description="Default: the network's (30 for shopify_refersion).")
    platform_fee_percent: Percent = Decimal(20)
    tiers: list[TierIn] = Field(default_factory=list, max_length=50)
    excluded_skus: Annotated[list[Sku], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=5000)
    attribution_model: AttributionModel = "last_click"
    attribution_half_life_hours: HalfLife = Field(
        default=168, description="time_decay: a click this much older earns half the credit.")
    coupon_beats_click: bool = Field(
        default=False, description="An influencer's coupon on the order wins over a click.")
    approval_delay_days: Annotated[int, Field(ge=0, le=365)] = 30
    manual_approval_threshold: DecimalAmount | None = Field(
        default=None, description="A commission above this waits on hold for a person.")


class ProgramPatch(Input):
    """Any of the program's terms; the network and currency are fixed once created."""

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    commission_type: CommissionType | None = None
    commission_percent: Percent | None = None
    fixed_amount: DecimalAmount | None = None
    cookie_window_days: Days | None = None
    platform_fee_percent: Percent | None = None
    tiers: list[TierIn] | None = Field(default=None, max_length=50)
    excluded_skus: Annotated[list[Sku], AfterValidator(_unique)] | None = Field(
        default=None, max_length=5000)
    attribution_model: AttributionModel | None = None
    attribution_half_life_hours: HalfLife | None = None
    coupon_beats_click: bool | None = None
    approval_delay_days: Annotated[int, Field(ge=0, le=365)] | None = None
    manual_approval_threshold: DecimalAmount | None = None
    is_active: bool | None = None


class ProgramOut(Output):
    id: uuid.UUID
    merchant_id: uuid.UUID
    merchant_name: str
    name: str
    description: str | None
    network: str
    network_name: str
    commission_type: str
    commission_percent: str | None
    fixed_amount: str | None
    currency: str
    cookie_window_days: int
    platform_fee_percent: str
    tiers: list[TierOut]
    excluded_skus: list[str]
    attribution_model: str
    attribution_half_life_hours: int
    coupon_beats_click: bool
    approval_delay_days: int
    manual_approval_threshold: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


# Products ------------------------------------------------------------------------------------

class ProductFields(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    price: DecimalAmount
    currency: Currency = "USD"
    product_url: WebUrl
    program_id: uuid.UUID | None = None
    category: Category | None = None
    description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    image_url: WebUrl | None = None
    in_stock: bool = True

    @field_validator("price")
    @classmethod
    def _not_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("must not be negative")
        return value


class ProductIn(ProductFields):
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]


class ProductPatch(Input):
    name: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    price: DecimalAmount | None = None
    currency: Currency | None = None
    product_url: WebUrl | None = None
    program_id: uuid.UUID | None = None
    category: Category | None = None
    description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    image_url: WebUrl | None = None
    in_stock: bool | None = None


class ProductOut(Output):
    id: uuid.UUID
    merchant_id: uuid.UUID
    program_id: uuid.UUID | None
    external_id: str
    name: str
    description: str | None
    price: str
    currency: str
    product_url: str
    image_url: str | None
    category: str | None
    in_stock: bool
    created_at: datetime
    updated_at: datetime


class ImportRowError(Output):
    row: int
    error: str


class ImportReport(Output):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[ImportRowError] = Field(default_factory=list)


# Campaigns -----------------------------------------------------------------------------------

IdList = Annotated[list[uuid.UUID], AfterValidator(_unique)]


class CampaignIn(Input):
    name: Name
    program_id: uuid.UUID
    commission_boost_percent: Percent
    start_date: date
    end_date: date | None = None
    budget: DecimalAmount | None = Field(default=None, description="In the program's currency.")
    eligible_product_ids: IdList = Field(default_factory=list, max_length=10000)
    eligible_influencer_ids: IdList = Field(default_factory=list, max_length=10000)


class CampaignPatch(Input):
    name: Name | None = None
    commission_boost_percent: Percent | None = None
    start_date: date | None = None
    end_date: date | None = None
    budget: DecimalAmount | None = None
    eligible_product_ids: IdList | None = Field(default=None, max_length=10000)
    eligible_influencer_ids: IdList | None = Field(default=None, max_length=10000)
    is_active: bool | None = None


class CampaignOut(Output):
    id: uuid.UUID
    merchant_id: uuid.UUID
    program_id: uuid.UUID
    name: str
    commission_boost_percent: str
    start_date: date
    end_date: date | None
    budget: str | None
    spent: str
    currency: str
    eligible_product_ids: list[uuid.UUID]
    eligible_influencer_ids: list[uuid.UUID]
    is_active: bool
    created_at: datetime
    updated_at: datetime
