"""Payouts' queries: what is unsettled on the influencers' available balances, batches made in
a few set-based statements, payouts claimed and moved under row locks. Never commits.

A payout settles ledger postings (`payout_items`): the approvals (+) and the reversals taken
from an available balance (-, clawbacks included) that no live payout settles yet. Their sum
per influencer and currency is the available balance made of postings booked before the
period's end, exactly (a payout's own postings move the balance and are never items).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Select, false, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, newest_first, paginate, where_equal
from skinstack.models import (
    BatchStatus,
    CommissionStatus,
    Payout,
    PayoutBatch,
    PayoutMethod,
    PayoutStatus,
    PostingKind,
    Role,
)

if TYPE_CHECKING:
    from skinstack.accounts.reader import Reader

BATCH_LOCK = 0x5ED1_0A7_5
"""The advisory lock that makes batches one at a time (a second waits for the first's commit,
then sees its items)."""


class Unsettled(NamedTuple):
    """What one influencer has unsettled in one currency."""
    influencer_id: uuid.UUID
    currency: str
    amount: int
    """Minor units: approvals less reversals taken from the available balance."""
    commissions: int
    """Approvals among the postings."""
    platform_fees: int
    """The platform's fees inside those commissions' net amounts, less reversed fees."""


class NewPayout(NamedTuple):
    id: uuid.UUID
    influencer_id: uuid.UUID
    currency: str


def _unsettled(row: Any) -> Unsettled:
    influencer_id, currency, amount, commissions, platform_fees = row
    return Unsettled(influencer_id, currency, int(amount), int(commissions), int(platform_fees))


def readable(statement: Select[Any], reader: Reader) -> Select[Any]:
    """Admins read every payout, an influencer its own; anyone else (a merchant, an influencer
    without a profile) none."""
    if reader.role == Role.admin:
        return statement
    if reader.role == Role.influencer and reader.influencer_id is not None:
        return statement.where(Payout.influencer_id == reader.influencer_id)
    return statement.where(false())


_CANDIDATES = f"""
    SELECT posting.id AS posting_id, posting.influencer_id, entry.currency, entry.amount,
           posting.commission_id, posting.reversal_id,
           CASE WHEN posting.kind = '{PostingKind.approval}' THEN
                    commission.platform_fee - coalesce(
                        (SELECT sum(earlier.platform_fee) FROM reversals earlier
                         WHERE earlier.commission_id = commission.id
                           AND earlier.taken_from = 'pending'), 0)
                ELSE -reversal.platform_fee END AS platform_fee,
           posting.kind = '{PostingKind.approval}' AS is_commission
    FROM ledger_entries entry
    JOIN ledger_postings posting ON posting.id = entry.posting_id
    LEFT JOIN commissions commission
           ON commission.id = posting.commission_id AND posting.kind = '{PostingKind.approval}'
    LEFT JOIN reversals reversal ON reversal.id = posting.reversal_id
    WHERE entry.account LIKE 'influencer:%\\:available'
      AND posting.kind IN ('{PostingKind.approval}', '{PostingKind.reversal}')
      AND entry.booked_at < :end
      AND NOT EXISTS (SELECT 1 FROM payout_items item
                      WHERE item.posting_id = posting.id AND item.active)
"""  # noqa: S608 - vocabularies only

_GATHER = text(f"CREATE TEMP TABLE payout_candidates ON COMMIT DROP AS {_CANDIDATES}")
_GATHER_ONE = text(f"{_CANDIDATES} AND posting.influencer_id = :influencer_id")
_TOTALS = """
    SELECT influencer_id, currency, sum(amount), count(*) FILTER (WHERE is_commission),
           sum(platform_fee)
    FROM {source} GROUP BY influencer_id, currency ORDER BY influencer_id, currency
"""
_TOTALS_OF_CANDIDATES = text(_TOTALS.format(source="payout_candidates"))
_TOTALS_OF_ONE = text(_TOTALS.format(source=f"({_GATHER_ONE.text}) AS candidates"))
_ITEMS = text("""
    INSERT INTO payout_items (payout_id, posting_id, commission_id, reversal_id, amount,
                              platform_fee)
    SELECT made.payout_id, candidate.posting_id, candidate.commission_id, candidate.reversal_id,
           candidate.amount, candidate.platform_fee
    FROM payout_candidates candidate
    JOIN unnest(CAST(:payouts AS uuid[]), CAST(:influencers AS uuid[]),
                CAST(:currencies AS varchar[])) AS made(payout_id, influencer_id, currency)
      ON made.influencer_id = candidate.influencer_id AND made.currency = candidate.currency
""")
_MARK_PAID = text(f"""
    UPDATE commissions SET status = '{CommissionStatus.paid}', paid_at = :now
    FROM payout_items item
    WHERE item.payout_id = ANY(CAST(:payouts AS uuid[])) AND item.reversal_id IS NULL
      AND commissions.id = item.commission_id
      AND commissions.status = '{CommissionStatus.approved}'
""")  # noqa: S608 - vocabularies only
_RELEASE = text("UPDATE payout_items SET active = false WHERE payout_id = :payout_id AND active"
                " RETURNING commission_id, reversal_id")
_UNPAY = text(f"""
    UPDATE commissions SET status = '{CommissionStatus.approved}', paid_at = NULL
    WHERE id = ANY(CAST(:ids AS uuid[])) AND status = '{CommissionStatus.paid}'
""")  # noqa: S608 - vocabularies only


async def lock_batches(session: AsyncSession) -> None:
    """Waits for any other batch being made, until this transaction ends."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": BATCH_LOCK})


async def gather(session: AsyncSession, *, end: datetime) -> list[Unsettled]:
    """Takes what is unsettled and booked before `end` into this transaction's
    `payout_candidates` (one snapshot: a commission approved meanwhile waits for the next
    batch) and returns its totals per influencer and currency."""
    await session.execute(text("DROP TABLE IF EXISTS payout_candidates"))
    await session.execute(_GATHER, {"end": end})
    await session.execute(text("ANALYZE payout_candidates"))
    rows = await session.execute(_TOTALS_OF_CANDIDATES)
    return [_unsettled(row) for row in rows]


async def discard_candidates(session: AsyncSession) -> None:
    await session.execute(text("DROP TABLE IF EXISTS payout_candidates"))


async def unsettled_of(session: AsyncSession, influencer_id: uuid.UUID, *, end: datetime
                       ) -> list[Unsettled]:
    """One influencer's unsettled totals per currency (nothing written)."""
    rows = await session.execute(_TOTALS_OF_ONE, {"end": end, "influencer_id": influencer_id})
    return [_unsettled(row) for row in rows]


async def insert_payouts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(Payout.__table__.insert(), list(rows))


async def insert_items(session: AsyncSession, made: Sequence[NewPayout]) -> None:
    """Each new payout settles its influencer's candidates in its currency."""
    if made:
        await session.execute(_ITEMS, {"payouts": [m.id for m in made],
                                       "influencers": [m.influencer_id for m in made],
                                       "currencies": [m.currency for m in made]})


async def mark_commissions_paid(session: AsyncSession, payout_ids: Sequence[uuid.UUID], *,
                                now: datetime) -> None:
    if payout_ids:
        await session.execute(_MARK_PAID, {"payouts": list(payout_ids), "now": now})


async def release_items(session: AsyncSession, payout_id: uuid.UUID) -> None:
    """A failed or returned payout settles nothing: its postings go to the next payout, its
    commissions are approved (unpaid) again."""
    rows = (await session.execute(_RELEASE, {"payout_id": payout_id})).all()
    commissions = [commission for commission, reversal in rows
                   if commission is not None and reversal is None]
    if commissions:
        await session.execute(_UNPAY, {"ids": commissions})


async def get_batch(session: AsyncSession, batch_id: uuid.UUID, *, lock: bool = False
                    ) -> PayoutBatch | None:
    statement = select(PayoutBatch).where(PayoutBatch.id == batch_id)
    if lock:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def payouts_of(session: AsyncSession, batch_id: uuid.UUID, *, by_id: bool = False
                     ) -> list[Payout]:
    """The batch's payouts, by influencer and currency (or by id: the ACH file's order)."""
    order = (Payout.id,) if by_id else (Payout.influencer_id, Payout.currency)
    rows = await session.execute(select(Payout).where(Payout.batch_id == batch_id)
                                 .order_by(*order))
    return list(rows.scalars())


async def payout_ids_by_method(session: AsyncSession, batch_id: uuid.UUID, *,
                               statuses: Sequence[str]) -> dict[str, list[uuid.UUID]]:
    """{method: ids} of the batch's payouts in `statuses`, each list by id."""
    rows = await session.execute(
        select(Payout.payment_method, Payout.id).where(
            Payout.batch_id == batch_id, Payout.status.in_(list(statuses)))
        .order_by(Payout.id))
    found: dict[str, list[uuid.UUID]] = {method: [] for method in PayoutMethod}
    for method, payout_id in rows:
        found[method].append(payout_id)
    return found


async def lock_payout(session: AsyncSession, payout_id: uuid.UUID, *, skip_locked: bool = False
                      ) -> Payout | None:
    """The payout under a row lock (None when missing, or held by another sender when
    `skip_locked`)."""
    statement = (select(Payout).where(Payout.id == payout_id)
                 .with_for_update(skip_locked=skip_locked)
                 .execution_options(populate_existing=True))
    return (await session.execute(statement)).scalar_one_or_none()


async def count_open(session: AsyncSession, batch_id: uuid.UUID) -> dict[str, int]:
    """{status: payouts} of the batch's payouts not final yet."""
    rows = await session.execute(text(
        "SELECT status, count(*) FROM payouts WHERE batch_id = :batch_id"
        " AND status IN ('pending', 'sending', 'sent') GROUP BY status"), {"batch_id": batch_id})
    return {status: int(count) for status, count in rows}


async def set_batch(session: AsyncSession, batch_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(PayoutBatch).where(PayoutBatch.id == batch_id).values(**values))


async def list_readable(session: AsyncSession, reader: Reader, page: PageParams, *,
                        status: PayoutStatus | None = None, batch_id: uuid.UUID | None = None,
                        influencer_id: uuid.UUID | None = None) -> list[Payout]:
    statement = readable(select(Payout), reader)
    statement = where_equal(statement, (Payout.status, status), (Payout.batch_id, batch_id),
                            (Payout.influencer_id, influencer_id))
    rows = await session.execute(paginate(statement, page, newest_first(Payout)))
    return list(rows.scalars())


async def get_readable(session: AsyncSession, reader: Reader, payout_id: uuid.UUID
                       ) -> Payout | None:
    statement = readable(select(Payout).where(Payout.id == payout_id), reader)
    return (await session.execute(statement)).scalar_one_or_none()


async def list_batches(session: AsyncSession, page: PageParams) -> list[PayoutBatch]:
    rows = await session.execute(paginate(select(PayoutBatch), page, newest_first(PayoutBatch)))
    return list(rows.scalars())


async def batch_for_period(session: AsyncSession, start: date, end: date) -> uuid.UUID | None:
    return await session.scalar(select(PayoutBatch.id).where(
        PayoutBatch.period_start == start, PayoutBatch.period_end == end).limit(1))


async def batches_to_follow(session: AsyncSession) -> list[uuid.UUID]:
    """Batches with a PayPal batch whose payouts are not all final."""
    rows = await session.execute(select(PayoutBatch.id).where(
        PayoutBatch.paypal_batch_id.is_not(None),
        PayoutBatch.status != BatchStatus.completed).order_by(PayoutBatch.created_at))
    return list(rows.scalars())
