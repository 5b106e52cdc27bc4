"""Conversions in: store and network webhooks, the generic postback, Amazon report uploads,
Amazon tracking ids, and the admin view of the inbox. HTTP only: the rules are in
webhooks.intake (deliveries) and webhooks.service (everything else)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from skinstack.accounts.deps import AdminUser, CurrentMerchant, MerchantOrAdminUser
from skinstack.accounts.service import ProfileRequired
from skinstack.db import DBSession
from skinstack.errors import problems
from skinstack.kit.pagination import Page, PageParams, page_of, page_params
from skinstack.models import EventStatus, WebhookSource
from skinstack.webhooks import intake, service
from skinstack.webhooks.schemas import (
    DeliveryOut,
    EventOut,
    EventSummaryOut,
    ReportAccepted,
    TrackingIdIn,
    TrackingIdOut,
)

router = APIRouter(tags=["conversions in"])
# The delivery routes below describe their paths in the OpenAPI document; served through
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


@router.post("/webhooks/stripe", response_model=DeliveryOut, responses=SIGNED)
async def stripe_webhook(request: Request, session: DBSession) -> DeliveryOut:
    """Stripe's events about payouts' transfers (`transfer.reversed` returns the payout's
    money to the influencer's available balance; other types are kept and do nothing),
    signed with STRIPE_WEBHOOK_SECRET (`Stripe-Signature`, at most 300 s old)."""
    return answer(await intake.accept(intake.stripe, session, request.headers,
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


@router.post("/webhooks/paypal", response_model=DeliveryOut,
             responses=SIGNED | {503: {"description": "PayPal could not be asked to verify"}})
async def paypal_webhook(request: Request, session: DBSession) -> DeliveryOut:
    """PayPal's events about our payouts (`PAYMENT.PAYOUTS-ITEM.*`), verified by PayPal's
    verify-webhook-signature API with the `PAYPAL-TRANSMISSION-*`, `PAYPAL-CERT-URL` and
    `PAYPAL-AUTH-ALGO` headers and PAYPAL_WEBHOOK_ID; stored once per event id."""
    settings = request.app.state.settings
    return answer(await intake.paypal(session, request.headers, await request.body(),
                                      provider=request.app.state.paypal,
                                      webhook_id=settings.paypal_webhook_id))


# --- Amazon ---------------------------------------------------------------------------------

@router.post(AMAZON_IMPORT_PATH, response_model=ReportAccepted, status_code=202,
             responses=problems(service.AmazonNotConnected, ProfileRequired),
             openapi_extra={"requestBody": {
                 "description": "An Amazon Associates earnings report as exported (CSV or "
                                "tab-separated, title row allowed).",
                 "content": {"text/csv": {}}}})
async def import_amazon_report(
    request: Request, response: Response, user: MerchantOrAdminUser, session: DBSession,
    merchant_id: Annotated[uuid.UUID | None, Query(
        description="Whose report it is (admins only; merchants import their own).")] = None,
) -> ReportAccepted:
    owner = await service.report_owner(session=session, user=user, merchant_id=merchant_id)
    accepted, parsed = await service.accept_amazon_report(session=session, merchant_id=owner,
                                                          body=await request.body())
    if accepted.duplicate:
        response.status_code = status.HTTP_200_OK
    return ReportAccepted(**answer(accepted).model_dump(), orders=len(parsed.orders),
                          returns=len(parsed.adjustments))


@router.post("/api/v1/merchants/me/amazon-tracking-ids", response_model=TrackingIdOut,
             status_code=201, responses=problems(service.TrackingIdTaken))
async def add_tracking_id(data: TrackingIdIn, merchant: CurrentMerchant,
                          session: DBSession) -> TrackingIdOut:
    """Names the influencer behind one of the merchant's Amazon tracking ids."""
    row = await service.add_tracking_id(session=session, merchant_id=merchant.id,
                                        tracking_id=data.tracking_id,
                                        influencer_id=data.influencer_id)
    return TrackingIdOut.model_validate(row)


@router.get("/api/v1/merchants/me/amazon-tracking-ids", response_model=list[TrackingIdOut])
async def list_tracking_ids(merchant: CurrentMerchant, session: DBSession
                            ) -> list[TrackingIdOut]:
    rows = await service.list_tracking_ids(session=session, merchant_id=merchant.id)
    return [TrackingIdOut.model_validate(row) for row in rows]


@router.delete("/api/v1/merchants/me/amazon-tracking-ids/{tracking_id_id:uuid}", status_code=204)
async def delete_tracking_id(tracking_id_id: uuid.UUID, merchant: CurrentMerchant,
                             session: DBSession) -> Response:
    await service.delete_tracking_id(session=session, merchant_id=merchant.id,
                                     tracking_id_id=tracking_id_id)
    return Response(status_code=204)


# --- the inbox, for admins ------------------------------------------------------------------

@router.get("/api/v1/admin/webhook-events", response_model=Page[EventSummaryOut])
async def list_events(
    _admin: AdminUser, session: DBSession, page: Annotated[PageParams, Depends(page_params)],
    status: EventStatus | None = None, source: WebhookSource | None = None,
) -> Page[EventSummaryOut]:
    """Newest first."""
    rows = await service.list_events(session=session, page=page, status=status, source=source)
    items, next_cursor = page_of(rows, page, lambda row: (row.received_at, row.id))
    return Page(items=[EventSummaryOut.model_validate(row) for row in items],
                next_cursor=next_cursor)


@router.get("/api/v1/admin/webhook-events/{event_id:uuid}", response_model=EventOut)
async def get_event(event_id: uuid.UUID, _admin: AdminUser, session: DBSession) -> EventOut:
    event = await service.get_event(session=session, event_id=event_id)
    return EventOut.model_validate(
        EventSummaryOut.model_validate(event).model_dump()
        | {"headers": event.headers, "body": event.body.decode("utf-8", errors="replace")})


@router.post("/api/v1/admin/webhook-events/{event_id:uuid}/replay", response_model=EventSummaryOut,
             status_code=202, responses=problems(service.EventNotReplayable))
async def replay_event(event_id: uuid.UUID, _admin: AdminUser,
                       session: DBSession) -> EventSummaryOut:
    """Puts a failed or dead event back in the queue with fresh attempts."""
    event = await service.replay_event(session=session, event_id=event_id)
    return EventSummaryOut.model_validate(event)
