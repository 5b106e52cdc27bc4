"""Shopify webhooks through the real app: verification, the inbox, processing, exactly once."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.kit import crypto, ids
from skinstack.models import Conversion, ConversionAdjustment, MerchantIntegration, WebhookEvent
from skinstack.webhooks.service import process_events
from skinstack.webhooks.tasks import run_event
from tests import factories
from tests.conftest import live_app
from tests.factories import Shop, fixture, order, refund, rows_of, shopify_signature


async def events(session: AsyncSession, shop: Shop) -> list[WebhookEvent]:
    return await rows_of(session, WebhookEvent, shop.account)


async def handle_all(session: AsyncSession) -> None:
    for event in await session.scalars(select(WebhookEvent.id).where(
            WebhookEvent.status == "pending").order_by(WebhookEvent.received_at)):
        await process_events(session, [event])


async def conversion_of(session: AsyncSession, order_id: object) -> Conversion:
    return await session.scalar(select(Conversion).where(Conversion.order_id == str(order_id)))


async def test_real_order_is_stored_raw_then_normalised(client: httpx.AsyncClient,
                                                         session: AsyncSession) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    body = fixture("shopify_orders_create_2025-01.json")
    response = await shop.send(client, "orders/create", body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "accepted"

    event = await session.get(WebhookEvent, uuid.UUID(response.json()["event_id"]))
    assert event.body == body and event.status == "pending" and event.topic == "orders/create"
    assert "x-shopify-hmac-sha256" not in event.headers
    assert event.headers["x-shopify-shop-domain"] == shop.domain
    jobs = (await session.execute(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'process_webhook_event'"
        " AND args->>'event_id' = :id"), {"id": str(event.id)})).scalar_one()
    assert jobs == 1  # enqueued in the same transaction

    await process_events(session, [event.id])
    conversion = await conversion_of(session, 820982911946154508)
    assert (conversion.currency, conversion.total, conversion.discounts) == ("USD", 38800, 2000)
    assert conversion.shipping == 1000 and conversion.tax == 0
    assert conversion.status == "cancelled"  # the sample order is cancelled and voided
    assert [(line["sku"], line["quantity"], line["unit_price"])
            for line in conversion.line_items][:1] == [("IPOD2008PINK", 1, 19900)]
    assert conversion.customer_hash == crypto.keyed_hash("email:jon@example.com")
    assert "jon@example.com" not in json.dumps(
        {c.name: str(getattr(conversion, c.name)) for c in Conversion.__table__.c})
    await session.refresh(event)
    assert event.status == "handled" and event.attempts == 1


async def test_the_click_id_comes_back_through_landing_site(client: httpx.AsyncClient,
                                                             session: AsyncSession) -> None:
    world = await factories.linked_world(client)
    shop = await Shop.connect(client, world["merchant"])
    click_bytes, click_id = ids.new_click_id()
    click_uuid = uuid.UUID(bytes=click_bytes)
    full_url = order(landing_site=f"https://glowlabs.example.com/p?utm_source=x&aff_sub={click_id}")
    bare_path = order(landing_site=None, note_attributes=[{"name": "aff_sub",
                                                           "value": click_id}])
    for payload in (full_url, bare_path):
        assert (await shop.send(client, "orders/paid", payload)).status_code == 200
    await handle_all(session)
    for payload in (full_url, bare_path):
        conversion = await conversion_of(session, payload["id"])
        assert conversion.click_ref == click_id and conversion.click_id == click_uuid
        assert conversion.discount_codes == ["TENOFF"]
        # The merchant's only program on the Shopify network.
        assert str(conversion.program_id) == world["program"]["id"]


async def test_twenty_deliveries_in_sequence_make_one_event_and_one_conversion(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    payload = order()
    body = json.dumps(payload).encode()
    answers = []
    for _ in range(20):
        response = await client.post("/webhooks/shopify", content=body, headers=shop.headers(
            "orders/create", body, webhook_id="delivery-1-" + shop.domain))
        answers.append(response.json()["status"])
    assert answers == ["accepted"] + ["duplicate"] * 19
    await handle_all(session)
    await handle_all(session)
    assert len(await events(session, shop)) == 1
    assert len(await rows_of(session, Conversion, shop.account)) == 1


async def test_forgeries_get_401_and_leave_no_row(client: httpx.AsyncClient,
                                                  session: AsyncSession) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    payload = order()
    body = json.dumps(payload, indent=2).encode()
    reserialised = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    attempts = [
        shop.headers("orders/create", body, signature=shopify_signature("wrong", body)),
        shop.headers("orders/create", body, signature=shopify_signature(shop.secret,
                                                                        reserialised)),
        {k: v for k, v in shop.headers("orders/create", body).items()
         if k != "X-Shopify-Hmac-Sha256"},
        shop.headers("orders/create", body) | {"X-Shopify-Shop-Domain": "other.myshopify.com"},
        shop.headers("orders/create", body) | {"X-Shopify-Hmac-Sha256": "not base64!"},
    ]
    for headers in attempts:
        response = await client.post("/webhooks/shopify", content=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert await events(session, shop) == []


async def test_an_empty_secret_never_verifies(client: httpx.AsyncClient,
                                              session: AsyncSession) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    row = await session.scalar(select(MerchantIntegration).where(
        MerchantIntegration.shop_domain == shop.domain))
    row.secret_encrypted = crypto.encrypt("")
    await session.commit()
    shop.secret = ""
    body = json.dumps(order()).encode()
    response = await client.post("/webhooks/shopify", content=body,
                                 headers=shop.headers("orders/create", body))
    assert response.status_code == 401
    assert await events(session, shop) == []


async def test_a_changed_or_switched_off_integration_stops_verifying_at_once(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    """Senders are cached per process, but never trusted past what is stored."""
    shop = await Shop.connect(client, await factories.merchant(client))
    assert (await shop.send(client, "orders/create", order())).json()["status"] == "accepted"
    row = await session.scalar(select(MerchantIntegration).where(
        MerchantIntegration.shop_domain == shop.domain))
    row.secret_encrypted = crypto.encrypt("shpss_rotated")
    await session.commit()
    old = await shop.send(client, "orders/create", order())  # verifies with the cached secret
    assert old.status_code == 401
    shop.secret = "shpss_rotated"
    assert (await shop.send(client, "orders/create", order())).json()["status"] == "accepted"
    row.is_active = False
    await session.commit()
    assert (await shop.send(client, "orders/create", order())).status_code == 401
    assert len(await events(session, shop)) == 2


async def test_refund_before_its_order_waits_then_applies(client: httpx.AsyncClient,
                                                          session: AsyncSession) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    placed = order()
    money_back = refund(placed["id"])
    assert (await shop.send(client, "refunds/create", money_back)).status_code == 200
    await handle_all(session)
    [waiting] = await rows_of(session, ConversionAdjustment, shop.account)
    assert waiting.conversion_id is None and waiting.amount == 39800 and waiting.kind == "refund"

    assert (await shop.send(client, "orders/create", placed)).status_code == 200
    await handle_all(session)
    conversion = await conversion_of(session, placed["id"])
    await session.refresh(waiting)
    assert waiting.conversion_id == conversion.id
    assert conversion.total == 40994 and conversion.status == "open"


async def test_orders_paid_after_refunds_changes_no_amount(client: httpx.AsyncClient,
                                                            session: AsyncSession) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    placed = order(financial_status="pending")
    await shop.send(client, "orders/create", placed)
    await shop.send(client, "refunds/create", refund(placed["id"]))
    await handle_all(session)
    await shop.send(client, "orders/paid", placed | {"financial_status": "paid",
                                                     "total_price": "999.00"})
    await handle_all(session)
    conversion = await conversion_of(session, placed["id"])
    assert conversion.total == 40994  # as first reported; money taken back is an adjustment
    assert conversion.financial_status == "paid" and conversion.status == "open"
    adjustments = await rows_of(session, ConversionAdjustment, shop.account)
    assert [(a.kind, a.amount, a.conversion_id) for a in adjustments] == [
        ("refund", 39800, conversion.id)]


async def test_cancellation_is_a_full_reversal(client: httpx.AsyncClient,
                                               session: AsyncSession) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    placed = order()
    await shop.send(client, "orders/create", placed)
    await shop.send(client, "orders/cancelled",
                    placed | {"cancelled_at": "2008-01-11T11:00:00-05:00"})
    await handle_all(session)
    conversion = await conversion_of(session, placed["id"])
    [adjustment] = await rows_of(session, ConversionAdjustment, shop.account)
    assert conversion.status == "cancelled"
    assert (adjustment.kind, adjustment.amount, adjustment.conversion_id) == (
        "cancellation", None, conversion.id)


async def test_oversize_and_malformed_bodies(
        client: httpx.AsyncClient, session: AsyncSession,
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    huge = b'{"id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post("/webhooks/shopify", content=huge,
                                 headers=shop.headers("orders/create", huge))
    assert response.status_code == 413
    assert await events(session, shop) == []

    broken = b'{"id": 12, "total_price": '
    response = await shop.send(client, "orders/create", broken)
    assert response.status_code == 200
    event = (await events(session, shop))[0]
    assert event.body == broken
    await run_event(sessionmaker, event.id)
    await session.refresh(event)
    assert event.status == "failed" and "not valid JSON" in event.last_error
    assert await rows_of(session, Conversion, shop.account) == []


async def test_concurrent_deliveries_make_one_event(database_url: str) -> None:
    async with live_app(database_url) as (app, client):
        shop = await Shop.connect(client, await factories.merchant(client))
        payload = order()
        body = json.dumps(payload).encode()
        headers = shop.headers("orders/create", body, webhook_id=f"concurrent-{shop.domain}")
        responses = await asyncio.gather(*(
            client.post("/webhooks/shopify", content=body, headers=headers) for _ in range(20)))
        assert sorted(r.json()["status"] for r in responses) == ["accepted"] + ["duplicate"] * 19
        async with app.state.sessionmaker() as session:
            stored = (await session.scalars(select(WebhookEvent).where(
                WebhookEvent.external_id == f"concurrent-{shop.domain}"))).all()
            assert len(stored) == 1
            # Ten workers on the same event: one conversion.
            await asyncio.gather(*(run_event(app.state.sessionmaker, stored[0].id)
                                   for _ in range(10)))
            count = await session.scalar(select(func.count()).select_from(Conversion).where(
                Conversion.order_id == str(payload["id"])))
            assert count == 1
