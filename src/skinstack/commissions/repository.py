"""Commissions' queries: the batched loads and writes of settling, reversals, approvals and
payouts, each returning small named rows. Never commits.

The statements are written for batches: one round trip per kind of row whatever the batch's
size (arrays unnested on the server), rows locked `FOR UPDATE` in id order so that concurrent
workers take turns instead of deadlocking.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from sqlalchemy import Row, Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.kit.pagination import PageParams, paginate, where_equal
from skinstack.models import (
    Commission,
    CommissionStatus,
    Conversion,
    HoldReason,
    Reversal,
    ReversalKind,
    TakenFrom,
)

if TYPE_CHECKING:
    from skinstack.accounts.reader import Reader

RowT = TypeVar("RowT", bound=NamedTuple)


def readable(statement: Select[Any], reader: Reader) -> Select[Any]:
    """Admins read every commission, an influencer its own, a merchant those of its
    programs; a reader without a profile none."""
    return reader.owned(statement, merchant_id=Commission.merchant_id,
                        influencer_id=Commission.influencer_id)



def _with_order_id() -> Select[Any]:
    return select(Commission, Conversion.order_id).join(
        Conversion, Conversion.id == Commission.conversion_id)


async def list_readable(session: AsyncSession, reader: Reader, page: PageParams, *,
                        status: str | None = None, program_id: uuid.UUID | None = None,
                        merchant_id: uuid.UUID | None = None,
                        influencer_id: uuid.UUID | None = None) -> Sequence[Row[Any]]:
    """(commission, order id) rows the reader may see, newest first."""
    statement = where_equal(readable(_with_order_id(), reader),
                            (Commission.status, status), (Commission.program_id, program_id),
                            (Commission.merchant_id, merchant_id),
                            (Commission.influencer_id, influencer_id))
    return (await session.execute(paginate(statement, page, (Commission.created_at,
                                                             Commission.id)))).all()


async def get_readable(session: AsyncSession, reader: Reader,
                       commission_id: uuid.UUID) -> Row[Any] | None:
    """(commission, order id) if the reader may see it."""
    return (await session.execute(readable(_with_order_id(), reader).where(
        Commission.id == commission_id))).first()


async def with_reversals(session: AsyncSession, commission_id: uuid.UUID
                         ) -> tuple[Commission, list[Reversal]]:
    """The commission as stored now and its reversals, oldest first."""
    commission = await session.get(Commission, commission_id, populate_existing=True)
    assert commission is not None
    reversals = (await session.scalars(select(Reversal).where(
        Reversal.commission_id == commission_id).order_by(Reversal.created_at,
                                                          Reversal.id))).all()
    return commission, list(reversals)

class ConversionRow(NamedTuple):
    id: uuid.UUID
    merchant_id: uuid.UUID
    currency: str
    occurred_at: datetime
    subtotal: int
    discounts: int
    line_items: list[dict[str, Any]]
    customer_hash: str | None
    status: str
    is_test: bool


class CreditRow(NamedTuple):
    """A current credit with what its commission needs: its link's product and campaign, and
    the influencer's email (compared with the order's keyed hash in memory, never stored or
    logged)."""
    conversion_id: uuid.UUID
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    link_id: uuid.UUID | None
    click_id: uuid.UUID | None
    coupon_code: str | None
    weight: Decimal
    match_type: str
    product_id: uuid.UUID | None
    email: str | None
    campaign_id: uuid.UUID | None
    campaign_program_id: uuid.UUID | None
    campaign_boost_percent: Decimal | None
    campaign_start_date: date | None
    campaign_end_date: date | None
    campaign_is_active: bool | None
    campaign_product_ids: list[uuid.UUID] | None
    campaign_influencer_ids: list[uuid.UUID] | None


class CommissionRow(NamedTuple):
    id: uuid.UUID
    conversion_id: uuid.UUID
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    merchant_id: uuid.UUID
    campaign_id: uuid.UUID | None
    currency: str
    status: str
    """A CommissionStatus."""
    commissionable_amount: int
    gross_amount: int
    boost_amount: int
    platform_fee: int
    net_amount: int
    reversed_amount: int
    reversed_fee: int
    reversed_net: int
    revision: int
    basis: str | None
    """The basis its calculation rested on (calculation_details.basis)."""


class AdjustmentRow(NamedTuple):
    id: uuid.UUID
    conversion_id: uuid.UUID
    source: str
    external_id: str
    kind: str
    """A ReversalKind (an order's adjustment: refund, cancellation, reversal, adjustment)."""
    amount: int | None
    line_items: list[dict[str, Any]]


class ProgramRow(NamedTuple):
    id: uuid.UUID
    merchant_id: uuid.UUID
    currency: str
    commission_type: str
    commission_percent: Decimal | None
    fixed_amount: int | None
    platform_fee_percent: Decimal
    tiers: list[dict[str, Any]]
    excluded_skus: list[str]
    manual_approval_threshold: int | None


class TierMonth(NamedTuple):
    """An (influencer, program, calendar month in UTC) whose sales decide the tier."""
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    start: datetime
    end: datetime


class NewCommission(NamedTuple):
    """A commission as calculated, to be inserted or to replace an earlier calculation."""
    conversion_id: uuid.UUID
    influencer_id: uuid.UUID
    program_id: uuid.UUID
    merchant_id: uuid.UUID
    campaign_id: uuid.UUID | None
    currency: str
    occurred_at: datetime
    weight: Decimal
    commissionable_amount: int
    gross_amount: int
    boost_amount: int
    platform_fee: int
    net_amount: int
    status: CommissionStatus
    hold_reasons: list[HoldReason]
    calculation_details: str
    """JSON text."""


class Inserted(NamedTuple):
    id: uuid.UUID
    conversion_id: uuid.UUID
    influencer_id: uuid.UUID


# The vocabularies' values are written into the statements as literals where the statements
# always had them: a parameter there would keep a generic plan from the partial index on
# pending commissions.

# --- settling's loads --------------------------------------------------------------------------

_LOCK_CONVERSIONS = text("""
    SELECT id, merchant_id, currency, occurred_at, subtotal, discounts, line_items,
           customer_hash, status, is_test
    FROM conversions WHERE id = ANY(:ids) ORDER BY id FOR UPDATE
""")
_CREDITS = text("""
    SELECT credit.conversion_id, credit.influencer_id, credit.program_id, credit.link_id,
           credit.click_id, credit.coupon_code, credit.weight, credit.match_type,
           link.product_id, account.email,
           campaign.id, campaign.program_id, campaign.commission_boost_percent,
           campaign.start_date, campaign.end_date, campaign.is_active,
           campaign.eligible_product_ids, campaign.eligible_influencer_ids
    FROM attributions credit
    LEFT JOIN tracking_links link ON link.id = credit.link_id
    LEFT JOIN campaigns campaign ON campaign.id = link.campaign_id
    LEFT JOIN influencers influencer ON influencer.id = credit.influencer_id
    LEFT JOIN users account ON account.id = influencer.user_id
    WHERE credit.conversion_id = ANY(:ids) AND credit.superseded_at IS NULL
    ORDER BY credit.conversion_id, credit.influencer_id, credit.weight DESC, credit.id
""")
_COMMISSION_COLUMNS = """id, conversion_id, influencer_id, program_id, merchant_id, campaign_id,
    currency, status, commissionable_amount, gross_amount, boost_amount, platform_fee,
    net_amount, reversed_amount, reversed_fee, reversed_net, revision,
    calculation_details->>'basis'"""
_LOCK_COMMISSIONS = text(f"""
    SELECT {_COMMISSION_COLUMNS} FROM commissions
    WHERE conversion_id = ANY(:ids) ORDER BY id FOR UPDATE
""")  # noqa: S608 - constants and vocabularies only
_ADJUSTMENTS = text("""
    SELECT id, conversion_id, source, external_id, kind, amount, line_items
    FROM conversion_adjustments WHERE conversion_id = ANY(:ids)
    ORDER BY occurred_at, created_at, id
""")
_REVERSED = text("""
    SELECT commission_id, source, external_id FROM reversals WHERE commission_id = ANY(:ids)
""")
_PROGRAMS = text("""
    SELECT id, merchant_id, currency, commission_type, commission_percent, fixed_amount,
           platform_fee_percent, tiers, excluded_skus, manual_approval_threshold
    FROM programs WHERE id = ANY(:ids)
""")


async def _rows_by_ids(session: AsyncSession, statement: Any, ids: Sequence[uuid.UUID],
                       row: type[RowT]) -> list[RowT]:
    """The statement's rows for `:ids`, as `row`s; no round trip for no ids."""
    if not ids:
        return []
    return [row._make(values) for values in await session.execute(statement, {"ids": list(ids)})]


async def lock_conversions(session: AsyncSession, ids: Sequence[uuid.UUID]
                           ) -> list[ConversionRow]:
    """The conversions, locked in id order."""
    return await _rows_by_ids(session, _LOCK_CONVERSIONS, ids, ConversionRow)


async def credits_of(session: AsyncSession, conversion_ids: Sequence[uuid.UUID]
                     ) -> list[CreditRow]:
    """The conversions' current credits, per conversion and influencer heaviest first."""
    return await _rows_by_ids(session, _CREDITS, conversion_ids, CreditRow)


async def lock_commissions_of(session: AsyncSession, conversion_ids: Sequence[uuid.UUID]
                              ) -> list[CommissionRow]:
    """The conversions' commissions, locked in id order."""
    return await _rows_by_ids(session, _LOCK_COMMISSIONS, conversion_ids, CommissionRow)


async def adjustments_of(session: AsyncSession, conversion_ids: Sequence[uuid.UUID]
                         ) -> list[AdjustmentRow]:
    """The conversions' refunds, cancellations and reversals, in the order they happened."""
    return await _rows_by_ids(session, _ADJUSTMENTS, conversion_ids, AdjustmentRow)


async def reversed_by(session: AsyncSession, commission_ids: Sequence[uuid.UUID]
                      ) -> set[tuple[uuid.UUID, str, str]]:
    """(commission id, source, external id) of the commissions' reversals."""
    if not commission_ids:
        return set()
    rows = await session.execute(_REVERSED, {"ids": list(commission_ids)})
    return {(row[0], row[1], row[2]) for row in rows}


async def programs(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[ProgramRow]:
    return await _rows_by_ids(session, _PROGRAMS, ids, ProgramRow)


_LOCK_TIER_MONTHS = text("""
    SELECT pg_advisory_xact_lock(hashtextextended(month_key, 0))
    FROM unnest(CAST(:keys AS text[])) AS month_key ORDER BY month_key
""")
_MONTH_SALES = text(f"""
    SELECT month.influencer_id, month.program_id, month.start, coalesce(sales.total, 0)
    FROM unnest(CAST(:influencers AS uuid[]), CAST(:programs AS uuid[]),
                CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
         AS month(influencer_id, program_id, start, "end")
    CROSS JOIN LATERAL (
        SELECT sum(commissionable_amount) AS total FROM commissions c
        WHERE c.influencer_id = month.influencer_id AND c.program_id = month.program_id
          AND c.occurred_at >= month.start AND c.occurred_at < month."end"
          AND c.status <> '{CommissionStatus.reversed}'
    ) sales
""")  # noqa: S608 - constants and vocabularies only


async def lock_month_sales(session: AsyncSession, months: Sequence[TierMonth]
                           ) -> dict[tuple[uuid.UUID, uuid.UUID, datetime], int]:
    """{(influencer, program, month start): commissionable sales}, every commission of the
    month but reversed ones counted. Each month is first locked (an advisory lock, in a fixed
    order), so that orders of one influencer in one month take turns and each sees the
    others."""
    if not months:
        return {}
    ordered = sorted(months)
    await session.execute(_LOCK_TIER_MONTHS, {"keys": sorted(
        f"tier:{month.influencer_id}:{month.program_id}:{month.start:%Y-%m}"
        for month in ordered)})
    rows = await session.execute(_MONTH_SALES, {
        "influencers": [month.influencer_id for month in ordered],
        "programs": [month.program_id for month in ordered],
        "starts": [month.start for month in ordered], "ends": [month.end for month in ordered]})
    return {(influencer_id, program_id, start): int(total)
            for influencer_id, program_id, start, total in rows}


# --- settling's writes -------------------------------------------------------------------------

_INSERT_COMMISSIONS = text("""
    INSERT INTO commissions (conversion_id, influencer_id, program_id, merchant_id, campaign_id,
                             currency, occurred_at, weight, commissionable_amount, gross_amount,
                             boost_amount, platform_fee, net_amount, status, hold_reasons,
                             calculation_details)
    SELECT new.conversion_id, new.influencer_id, new.program_id, new.merchant_id,
           new.campaign_id, new.currency, new.occurred_at, new.weight,
           new.commissionable_amount, new.gross_amount, new.boost_amount, new.platform_fee,
           new.net_amount, new.status, CAST(new.hold_reasons AS varchar[]), details.details
    FROM unnest(CAST(:conversion_id AS uuid[]), CAST(:influencer_id AS uuid[]),
                CAST(:program_id AS uuid[]), CAST(:merchant_id AS uuid[]),
                CAST(:campaign_id AS uuid[]), CAST(:currency AS varchar[]),
                CAST(:occurred_at AS timestamptz[]), CAST(:weight AS numeric[]),
                CAST(:commissionable_amount AS bigint[]), CAST(:gross_amount AS bigint[]),
                CAST(:boost_amount AS bigint[]), CAST(:platform_fee AS bigint[]),
                CAST(:net_amount AS bigint[]), CAST(:status AS varchar[]),
                CAST(:hold_reasons AS text[])) WITH ORDINALITY
         AS new(conversion_id, influencer_id, program_id, merchant_id, campaign_id, currency,
                occurred_at, weight, commissionable_amount, gross_amount, boost_amount,
                platform_fee, net_amount, status, hold_reasons, n)
    JOIN jsonb_array_elements(CAST(:calculation_details AS jsonb)) WITH ORDINALITY
         AS details(details, n) USING (n)
    ON CONFLICT (conversion_id, influencer_id) DO NOTHING
    RETURNING id, conversion_id, influencer_id
""")


def _insert_columns(commissions: Sequence[NewCommission]) -> dict[str, Any]:
    """The commissions as one array per column: hold reasons as array literals (an array of
    arrays cannot be ragged), the details as one JSON array."""
    columns: dict[str, Any] = {name: [] for name in NewCommission._fields
                               if name != "calculation_details"}
    for commission in commissions:
        for name, column in columns.items():
            value = getattr(commission, name)
            column.append("{" + ",".join(value) + "}" if name == "hold_reasons" else value)
    columns["calculation_details"] = "[" + ",".join(
        commission.calculation_details for commission in commissions) + "]"
    return columns


async def insert_commissions(session: AsyncSession, commissions: Sequence[NewCommission]
                             ) -> list[Inserted]:
    """Inserts the commissions in one statement; a row another transaction made first (the
    conversion lock makes that rare) is skipped and not returned."""
    if not commissions:
        return []
    rows = await session.execute(_INSERT_COMMISSIONS, _insert_columns(commissions))
    return [Inserted._make(row) for row in rows]


_RECALCULATE = text("""
    UPDATE commissions SET program_id = :program_id, campaign_id = :campaign_id, weight = :weight,
        commissionable_amount = :commissionable_amount, gross_amount = :gross_amount,
        boost_amount = :boost_amount, platform_fee = :platform_fee, net_amount = :net_amount,
        status = :status, hold_reasons = CAST(:hold_reasons AS varchar[]),
        calculation_details = CAST(:calculation_details AS jsonb), revision = revision + 1
    WHERE id = :id
    RETURNING revision
""")


async def recalculate(session: AsyncSession, commission_id: uuid.UUID,
                      commission: NewCommission) -> int:
    """Replaces the commission's calculation; returns its new revision."""
    return int(await session.scalar(_RECALCULATE, commission._asdict() | {"id": commission_id}))


_GRANT_BOOST = text("""
    WITH campaign AS (SELECT id, budget, spent FROM campaigns WHERE id = :id FOR UPDATE)
    UPDATE campaigns SET spent = campaigns.spent + grant_.granted
    FROM (SELECT id, CASE WHEN budget IS NULL THEN :want
                          ELSE LEAST(:want, budget - spent) END AS granted FROM campaign) grant_
    WHERE campaigns.id = grant_.id
    RETURNING grant_.granted
""")
_RELEASE_BOOST = text("UPDATE campaigns SET spent = spent - :boost WHERE id = :id")


async def grant_boost(session: AsyncSession, campaign_id: uuid.UUID, wanted: int) -> int:
    """Takes up to `wanted` from the campaign's budget, atomically; returns what it got."""
    granted = await session.scalar(_GRANT_BOOST, {"id": campaign_id, "want": wanted})
    return int(granted or 0)


async def release_boost(session: AsyncSession, campaign_id: uuid.UUID, boost: int) -> None:
    """Gives `boost` back to the campaign's budget."""
    await session.execute(_RELEASE_BOOST, {"id": campaign_id, "boost": boost})


# --- reversals ---------------------------------------------------------------------------------

_LOCK_CONVERSION_COMMISSIONS = text(f"""
    SELECT {_COMMISSION_COLUMNS} FROM commissions
    WHERE conversion_id = :id ORDER BY id FOR UPDATE
""")  # noqa: S608 - constants and vocabularies only
_INSERT_REVERSAL = text("""
    INSERT INTO reversals (commission_id, adjustment_id, source, external_id, kind, currency,
                           gross_amount, platform_fee, net_amount, fraction, taken_from, reason)
    VALUES (:commission_id, :adjustment_id, :source, :external_id, :kind, :currency, :gross,
            :fee, :gross - :fee, :fraction, :taken_from, :reason)
    ON CONFLICT (commission_id, source, external_id) DO NOTHING
    RETURNING id
""")
_ADD_REVERSED = text(f"""
    UPDATE commissions SET reversed_amount = reversed_amount + :gross,
        reversed_fee = reversed_fee + :fee, reversed_net = reversed_net + :gross - :fee,
        status = CASE WHEN :full THEN '{CommissionStatus.reversed}' ELSE status END,
        reversed_at = CASE WHEN :full THEN clock_timestamp() ELSE reversed_at END
    WHERE id = :id
    RETURNING {_COMMISSION_COLUMNS}
""")  # noqa: S608 - constants and vocabularies only


async def lock_conversion_commissions(session: AsyncSession, conversion_id: uuid.UUID
                                      ) -> list[CommissionRow]:
    """The conversion's commissions as they are now, locked in id order."""
    rows = await session.execute(_LOCK_CONVERSION_COMMISSIONS, {"id": conversion_id})
    return [CommissionRow._make(row) for row in rows]


async def insert_reversal(session: AsyncSession, *, commission: CommissionRow,
                          adjustment_id: uuid.UUID | None, source: str, external_id: str,
                          kind: ReversalKind, gross: int, fee: int, fraction: Decimal,
                          taken_from: TakenFrom, reason: str) -> uuid.UUID | None:
    """The reversal's id; None when the commission has one from (source, external id)."""
    return await session.scalar(_INSERT_REVERSAL, {
        "commission_id": commission.id, "adjustment_id": adjustment_id, "source": source,
        "external_id": external_id, "kind": kind, "currency": commission.currency,
        "gross": gross, "fee": fee, "taken_from": taken_from, "fraction": fraction,
        "reason": reason})


async def add_reversed(session: AsyncSession, commission_id: uuid.UUID, *, gross: int, fee: int,
                       full: bool) -> CommissionRow:
    """Adds to the commission's reversed parts (and marks it reversed when `full`)."""
    row = (await session.execute(_ADD_REVERSED, {
        "id": commission_id, "gross": gross, "fee": fee, "full": full})).one()
    return CommissionRow._make(row)


# --- approvals, rejections and payouts ---------------------------------------------------------

_LOCK_COMMISSION = text(f"""
    SELECT {_COMMISSION_COLUMNS} FROM commissions WHERE id = :id FOR UPDATE
""")  # noqa: S608 - constants and vocabularies only
_MARK_APPROVED = text(f"""
    UPDATE commissions
    SET status = '{CommissionStatus.approved}', approved_at = :now, approved_by = :by
    WHERE id = :id RETURNING {_COMMISSION_COLUMNS}
""")  # noqa: S608 - constants and vocabularies only
_SET_REJECTION_REASON = text(f"""
    UPDATE commissions SET rejection_reason = :reason WHERE id = :id
    RETURNING {_COMMISSION_COLUMNS}
""")  # noqa: S608 - constants and vocabularies only
_LOCK_DUE = text(f"""
    SELECT commission.id FROM commissions commission
    JOIN programs program ON program.id = commission.program_id
    WHERE commission.status = '{CommissionStatus.pending}'
      AND commission.created_at <= :now - make_interval(days => program.approval_delay_days)
    ORDER BY commission.created_at
    LIMIT :limit
    FOR UPDATE OF commission SKIP LOCKED
""")  # noqa: S608 - constants and vocabularies only


async def lock_commission(session: AsyncSession, commission_id: uuid.UUID) -> CommissionRow:
    row = (await session.execute(_LOCK_COMMISSION, {"id": commission_id})).one()
    return CommissionRow._make(row)


async def mark_approved(session: AsyncSession, commission_id: uuid.UUID, *,
                        by: uuid.UUID | None, now: datetime) -> CommissionRow:
    row = (await session.execute(_MARK_APPROVED, {
        "id": commission_id, "by": by, "now": now})).one()
    return CommissionRow._make(row)


async def set_rejection_reason(session: AsyncSession, commission_id: uuid.UUID,
                               reason: str) -> CommissionRow:
    row = (await session.execute(_SET_REJECTION_REASON,
                                 {"id": commission_id, "reason": reason})).one()
    return CommissionRow._make(row)


async def lock_due(session: AsyncSession, *, now: datetime, limit: int) -> list[uuid.UUID]:
    """Up to `limit` pending commissions older than their program's approval delay, oldest
    first, locked; rows another transaction holds are skipped."""
    return list((await session.scalars(_LOCK_DUE, {
        "now": now, "limit": limit})).all())
