"""Conversions in: store and network webhooks, the generic postback, Amazon report uploads,
Amazon tracking ids, and the admin view of the inbox."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.accounts.deps import AdminUser, CurrentMerchant, MerchantOrAdminUser
from skinstack.accounts.service import ProfileRequired, require_merchant
from skinstack.compliance import audit
from skinstack.conversions import normalise
from skinstack.db import DBSession, add_unique
from skinstack.errors import AppError, Conflict, InvalidInput, NotFound, problems
from skinstack.kit.pagination import Page, PageParams, page_of, page_params, paginate
from skinstack.models import AmazonTrackingId, Influencer, MerchantIntegration, WebhookEvent
from skinstack.webhooks import intake, tasks
from skinstack.webhooks.schemas import (
    DeliveryOut,
    EventOut,
    EventSummaryOut,
    ReportAccepted,
    TrackingIdIn,
    TrackingIdOut,
)
from skinstack.worker.queue import defer_in_transaction

router = APIRouter(tags=["conversions in"])
# The four delivery routes below describe their paths in the OpenAPI document; served through
# skinstack.app.asgi(), deliveries are answered by webhooks.lane in front of FastAPI, with the
# same intake.accept() and answer().

AMAZON_IMPORT_PATH = "/api/v1/imports/amazon"
AMAZON_REPORT_MAX_BYTES = 32 * 1024 * 1024
SIGNED = {401: {"description": "Unknown account, or a missing or wrong signature"},
          413: {"description": "Body over 1 MiB"},
          422: {"description": "A required header or parameter is missing or not valid"}}


def answer(accepted: intake.Accepted) -> DeliveryOut:
    if accepted.duplicate:
        return DeliveryOut(status="duplicate")
    return DeliveryOut(status="accepted", event_id=accepted.event_id)


@router.post("/webhooks/shopify", response_model=DeliveryOut, responses=SIGNED)
async def shopify_webhook(request: Request, session: DBSession) -> DeliveryOut:
    """Shopify's `orders/create`, `orders/paid`, `orders/cancelled` and `refunds/create`,
    signed with the store's webhook secret (`X-Shopify-Hmac-Sha256`)."""
    return answer(await intake.accept(intake.shopify, session, request.headers,
                                       await request.body()))


@router.post("/webhooks/impact", response_model=DeliveryOut, responses=SIGNED)
async def impact_webhook(request: Request, session: DBSession) -> DeliveryOut:
    """Impact action postbacks (form-encoded or JSON), HTTP Basic with the account SID and the
    integration's secret."""
    return answer(await intake.accept(intake.impact, session, request.headers,
                                       await request.body()))


@router.post("/webhooks/refersion", response_model=DeliveryOut, responses=SIGNED)
async def refersion_webhook(request: Request, session: DBSession) -> DeliveryOut:
    """Refersion conversion webhooks: `Refersion-Public-Key` names the integration,
    `Refersion-Signature` is the base64 HMAC-SHA256 of the body."""
    return answer(await intake.accept(intake.refersion, session, request.headers,
                                       await request.body()))


@router.post("/postback", response_model=DeliveryOut, responses=SIGNED)
async def generic_postback(request: Request, session: DBSession) -> DeliveryOut:
    """Server-to-server postback, form-encoded or a JSON object of strings: `key`,
    `timestamp` (Unix seconds, within 300 s), `order_id`, `amount`, `currency`, `event`
    (conversion | refund | reversal), optional `event_id`, `click_id`, `device_id`, `coupon`,
    `email`, `occurred_at`; `signature` = hex HMAC-SHA256 over the other parameters sorted by
    name, each `name=value` percent-encoded, joined with `&`."""
    return answer(await intake.accept(intake.postback, session, request.headers,
                                       await request.body()))


# --- Amazon ---------------------------------------------------------------------------------

class AmazonNotConnected(AppError):
    status, title, code = 409, "Conflict", "amazon_not_connected"


async def amazon_sender(session: AsyncSession, merchant_id: uuid.UUID) -> intake.Sender:
    row = (await session.execute(
        select(MerchantIntegration.id, MerchantIntegration.account_id,
               MerchantIntegration.secret_encrypted).where(
            MerchantIntegration.merchant_id == merchant_id,
            MerchantIntegration.type == "amazon", MerchantIntegration.is_active))).first()
    if row is None:
        raise AmazonNotConnected("Connect the Amazon Associates integration first "
                                 "(POST /api/v1/merchants/me/integrations, type amazon).")
    return intake.Sender(integration_id=row.id, merchant_id=merchant_id,
                         account_id=row.account_id, secret="",
                         secret_encrypted=row.secret_encrypted)


async def accept_amazon_report(session: AsyncSession, *, merchant_id: uuid.UUID, body: bytes,
                               filename: str = "upload") -> tuple[intake.Accepted,
                                                                  normalise.Normalised]:
    """Checks the report now (so a wrong file is refused at once) and stores it in the inbox;
    the same file again is a duplicate."""
    if not body.strip():
        raise InvalidInput("the report is empty", field="body")
    try:
        parsed = normalise.amazon_report(tasks.decode_report(body))
    except normalise.Unprocessable as exc:
        raise InvalidInput(str(exc), field="body") from None
    sender = await amazon_sender(session, merchant_id)
    accepted = await intake.store(
        session, source="amazon", external_id=f"{merchant_id}:{intake.body_digest(body)}",
        sender=sender, topic="earnings_report",
        headers={"content-type": "text/csv", "x-filename": filename[:200]}, body=body)
    return accepted, parsed


@router.post(AMAZON_IMPORT_PATH, response_model=ReportAccepted, status_code=202,
             responses=problems(AmazonNotConnected, ProfileRequired),
             openapi_extra={"requestBody": {
                 "description": "An Amazon Associates earnings report as exported (CSV or "
                                "tab-separated, title row allowed).",
                 "content": {"text/csv": {}}}})
async def import_amazon_report(
    request: Request, response: Response, user: MerchantOrAdminUser, session: DBSession,
    merchant_id: Annotated[uuid.UUID | None, Query(
        description="Whose report it is (admins only; merchants import their own).")] = None,
) -> ReportAccepted:
    if user.role == "merchant":
        merchant_id = (await require_merchant(session=session, user=user)).id
    elif merchant_id is None:
        raise InvalidInput("merchant_id is required for admins", field="merchant_id",
                           location="query")
    accepted, parsed = await accept_amazon_report(session, merchant_id=merchant_id,
                                                  body=await request.body())
    if accepted.duplicate:
        response.status_code = status.HTTP_200_OK
    return ReportAccepted(**answer(accepted).model_dump(), orders=len(parsed.orders),
                          returns=len(parsed.adjustments))


class TrackingIdTaken(Conflict):
    code = "tracking_id_taken"


@router.post("/api/v1/merchants/me/amazon-tracking-ids", response_model=TrackingIdOut,
             status_code=201, responses=problems(TrackingIdTaken))
async def add_tracking_id(data: TrackingIdIn, merchant: CurrentMerchant,
                          session: DBSession) -> TrackingIdOut:
    """Names the influencer behind one of the merchant's Amazon tracking ids."""
    if await session.get(Influencer, data.influencer_id) is None:
        raise InvalidInput("no such influencer", field="influencer_id")
    row = AmazonTrackingId(merchant_id=merchant.id, tracking_id=data.tracking_id,
                           influencer_id=data.influencer_id)
    await add_unique(session, row, conflicts={
        "uq_amazon_tracking_ids_merchant_id_tracking_id": TrackingIdTaken(
            "That tracking id is already assigned.")})
    await session.refresh(row)
    return TrackingIdOut.model_validate(row)


@router.get("/api/v1/merchants/me/amazon-tracking-ids", response_model=list[TrackingIdOut])
async def list_tracking_ids(merchant: CurrentMerchant, session: DBSession
                            ) -> list[TrackingIdOut]:
    rows = await session.scalars(select(AmazonTrackingId).where(
        AmazonTrackingId.merchant_id == merchant.id).order_by(AmazonTrackingId.tracking_id))
    return [TrackingIdOut.model_validate(row) for row in rows]


@router.delete("/api/v1/merchants/me/amazon-tracking-ids/{tracking_id_id:uuid}", status_code=204)
async def delete_tracking_id(tracking_id_id: uuid.UUID, merchant: CurrentMerchant,
                             session: DBSession) -> Response:
    deleted = await session.execute(delete(AmazonTrackingId).where(
        AmazonTrackingId.id == tracking_id_id, AmazonTrackingId.merchant_id == merchant.id
    ).returning(AmazonTrackingId.id))
    if deleted.first() is None:
        raise NotFound("No such tracking id.")
    return Response(status_code=204)


# --- the inbox, for admins ------------------------------------------------------------------

EventStatus = Literal["pending", "handled", "failed", "dead"]


@router.get("/api/v1/admin/webhook-events", response_model=Page[EventSummaryOut])
async def list_events(
    _admin: AdminUser, session: DBSession, page: Annotated[PageParams, Depends(page_params)],
    status: EventStatus | None = None,
    source: Literal["shopify", "impact", "refersion", "postback", "amazon"] | None = None,
) -> Page[EventSummaryOut]:
    """Newest first."""
    statement = select(WebhookEvent)
    if status:
        statement = statement.where(WebhookEvent.status == status)
    if source:
        statement = statement.where(WebhookEvent.source == source)
    rows = (await session.scalars(
        paginate(statement, page, (WebhookEvent.received_at, WebhookEvent.id)))).all()
    items, next_cursor = page_of(rows, page, lambda row: (row.received_at, row.id))
    return Page(items=[EventSummaryOut.model_validate(row) for row in items],
                next_cursor=next_cursor)


async def _event(session: AsyncSession, event_id: uuid.UUID) -> WebhookEvent:
    event = await session.get(WebhookEvent, event_id)
    if event is None:
        raise NotFound("No such event.")
    return event


@router.get("/api/v1/admin/webhook-events/{event_id:uuid}", response_model=EventOut)
async def get_event(event_id: uuid.UUID, _admin: AdminUser, session: DBSession) -> EventOut:
    event = await _event(session, event_id)
    return EventOut.model_validate(
        EventSummaryOut.model_validate(event).model_dump()
        | {"headers": event.headers, "body": event.body.decode("utf-8", errors="replace")})


class NotReplayable(Conflict):
    code = "not_replayable"


@router.post("/api/v1/admin/webhook-events/{event_id:uuid}/replay", response_model=EventSummaryOut,
             status_code=202, responses=problems(NotReplayable))
async def replay_event(event_id: uuid.UUID, _admin: AdminUser,
                       session: DBSession) -> EventSummaryOut:
    """Puts a failed or dead event back in the queue with fresh attempts."""
    event = await _event(session, event_id)
    previous = event.status
    replayed = await session.execute(
        update(WebhookEvent).where(WebhookEvent.id == event.id,
                                   WebhookEvent.status.in_(("failed", "dead")))
        .values(status="pending", attempts=0).returning(WebhookEvent.id))
    if replayed.first() is None:
        raise NotReplayable(f"Only failed or dead events can be replayed; this one is "
                            f"{previous}.")
    await defer_in_transaction(session, task=intake.PROCESS_TASK, queue=intake.QUEUE,
                               args={"event_id": str(event.id)})
    audit.record(session.sync_session, action="webhook_event.replay",
                 resource_type="webhook_events", resource_id=event.id,
                 changes={"status": [previous, "pending"]})
    await session.refresh(event)
    return EventSummaryOut.model_validate(event)
