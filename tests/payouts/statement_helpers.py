"""Payouts written straight into the tables (a batch, a payout, its items), for the statement
and tax report tests, which read payouts and do not make them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit import crypto
from skinstack.models import Payout, PayoutBatch, PayoutItem, PayoutMethod, PayoutStatus


@dataclass(frozen=True)
class Item:
    """A payout item: the posting it settles, its amount on the available balance."""
    posting_id: uuid.UUID
    amount: int
    commission_id: uuid.UUID | None = None
    reversal_id: uuid.UUID | None = None
    platform_fee: int = 0


async def insert_payout(session: AsyncSession, influencer_id: uuid.UUID | str, *,
                        gross: int, processing_fees: int = 0, platform_fees: int = 0,
                        currency: str = "USD", status: PayoutStatus = PayoutStatus.paid,
                        completed_at: datetime | None = None,
                        period: tuple[date, date] = (date(2026, 11, 1), date(2026, 11, 30)),
                        method: PayoutMethod = PayoutMethod.stripe,
                        items: Sequence[Item] = (), reference: str | None = "tr_test") -> Payout:
    """A batch of one payout with `items`, committed (the test transaction's savepoint), so
    the app's requests see it."""
    batch = PayoutBatch(id=uuid.uuid4(), period_start=period[0], period_end=period[1],
                        status="sent", payout_count=1)
    session.add(batch)
    await session.flush()
    payout = Payout(
        id=uuid.uuid4(), batch_id=batch.id, influencer_id=uuid.UUID(str(influencer_id)),
        period_start=period[0], period_end=period[1], currency=currency,
        commission_count=sum(1 for item in items if item.reversal_id is None),
        gross_amount=gross, platform_fees=platform_fees, processing_fees=processing_fees,
        net_amount=gross - processing_fees, payment_method=method,
        destination_encrypted=crypto.encrypt(json.dumps({"account": "acct_1TEST"})),
        destination_hint="acct_…TEST", payment_reference=reference, status=status,
        completed_at=completed_at)
    session.add(payout)
    await session.flush()
    if items:  # Core: the audit hook would give an ORM-made item a uuid for its bigint id
        await session.execute(insert(PayoutItem), [
            {"payout_id": payout.id, "posting_id": item.posting_id,
             "commission_id": item.commission_id, "reversal_id": item.reversal_id,
             "amount": item.amount, "platform_fee": item.platform_fee} for item in items])
    await session.commit()
    return payout
