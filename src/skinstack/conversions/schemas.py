"""Conversions as the API shows them: money as decimal strings in the order's currency."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from skinstack.kit.schemas import Output


class AdjustmentOut(Output):
    kind: str
    amount: str | None
    """None when the whole order was taken back."""
    occurred_at: datetime


class AttributionOut(Output):
    """One credit: weights of a conversion's credits sum to exactly 1."""

    influencer_id: uuid.UUID
    program_id: uuid.UUID
    click_id: str | None
    coupon_code: str | None
    weight: str
    model: str
    match_type: str
    """sub_id, coupon, network (the source named the influencer), device or path."""
    confidence: str
    reason: str


class ConversionOut(Output):
    id: uuid.UUID
    merchant_id: uuid.UUID
    program_id: uuid.UUID | None
    source: str
    order_id: str
    order_name: str | None
    occurred_at: datetime
    currency: str
    subtotal: str
    discounts: str
    tax: str
    shipping: str
    total: str
    status: str
    financial_status: str | None
    is_test: bool
    discount_codes: list[str]
    click_id: str | None
    """The click id as it travelled in the URL (22 characters), when the order carried one."""
    line_items: list[dict[str, Any]]
    adjustments: list[AdjustmentOut]
    attributions: list[AttributionOut]
    """The current credits; empty until attributed, or when nothing matched."""
    attributed_at: datetime | None
    attribution_note: str | None
    """What attribution decided and why (also why nothing matched)."""
    created_at: datetime
    updated_at: datetime
