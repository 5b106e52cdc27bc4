"""The analytics reports' answers: every amount a decimal string in `currency`, every rate a
percent as a decimal string with two places (`null` over zero clicks)."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, Field


class Range(BaseModel):
    from_date: date
    to_date: date
    """Inclusive, in `tz`."""
    tz: str
    currency: str
    """Amounts (and the orders behind them) are those in this currency."""


class TopProduct(BaseModel):
    product_id: uuid.UUID
    external_id: str
    name: str
    clicks: int = Field(description="Counted clicks on links to the product.")
    conversions: int = Field(description="Attributed orders with the product on a line.")
    units: int = Field(description="Units of it in those orders, less units refunded.")
    revenue: str = Field(description="Its lines' amounts after their own discounts, less "
                                     "amounts refunded on its lines.")
    earnings: str = Field(description="The influencers' net commission allocated to its "
                                      "lines (pro rata, largest remainder).")
    conversion_rate: str | None = Field(description="conversions ÷ clicks in percent; null "
                                                    "over zero clicks.")


class TopProducts(Range):
    sort: str
    items: list[TopProduct]


class TopLink(BaseModel):
    link_id: uuid.UUID
    slug: str
    program_id: uuid.UUID
    product_id: uuid.UUID | None
    clicks: int
    flagged_clicks: int
    unique_clicks: int
    conversions: int
    conversion_rate: str | None


class TopLinks(Range):
    sort: str
    items: list[TopLink]


class BreakdownItem(BaseModel):
    value: str | None = Field(description="The country code, device class or referrer host; "
                                          "null when unknown (a click without a referrer).")
    clicks: int
    flagged_clicks: int
    share: str | None = Field(description="This value's counted clicks ÷ all counted clicks "
                                          "listed, in percent.")


class Breakdown(Range):
    by: str
    items: list[BreakdownItem]


class MerchantInfluencer(BaseModel):
    influencer_id: uuid.UUID
    display_name: str | None
    clicks: int
    flagged_clicks: int
    conversions: int = Field(description="Orders with a current credit of the influencer.")
    revenue: str = Field(description="round(subtotal x its weight) less round(refunded x its "
                                     "weight), per order (as /stats).")
    commissions: str = Field(description="Gross commission less reversed (what the merchant "
                                         "owes), reversed commissions excluded.")
    conversion_rate: str | None


class MerchantInfluencers(Range):
    items: list[MerchantInfluencer]


class MerchantProgram(BaseModel):
    program_id: uuid.UUID
    name: str
    is_active: bool
    clicks: int
    flagged_clicks: int
    conversions: int
    revenue: str
    commissions: str
    conversion_rate: str | None


class MerchantPrograms(Range):
    items: list[MerchantProgram]


class MerchantCampaign(BaseModel):
    campaign_id: uuid.UUID
    name: str
    program_id: uuid.UUID
    currency: str
    start_date: date
    end_date: date | None
    is_active: bool
    budget: str | None = Field(description="null: no cap.")
    spent: str
    left: str | None = Field(description="budget - spent; null without a budget.")
    clicks: int
    commissions: int
    boost: str


class MerchantCampaigns(Range):
    items: list[MerchantCampaign]


class Owed(BaseModel):
    currency: str
    accrued: str = Field(description="Pending and on-hold commissions (gross less reversed).")
    approved: str
    in_payout: str = Field(description="In a payout not (yet) paid.")
    paid: str = Field(description="In a paid payout.")


class MerchantOwes(BaseModel):
    items: list[Owed]


class FlaggedRule(BaseModel):
    rule: str
    clicks: int
    rate: str | None = Field(description="Clicks flagged by the rule ÷ all clicks, percent.")


class HeldReason(BaseModel):
    reason: str
    commissions: int
    amount: str


class PayoutStatusFigure(BaseModel):
    status: str
    payouts: int
    amount: str


class InboxHealthOut(BaseModel):
    pending: int
    failed: int
    dead: int
    oldest_pending_age_seconds: int | None


class Platform(Range):
    gmv: str
    orders: int
    platform_fee_revenue: str
    payouts: list[PayoutStatusFigure]
    clicks: int
    flagged_clicks: int
    flagged_rate: str | None
    flagged_by_rule: list[FlaggedRule]
    commissions_on_hold: int
    on_hold_by_reason: list[HeldReason]
    webhook_inbox: InboxHealthOut
