"""The queries of the payout documents: a payout as its statement needs it (read through
payouts.repository.readable: its influencer or an admin), its items with their orders and
reversals, and the yearly tax report's totals. Each returns small named rows. Never commits."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.models import (
    Commission,
    Conversion,
    Influencer,
    Payout,
    PayoutItem,
    PayoutStatus,
    Reversal,
)
from skinstack.payouts.repository import readable

if TYPE_CHECKING:
    from skinstack.accounts.reader import Reader


class PayoutRow(NamedTuple):
    """A payout with its influencer's names, as the statement shows it (amounts: minor
    units)."""
    id: uuid.UUID
    batch_id: uuid.UUID
    influencer_id: uuid.UUID
    display_name: str
    legal_name: str | None
    period_start: date
    period_end: date
    currency: str
    payment_method: str
    destination_hint: str
    status: str
    payment_reference: str | None
    created_at: datetime
    completed_at: datetime | None
    failed_reason: str | None
    commission_count: int
    gross_amount: int
    platform_fees: int
    processing_fees: int
    net_amount: int


async def readable_payout(session: AsyncSession, reader: Reader,
                          payout_id: uuid.UUID) -> PayoutRow | None:
    """The payout if the reader may see it, else None."""
    statement = readable(select(
        Payout.id, Payout.batch_id, Payout.influencer_id, Influencer.display_name,
        Influencer.tax_legal_name.label("legal_name"), Payout.period_start, Payout.period_end,
        Payout.currency, Payout.payment_method, Payout.destination_hint, Payout.status,
        Payout.payment_reference, Payout.created_at, Payout.completed_at,
        Payout.failed_reason, Payout.commission_count, Payout.gross_amount,
        Payout.platform_fees, Payout.processing_fees, Payout.net_amount,
    ).join(Influencer, Influencer.id == Payout.influencer_id), reader)
    row = (await session.execute(statement.where(Payout.id == payout_id))).first()
    return PayoutRow(*row) if row else None


class ItemRow(NamedTuple):
    """One payout item (an approval or a reversal posting it settled), with its order: the
    order id, time and line items of the commission's conversion, and the reversal's kind and
    time for a reversal."""
    id: int
    posting_id: uuid.UUID
    commission_id: uuid.UUID | None
    reversal_id: uuid.UUID | None
    amount: int
    platform_fee: int
    active: bool
    order_id: str | None
    order_at: datetime | None
    line_items: list[dict[str, Any]] | None
    reversal_kind: str | None
    reversal_at: datetime | None


async def items_of(session: AsyncSession, payout_id: uuid.UUID) -> list[ItemRow]:
    """Every item the payout was made with (released ones too), in the order they were
    written."""
    commission_id = func.coalesce(PayoutItem.commission_id, Reversal.commission_id)
    rows = await session.execute(
        select(PayoutItem.id, PayoutItem.posting_id, PayoutItem.commission_id,
               PayoutItem.reversal_id, PayoutItem.amount, PayoutItem.platform_fee,
               PayoutItem.active, Conversion.order_id, Conversion.occurred_at,
               Conversion.line_items, Reversal.kind, Reversal.created_at)
        .outerjoin(Reversal, Reversal.id == PayoutItem.reversal_id)
        .outerjoin(Commission, Commission.id == commission_id)
        .outerjoin(Conversion, Conversion.id == Commission.conversion_id)
        .where(PayoutItem.payout_id == payout_id)
        .order_by(PayoutItem.id))
    return [ItemRow(*row) for row in rows]


class TaxTotal(NamedTuple):
    """A US influencer's USD payouts paid in a year (minor units), with its tax details."""
    influencer_id: uuid.UUID
    display_name: str
    legal_name: str | None
    tax_form: str | None
    tax_received_at: datetime | None
    tin_last4: str | None
    tin_encrypted: bytes | None
    total_paid: int
    payout_count: int


async def us_paid_totals(session: AsyncSession, *, start: datetime, end: datetime,
                         at_least: int) -> list[TaxTotal]:
    """US influencers (tax country US) whose USD payouts paid in [start, end) (completed_at,
    status paid) add up to at least `at_least` minor units, by influencer id."""
    total = func.sum(Payout.gross_amount)
    rows = await session.execute(
        select(Influencer.id, Influencer.display_name, Influencer.tax_legal_name,
               Influencer.tax_form, Influencer.tax_received_at, Influencer.tax_tin_last4,
               Influencer.tax_tin_encrypted, total, func.count())
        .join(Payout, Payout.influencer_id == Influencer.id)
        .where(Influencer.tax_country == "US", Payout.currency == "USD",
               Payout.status == PayoutStatus.paid, Payout.completed_at >= start,
               Payout.completed_at < end)
        .group_by(Influencer.id)
        .having(total >= at_least)
        .order_by(Influencer.id))
    return [TaxTotal(row[0], row[1], row[2], row[3], row[4], row[5],
                     bytes(row[6]) if row[6] is not None else None, int(row[7]), row[8])
            for row in rows]
