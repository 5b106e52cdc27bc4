"""Commissions, reversals and statements as the API shows them: money as decimal strings in
the commission's currency."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from skinstack.kit.schemas import Input, Output


class ReversalOut(Output):
    id: uuid.UUID
    kind: str
    """refund, cancellation, reversal, adjustment (a network's lower amount), rejection or
    reattribution."""
    source: str
    gross_amount: str
    platform_fee: str
    net_amount: str
    fraction: str
    """The share of the order taken back by this and the earlier reversals."""
    taken_from: str
    """pending, available, or paid (a clawback after payout, netted off the next payout)."""
    reason: str
    created_at: datetime


class CommissionOut(Output):
    id: uuid.UUID
    conversion_id: uuid.UUID
    order_id: str
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    merchant_id: uuid.UUID
    campaign_id: uuid.UUID | None
    currency: str
    weight: str
    commissionable_amount: str
    gross_amount: str
    boost_amount: str
    platform_fee: str
    net_amount: str
    reversed_amount: str
    """Gross taken back so far."""
    reversed_fee: str
    reversed_net: str
    status: str
    """pending, on_hold (a person decides; see hold_reasons), approved, paid or reversed."""
    hold_reasons: list[str]
    rejection_reason: str | None
    calculation_details: dict[str, Any]
    occurred_at: datetime
    created_at: datetime
    approved_at: datetime | None
    paid_at: datetime | None
    reversed_at: datetime | None
    reversals: list[ReversalOut] | None = None
    """Only when one commission is read."""


class RejectIn(Input):
    reason: str = Field(min_length=1, max_length=1000)


class StatementTotals(Output):
    currency: str
    commissions: str
    """Gross commissions accrued in the month (recalculations included)."""
    influencer_earnings: str
    platform_fees: str
    reversals: str
    """Gross commission taken back in the month."""
    reversed_influencer_earnings: str
    reversed_platform_fees: str
    amount_owed: str
    """commissions - reversals: what the month adds to the merchant's bill."""
    balance_owed: str
    """Everything owed up to the end of the month (the merchant's payable account)."""
    postings: int


class StatementOut(Output):
    merchant_id: uuid.UUID
    month: str
    period_start: datetime
    period_end: datetime
    """Exclusive. Postings count in the month they were booked (UTC)."""
    totals: list[StatementTotals]
    """One per currency."""
