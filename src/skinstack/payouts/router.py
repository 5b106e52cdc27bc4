"""Payouts: batches (admins), the payouts each party may read, what an influencer's next payout
waits for."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse

from skinstack.accounts.deps import (
    AdminUser,
    CurrentInfluencer,
    InfluencerOrAdminReader,
)
from skinstack.compliance import audit
from skinstack.config import get_settings
from skinstack.db import DBSession
from skinstack.errors import NotFound, problems
from skinstack.kit.money import format_minor
from skinstack.kit.pagination import Page, PageParams, page_of, page_params
from skinstack.models import Payout, PayoutBatch, PayoutStatus, Role
from skinstack.payouts import repository, sender, service
from skinstack.payouts.schemas import (
    BatchIn,
    BatchOut,
    BatchPayoutOut,
    BatchSummaryOut,
    PayoutOut,
    RolledOverOut,
    SendOut,
    UpcomingOut,
)

router = APIRouter(prefix="/api/v1/payouts", tags=["payouts"])


def payout_view(payout: Payout) -> PayoutOut:
    def money(minor: int) -> str:
        return format_minor(minor, payout.currency)

    return PayoutOut(
        id=payout.id, batch_id=payout.batch_id, influencer_id=payout.influencer_id,
        period_start=payout.period_start, period_end=payout.period_end,
        commission_count=payout.commission_count, gross_amount=money(payout.gross_amount),
        platform_fees=money(payout.platform_fees),
        processing_fees=money(payout.processing_fees), net_amount=money(payout.net_amount),
        currency=payout.currency, payment_method=payout.payment_method,
        destination=payout.destination_hint, payment_reference=payout.payment_reference,
        status=payout.status, failed_reason=payout.failed_reason, attempts=payout.attempts,
        initiated_at=payout.initiated_at, completed_at=payout.completed_at,
        created_at=payout.created_at)


def _batch_payout(payout: Payout) -> BatchPayoutOut:
    view = payout_view(payout)
    return BatchPayoutOut(
        id=view.id, influencer_id=view.influencer_id, commission_count=view.commission_count,
        gross_amount=view.gross_amount, platform_fees=view.platform_fees,
        processing_fees=view.processing_fees, net_amount=view.net_amount,
        currency=view.currency, payment_method=view.payment_method, status=view.status)


def _rolled_over(plan: service.BatchPlan) -> list[RolledOverOut]:
    return [RolledOverOut(influencer_id=held.influencer_id, currency=held.currency,
                          amount=format_minor(held.amount, held.currency),
                          waiting_for=list(held.waiting_for), ready_at=held.ready_at)
            for held in plan.rolled_over]


async def _batch_view(session: DBSession, batch: PayoutBatch,
                      plan: service.BatchPlan | None = None) -> BatchOut:
    payouts = await repository.payouts_of(session, batch.id)
    return BatchOut(
        id=batch.id, status=batch.status, period_start=batch.period_start,
        period_end=batch.period_end, payout_count=batch.payout_count,
        created_at=batch.created_at, sent_at=batch.sent_at, completed_at=batch.completed_at,
        payouts=[_batch_payout(payout) for payout in payouts],
        rolled_over=_rolled_over(plan) if plan else [])


def _dry_run_view(plan: service.BatchPlan) -> BatchOut:
    def money(minor: int, currency: str) -> str:
        return format_minor(minor, currency)

    return BatchOut(
        id=None, status="dry_run", period_start=plan.period_start, period_end=plan.period_end,
        payout_count=len(plan.payouts), created_at=None, sent_at=None, completed_at=None,
        payouts=[BatchPayoutOut(
            id=None, influencer_id=p.influencer_id, commission_count=p.commission_count,
            gross_amount=money(p.gross, p.currency),
            platform_fees=money(p.platform_fees, p.currency),
            processing_fees=money(p.processing_fees, p.currency),
            net_amount=money(p.net, p.currency), currency=p.currency,
            payment_method=p.method, status=PayoutStatus.pending) for p in plan.payouts],
        rolled_over=_rolled_over(plan))


@router.post("/batches", response_model=BatchOut, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": BatchOut, "description": "A dry run: nothing written."}})
async def create_batch(data: BatchIn, admin: AdminUser, session: DBSession) -> BatchOut:
    """Pays every influencer whose unsettled balance in a currency, booked up to the period's
    end, reaches the minimum and whose payout details are complete; the rest rolls over.
    `dry_run: true` answers the same figures (200, `id: null`) and writes nothing."""
    batch, plan = await service.create_batch(
        session, period_start=data.period_start, period_end=data.period_end,
        settings=get_settings(), by=admin.id, dry_run=data.dry_run)
    if batch is None:
        view = _dry_run_view(plan)
        return JSONResponse(view.model_dump(mode="json"), status_code=200)  # type: ignore[return-value]
    audit.record(session.sync_session, action="payout_batch.create",
                 resource_type="payout_batches", resource_id=batch.id,
                 changes={"period": [str(data.period_start), str(data.period_end)],
                          "payouts": batch.payout_count})
    await session.refresh(batch)
    return await _batch_view(session, batch, plan)


@router.get("/batches", response_model=Page[BatchSummaryOut])
async def list_batches(_admin: AdminUser, session: DBSession,
                       page: Annotated[PageParams, Depends(page_params)]
                       ) -> Page[BatchSummaryOut]:
    """Newest first."""
    rows, next_cursor = page_of(await repository.list_batches(session, page), page)
    return Page(items=[BatchSummaryOut.model_validate(row, from_attributes=True)
                       for row in rows], next_cursor=next_cursor)


async def _batch(session: DBSession, batch_id: uuid.UUID) -> PayoutBatch:
    batch = await repository.get_batch(session, batch_id)
    if batch is None:
        raise NotFound("No such payout batch.")
    return batch


@router.get("/batches/{batch_id:uuid}", response_model=BatchOut, responses=problems(NotFound))
async def get_batch(batch_id: uuid.UUID, _admin: AdminUser, session: DBSession) -> BatchOut:
    return await _batch_view(session, await _batch(session, batch_id))


@router.post("/batches/{batch_id:uuid}/send", response_model=SendOut,
             responses=problems(NotFound))
async def send_batch(batch_id: uuid.UUID, admin: AdminUser, session: DBSession,
                     request: Request) -> SendOut:
    """Sends every payout of the batch not sent yet (Stripe transfers, one PayPal batch, the
    ACH file's payouts marked sent) and answers the batch. Safe to repeat, and to run from two
    places at once: each payout is claimed under a row lock and sent with its idempotency key;
    a payout whose provider was unavailable stays `sending` and is sent by the next run."""
    await _batch(session, batch_id)
    report = await sender.send_batch(request.app.state.sessionmaker, batch_id,
                                     providers=request.app.state.payout_providers)
    audit.record(session.sync_session, action="payout_batch.send",
                 resource_type="payout_batches", resource_id=batch_id,
                 changes={"results": dict(report.counts), "by": str(admin.id)})
    batch = await repository.get_batch(session, batch_id)
    assert batch is not None
    await session.refresh(batch)
    view = await _batch_view(session, batch)
    return SendOut(**view.model_dump(), sent=dict(report.counts))


@router.get("/batches/{batch_id:uuid}/ach", response_class=PlainTextResponse,
            responses={**problems(NotFound, service.AchFileNotReady),
                       200: {"content": {"text/plain": {}},
                             "description": "The NACHA file (94-character records)."}})
async def ach_file(batch_id: uuid.UUID, admin: AdminUser, session: DBSession
                   ) -> PlainTextResponse:
    """The batch's NACHA file for the bank: every ACH payout once its batch is sent; the same
    file on every download. Each download is audited (it holds account numbers)."""
    await _batch(session, batch_id)
    content = await service.ach_file(session, batch_id, settings=get_settings())
    audit.record(session.sync_session, action="payout_batch.ach_file",
                 resource_type="payout_batches", resource_id=batch_id,
                 changes={"by": str(admin.id)})
    return PlainTextResponse(content, headers={
        "Content-Disposition": f'attachment; filename="payouts-{batch_id}.ach"',
        "Cache-Control": "private, no-store"})


@router.post("/{payout_id:uuid}/confirm", response_model=PayoutOut,
             responses=problems(NotFound, service.PayoutNotConfirmable))
async def confirm_payout(payout_id: uuid.UUID, _admin: AdminUser,
                         session: DBSession) -> PayoutOut:
    """An admin confirms that the bank paid an ACH payout; confirming again is not an error."""
    payout = await service.confirm(session, payout_id)
    await session.refresh(payout)
    return payout_view(payout)


@router.get("", response_model=Page[PayoutOut])
async def list_payouts(reader: InfluencerOrAdminReader, session: DBSession,
                       page: Annotated[PageParams, Depends(page_params)],
                       status: PayoutStatus | None = None, batch_id: uuid.UUID | None = None,
                       influencer_id: uuid.UUID | None = None) -> Page[PayoutOut]:
    """Influencers: their own; admins: all (filters by batch and influencer). Newest first."""
    admin = reader.role == Role.admin
    rows = await repository.list_readable(
        session, reader, page, status=status, batch_id=batch_id,
        influencer_id=influencer_id if admin else None)
    items, next_cursor = page_of(rows, page)
    return Page(items=[payout_view(row) for row in items], next_cursor=next_cursor)


@router.get("/upcoming", response_model=list[UpcomingOut])
async def upcoming(influencer: CurrentInfluencer, session: DBSession) -> list[UpcomingOut]:
    """Per currency: the available balance, what the next batch would pay, the minimum, and
    what the payout waits for (empty when ready)."""
    result = []
    for next_ in await service.upcoming(session, influencer.id, settings=get_settings()):
        def money(minor: int, currency: str = next_.currency) -> str:
            return format_minor(minor, currency)

        result.append(UpcomingOut(
            currency=next_.currency, available=money(next_.available),
            next_amount=money(next_.unsettled), pending=money(next_.pending),
            minimum=money(next_.minimum), ready=next_.ready,
            waiting_for=list(next_.waiting_for), ready_at=next_.ready_at))
    return result


@router.get("/{payout_id:uuid}", response_model=PayoutOut, responses=problems(NotFound))
async def get_payout(payout_id: uuid.UUID, reader: InfluencerOrAdminReader,
                     session: DBSession) -> PayoutOut:
    payout = await repository.get_readable(session, reader, payout_id)
    if payout is None:
        raise NotFound("No such payout.")
    return payout_view(payout)
