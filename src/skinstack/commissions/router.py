"""Commissions: lists for each kind of reader, approval and rejection, the merchant's monthly
statement."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from skinstack.accounts.deps import CurrentMerchant, CurrentReader, MerchantOrAdminReader
from skinstack.accounts.reader import Reader
from skinstack.commissions import repository, service
from skinstack.commissions.schemas import (
    CommissionOut,
    RejectIn,
    ReversalOut,
    StatementOut,
    StatementTotals,
)
from skinstack.compliance import audit
from skinstack.db import DBSession
from skinstack.errors import NotFound, problems
from skinstack.kit.money import format_minor
from skinstack.kit.pagination import Page, PageParams, page_of, page_params
from skinstack.kit.schemas import Text
from skinstack.models import Commission, CommissionStatus, Reversal, Role

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


@router.get("/commissions", response_model=Page[CommissionOut])
async def list_commissions(
    reader: CurrentReader, session: DBSession,
    page: Annotated[PageParams, Depends(page_params)],
    status: CommissionStatus | None = None,
    program_id: uuid.UUID | None = None,
    merchant_id: Annotated[uuid.UUID | None, Query(description="Admins only.")] = None,
    influencer_id: Annotated[uuid.UUID | None, Query(description="Admins only.")] = None,
) -> Page[CommissionOut]:
    """Influencers: their own; merchants: those of their programs; admins: all. Newest
    first."""
    admin = reader.role == Role.admin
    rows = await repository.list_readable(
        session, reader, page, status=status, program_id=program_id,
        merchant_id=merchant_id if admin else None, influencer_id=influencer_id if admin else None)
    items, next_cursor = page_of(rows, page, lambda row: (row[0].created_at, row[0].id))
    return Page(items=[commission_view(row[0], row[1]) for row in items],
                next_cursor=next_cursor)


async def _visible(session: DBSession, reader: Reader, commission_id: uuid.UUID
                   ) -> tuple[Commission, str]:
    row = await repository.get_readable(session, reader, commission_id)
    if row is None:
        raise NotFound("No such commission.")
    return row[0], row[1]


async def _shown(session: DBSession, commission_id: uuid.UUID, order_id: str) -> CommissionOut:
    commission, reversals = await repository.with_reversals(session, commission_id)
    return commission_view(commission, order_id, reversals)


@router.get("/commissions/{commission_id:uuid}", response_model=CommissionOut,
            responses=problems(NotFound))
async def get_commission(commission_id: uuid.UUID, reader: CurrentReader,
                         session: DBSession) -> CommissionOut:
    """One commission with its reversals."""
    commission, order_id = await _visible(session, reader, commission_id)
    return await _shown(session, commission.id, order_id)


@router.post("/commissions/{commission_id:uuid}/approve", response_model=CommissionOut,
             responses=problems(NotFound, service.CommissionReversed))
async def approve_commission(commission_id: uuid.UUID, reader: MerchantOrAdminReader,
                             session: DBSession) -> CommissionOut:
    """The program's merchant or an admin approves a pending or held commission; approving
    again is not an error; a reversed commission answers 409."""
    commission, order_id = await _visible(session, reader, commission_id)
    before = commission.status
    after = await service.approve(session, commission.id, by=reader.user_id)
    if after.status != before:
        audit.record(session.sync_session, action="commission.approve",
                     resource_type="commissions", resource_id=commission.id,
                     changes={"status": [before, after.status]})
    return await _shown(session, commission.id, order_id)


@router.post("/commissions/{commission_id:uuid}/reject", response_model=CommissionOut,
             responses=problems(NotFound, service.CommissionPaid))
async def reject_commission(commission_id: uuid.UUID, data: RejectIn,
                            reader: MerchantOrAdminReader, session: DBSession) -> CommissionOut:
    """Reverses what is left of a commission not yet paid; rejecting again is not an error;
    a paid commission answers 409 (refund the order instead)."""
    commission, order_id = await _visible(session, reader, commission_id)
    before = commission.status
    after = await service.reject(session, commission.id, reason=data.reason)
    if after.status != before:
        audit.record(session.sync_session, action="commission.reject",
                     resource_type="commissions", resource_id=commission.id,
                     changes={"status": [before, after.status], "reason": data.reason})
    return await _shown(session, commission.id, order_id)


@router.get("/merchants/me/statement", response_model=StatementOut)
async def statement(merchant: CurrentMerchant, session: DBSession,
                    month: Annotated[Text, Query(description="YYYY-MM (UTC)")]) -> StatementOut:
    """What the merchant owes for a month: commissions accrued and taken back in it, split
    into the influencers' earnings and the platform's fees, from the ledger."""
    report = await service.statement(session, merchant.id, month)
    totals = []
    for total in report.totals:

        def money(minor: int, currency: str = total.currency) -> str:
            return format_minor(minor, currency)

        totals.append(StatementTotals(
            currency=total.currency, commissions=money(total.commissions),
            influencer_earnings=money(total.influencer_earnings),
            platform_fees=money(total.platform_fees), reversals=money(total.reversals),
            reversed_influencer_earnings=money(total.reversed_influencer_earnings),
            reversed_platform_fees=money(total.reversed_platform_fees),
            amount_owed=money(total.amount_owed), balance_owed=money(total.balance_owed),
            postings=total.postings))
    return StatementOut(merchant_id=merchant.id, month=month, period_start=report.start,
                        period_end=report.end, totals=totals)
