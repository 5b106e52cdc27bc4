"""Commissions: lists for each kind of reader, approval and rejection, the merchant's monthly
statement."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Select, select, text

from skinstack.accounts.deps import CurrentMerchant, CurrentUser, MerchantOrAdminUser
from skinstack.accounts.service import require_merchant
from skinstack.commissions import service
from skinstack.commissions.schemas import (
    CommissionOut,
    RejectIn,
    ReversalOut,
    StatementOut,
    StatementTotals,
)
from skinstack.compliance import audit
from skinstack.db import DBSession
from skinstack.errors import InvalidInput, NotFound
from skinstack.kit.money import format_minor
from skinstack.kit.pagination import Page, PageParams, page_of, page_params, paginate
from skinstack.kit.schemas import Text
from skinstack.ledger import service as ledger
from skinstack.links.service import require_influencer
from skinstack.models import Commission, Conversion, Reversal, User

router = APIRouter(prefix="/api/v1", tags=["commissions"])

MONEY = ("commissionable_amount", "gross_amount", "boost_amount", "platform_fee", "net_amount",
         "reversed_amount", "reversed_fee", "reversed_net")


def commission_view(commission: Commission, order_id: str,
                    reversals: list[Reversal] | None = None) -> CommissionOut:
    currency = commission.currency
    return CommissionOut(
        id=commission.id, conversion_id=commission.conversion_id, order_id=order_id,
        influencer_id=commission.influencer_id, program_id=commission.program_id,
        merchant_id=commission.merchant_id, campaign_id=commission.campaign_id,
        currency=currency, weight=str(commission.weight),
        **{name: format_minor(getattr(commission, name), currency) for name in MONEY},
        status=commission.status, hold_reasons=commission.hold_reasons,
        rejection_reason=commission.rejection_reason,
        calculation_details=commission.calculation_details,
        occurred_at=commission.occurred_at, created_at=commission.created_at,
        approved_at=commission.approved_at, paid_at=commission.paid_at,
        reversed_at=commission.reversed_at,
        reversals=None if reversals is None else [ReversalOut(
            id=r.id, kind=r.kind, source=r.source,
            gross_amount=format_minor(r.gross_amount, currency),
            platform_fee=format_minor(r.platform_fee, currency),
            net_amount=format_minor(r.net_amount, currency), fraction=str(r.fraction),
            taken_from=r.taken_from, reason=r.reason, created_at=r.created_at)
            for r in reversals])


async def _scope(session: DBSession, user: User, statement: Select) -> Select:
    """Influencers see their own commissions, merchants those of their programs, admins all."""
    if user.role == "influencer":
        influencer = await require_influencer(session=session, user_id=user.id)
        return statement.where(Commission.influencer_id == influencer.id)
    if user.role == "merchant":
        merchant = await require_merchant(session=session, user=user)
        return statement.where(Commission.merchant_id == merchant.id)
    return statement


_VISIBLE = select(Commission, Conversion.order_id).join(
    Conversion, Conversion.id == Commission.conversion_id)


@router.get("/commissions", response_model=Page[CommissionOut])
async def list_commissions(
    user: CurrentUser, session: DBSession,
    page: Annotated[PageParams, Depends(page_params)],
    status: Literal["pending", "on_hold", "approved", "paid", "reversed"] | None = None,
    program_id: uuid.UUID | None = None,
    merchant_id: Annotated[uuid.UUID | None, Query(description="Admins only.")] = None,
    influencer_id: Annotated[uuid.UUID | None, Query(description="Admins only.")] = None,
) -> Page[CommissionOut]:
    """Newest first."""
    statement = await _scope(session, user, _VISIBLE)
    if status:
        statement = statement.where(Commission.status == status)
    if program_id:
        statement = statement.where(Commission.program_id == program_id)
    if user.role == "admin" and merchant_id:
        statement = statement.where(Commission.merchant_id == merchant_id)
    if user.role == "admin" and influencer_id:
        statement = statement.where(Commission.influencer_id == influencer_id)
    rows = (await session.execute(paginate(statement, page, (Commission.created_at,
                                                              Commission.id)))).all()
    items, next_cursor = page_of(rows, page, lambda row: (row[0].created_at, row[0].id))
    return Page(items=[commission_view(row[0], row[1]) for row in items],
                next_cursor=next_cursor)


async def _visible(session: DBSession, user: User, commission_id: uuid.UUID
                   ) -> tuple[Commission, str]:
    row = (await session.execute(
        (await _scope(session, user, _VISIBLE)).where(Commission.id == commission_id))).first()
    if row is None:
        raise NotFound("No such commission.")
    return row[0], row[1]


async def _shown(session: DBSession, commission_id: uuid.UUID, order_id: str) -> CommissionOut:
    commission = await session.get(Commission, commission_id, populate_existing=True)
    assert commission is not None
    reversals = (await session.scalars(select(Reversal).where(
        Reversal.commission_id == commission_id).order_by(Reversal.created_at,
                                                          Reversal.id))).all()
    return commission_view(commission, order_id, list(reversals))


@router.get("/commissions/{commission_id}", response_model=CommissionOut)
async def get_commission(commission_id: uuid.UUID, user: CurrentUser,
                         session: DBSession) -> CommissionOut:
    """One commission with its reversals."""
    commission, order_id = await _visible(session, user, commission_id)
    return await _shown(session, commission.id, order_id)


@router.post("/commissions/{commission_id}/approve", response_model=CommissionOut)
async def approve_commission(commission_id: uuid.UUID, user: MerchantOrAdminUser,
                             session: DBSession) -> CommissionOut:
    """The program's merchant or an admin approves a pending or held commission; approving
    again is not an error; a reversed commission answers 409."""
    commission, order_id = await _visible(session, user, commission_id)
    before = commission.status
    after = await service.approve(session, commission.id, by=user.id)
    if after.status != before:
        audit.record(session.sync_session, action="commission.approve",
                     resource_type="commissions", resource_id=commission.id,
                     changes={"status": [before, after.status]})
    return await _shown(session, commission.id, order_id)


@router.post("/commissions/{commission_id}/reject", response_model=CommissionOut)
async def reject_commission(commission_id: uuid.UUID, data: RejectIn,
                            user: MerchantOrAdminUser, session: DBSession) -> CommissionOut:
    """Reverses what is left of a commission not yet paid; rejecting again is not an error;
    a paid commission answers 409 (refund the order instead)."""
    commission, order_id = await _visible(session, user, commission_id)
    before = commission.status
    after = await service.reject(session, commission.id, reason=data.reason)
    if after.status != before:
        audit.record(session.sync_session, action="commission.reject",
                     resource_type="commissions", resource_id=commission.id,
                     changes={"status": [before, after.status], "reason": data.reason})
    return await _shown(session, commission.id, order_id)


MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_STATEMENT = text("""
    SELECT e.currency, p.kind,
           coalesce(sum(e.amount) FILTER (WHERE e.account = :payable), 0) AS merchant,
           coalesce(sum(e.amount) FILTER (WHERE e.account LIKE 'influencer:%'), 0) AS influencers,
           coalesce(sum(e.amount) FILTER (WHERE e.account = :platform), 0) AS platform,
           count(DISTINCT p.id) AS postings
    FROM ledger_postings p JOIN ledger_entries e ON e.posting_id = p.id
    WHERE p.merchant_id = :merchant_id AND p.booked_at >= :start AND p.booked_at < :end
      AND p.kind IN ('accrual', 'recalculation', 'reversal')
    GROUP BY e.currency, p.kind
""")
_BALANCE = text("""
    SELECT currency, sum(amount) FROM ledger_entries
    WHERE account = :payable AND booked_at < :end GROUP BY currency
""")


@router.get("/merchants/me/statement", response_model=StatementOut)
async def statement(merchant: CurrentMerchant, session: DBSession,
                    month: Annotated[Text, Query(description="YYYY-MM (UTC)")]) -> StatementOut:
    """What the merchant owes for a month: commissions accrued and taken back in it, split
    into the influencers' earnings and the platform's fees, from the ledger."""
    matched = MONTH.match(month)
    if matched is None:
        raise InvalidInput("month must be YYYY-MM", field="month")
    year, number = int(matched[1]), int(matched[2])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    payable = ledger.merchant_payable(merchant.id)
    sums: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for row in await session.execute(_STATEMENT, {
            "payable": payable, "platform": ledger.PLATFORM_REVENUE,
            "merchant_id": merchant.id, "start": start, "end": end}):
        kind = "reversal" if row.kind == "reversal" else "accrual"
        total = sums[row.currency][kind]
        for index, value in enumerate((row.merchant, row.influencers, row.platform,
                                       row.postings)):
            total[index] += int(value)
    balances = {currency: int(amount) for currency, amount in await session.execute(
        _BALANCE, {"payable": payable, "end": end})}
    totals = []
    for currency in sorted(set(sums) | set(balances)):
        accrued, taken = sums[currency]["accrual"], sums[currency]["reversal"]

        def m(minor: int, currency: str = currency) -> str:
            return format_minor(minor, currency)

        totals.append(StatementTotals(
            currency=currency, commissions=m(-accrued[0]), influencer_earnings=m(accrued[1]),
            platform_fees=m(accrued[2]), reversals=m(taken[0]),
            reversed_influencer_earnings=m(-taken[1]), reversed_platform_fees=m(-taken[2]),
            amount_owed=m(-(accrued[0] + taken[0])),
            balance_owed=m(-balances.get(currency, 0)), postings=accrued[3] + taken[3]))
    return StatementOut(merchant_id=merchant.id, month=month, period_start=start,
                        period_end=end, totals=totals)
