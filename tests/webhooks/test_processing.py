"""Processing: retries with one effect, dead events, admin replay, the real worker, and the
conversions API."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from skinstack.conversions import service as conversions
from skinstack.models import (
    ORDER_SOURCES,
    Conversion,
    ConversionStatus,
    EventStatus,
    IntegrationType,
    Role,
    WebhookEvent,
    WebhookSource,
)
from skinstack.webhooks import service, tasks
from skinstack.worker.queue import connected, run_worker
from tests import factories
from tests.conftest import live_app
from tests.factories import Shop, order, refund, rows_of


async def pending_event(session: AsyncSession) -> WebhookEvent:
    return await session.scalar(select(WebhookEvent).order_by(WebhookEvent.received_at.desc()))


async def test_a_job_that_fails_twice_then_succeeds_has_one_effect(
        client: httpx.AsyncClient, session: AsyncSession,
        sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    placed = order()
    await shop.send(client, "orders/create", placed)
    event = await pending_event(session)
    real_apply, calls = conversions.apply_many, []

    async def flaky(*args, **kwargs):
        calls.append(1)
        result = await real_apply(*args, **kwargs)  # writes, then fails: must roll back
        if len(calls) <= 2:
            raise ConnectionError("database went away")
        return result

    monkeypatch.setattr(conversions, "apply_many", flaky)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await tasks.run_event(sessionmaker, event.id)
        await session.refresh(event)
        assert event.status == "pending" and "database went away" in event.last_error
    assert await tasks.run_event(sessionmaker, event.id) == "handled"
    assert await tasks.run_event(sessionmaker, event.id) == "handled"  # a stray re-run: no-op
    await session.refresh(event)
    assert (event.status, event.attempts, event.last_error) == ("handled", 3, None)
    assert len(calls) == 3
    assert len(await rows_of(session, Conversion, shop.account)) == 1


async def test_the_last_attempt_makes_an_event_dead_and_an_admin_replays_it(
        client: httpx.AsyncClient, session: AsyncSession, admin: factories.Account,
        sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    await shop.send(client, "orders/create", order())
    event = await pending_event(session)

    async def broken(*args, **kwargs):
        raise RuntimeError("still broken")

    monkeypatch.setattr(conversions, "apply_many", broken)
    for _ in range(tasks.MAX_ATTEMPTS - 1):
        with pytest.raises(RuntimeError):
            await tasks.run_event(sessionmaker, event.id)
    assert await tasks.run_event(sessionmaker, event.id) == "dead"
    monkeypatch.undo()

    listed = await client.get("/api/v1/admin/webhook-events", params={"status": "dead"},
                              headers=admin.headers)
    assert [item["id"] for item in listed.json()["items"]] == [str(event.id)]
    detail = (await client.get(f"/api/v1/admin/webhook-events/{event.id}",
                               headers=admin.headers)).json()
    assert detail["attempts"] == tasks.MAX_ATTEMPTS and "still broken" in detail["last_error"]
    assert json.loads(detail["body"])["id"] and "x-shopify-hmac-sha256" not in detail["headers"]

    merchant_view = await client.get(f"/api/v1/admin/webhook-events/{event.id}",
                                     headers=shop.account.headers)
    assert merchant_view.status_code == 403
    replayed = await client.post(f"/api/v1/admin/webhook-events/{event.id}/replay",
                                 headers=admin.headers)
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    jobs = await session.scalar(text(
        "SELECT count(*) FROM procrastinate_jobs WHERE args->>'event_id' = :id"),
        {"id": str(event.id)})
    assert jobs == 2  # the original and the replay
    assert await tasks.run_event(sessionmaker, event.id) == "handled"
    again = await client.post(f"/api/v1/admin/webhook-events/{event.id}/replay",
                              headers=admin.headers)
    assert again.status_code == 409
    missing = await client.get(f"/api/v1/admin/webhook-events/{uuid.uuid4()}",
                               headers=admin.headers)
    assert missing.status_code == 404


async def test_the_real_worker_processes_what_the_endpoint_accepted(database_url: str) -> None:
    async with live_app(database_url) as (app, client):
        shop = await Shop.connect(client, await factories.merchant(client))
        placed = order()
        assert (await shop.send(client, "orders/create", placed)).status_code == 200
        assert (await shop.send(client, "refunds/create", refund(placed["id"]))).status_code == 200
        job_app = connected(database_url)
        async with job_app.open_async():
            await run_worker(job_app, wait=False, sessionmaker=app.state.sessionmaker,
                             concurrency=2)
        async with app.state.sessionmaker() as session:
            conversion = await session.scalar(select(Conversion).where(
                Conversion.order_id == str(placed["id"])))
            assert conversion is not None and conversion.total == 40994
            statuses = (await session.scalars(select(WebhookEvent.status).where(
                WebhookEvent.merchant_id == conversion.merchant_id))).all()
            assert statuses == ["handled", "handled"]


async def test_conversions_api_shows_merchants_their_own(client: httpx.AsyncClient,
                                                         session: AsyncSession,
                                                         admin: factories.Account) -> None:
    mine = await Shop.connect(client, await factories.merchant(client))
    theirs = await Shop.connect(client, await factories.merchant(client))
    placed = order()
    await mine.send(client, "orders/create", placed)
    await mine.send(client, "refunds/create", refund(placed["id"]))
    await theirs.send(client, "orders/create", order())
    for shop in (mine, theirs):
        for event in await rows_of(session, WebhookEvent, shop.account):
            await service.process_events(session, [event.id])

    page = (await client.get("/api/v1/conversions", headers=mine.account.headers)).json()
    assert [item["order_id"] for item in page["items"]] == [str(placed["id"])]
    item = page["items"][0]
    assert (item["subtotal"], item["total"], item["currency"]) == ("398.00", "409.94", "USD")
    assert item["adjustments"] == [{"kind": "refund", "amount": "398.00",
                                    "occurred_at": item["adjustments"][0]["occurred_at"]}]
    assert item["attributions"] == [] and item["line_items"][0]["unit_price"] == "199.00"
    everything = (await client.get("/api/v1/conversions", headers=admin.headers,
                                   params={"limit": 1})).json()
    assert len(everything["items"]) == 1 and everything["next_cursor"]
    creator, _ = await factories.influencer(client)
    assert (await client.get("/api/v1/conversions",
                             headers=creator.headers)).status_code == 403


async def test_the_conversions_list_filters_by_conversion_status(
        client: httpx.AsyncClient, session: AsyncSession) -> None:
    shop = await Shop.connect(client, await factories.merchant(client))
    kept, cancelled = order(), order()
    await shop.send(client, "orders/create", kept)
    await shop.send(client, "orders/create", cancelled)
    await shop.send(client, "orders/cancelled",
                    cancelled | {"cancelled_at": "2008-01-11T11:00:00-05:00"})
    for event in await rows_of(session, WebhookEvent, shop.account):
        await service.process_events(session, [event.id])

    async def listed(**params: str) -> httpx.Response:
        return await client.get("/api/v1/conversions", headers=shop.account.headers,
                                params=params)

    for status, expected in ((ConversionStatus.cancelled, cancelled),
                             (ConversionStatus.open, kept)):
        page = (await listed(status=status.value)).json()
        assert [(item["order_id"], item["status"]) for item in page["items"]] == [
            (str(expected["id"]), status.value)], status
    assert len((await listed(source=WebhookSource.shopify.value)).json()["items"]) == 2
    unknown = await listed(status="closed")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["loc"] == ["query", "status"]


async def test_the_vocabularies_are_the_databases(session: AsyncSession) -> None:
    """The StrEnums the code uses and the migrated check constraints name the same values."""
    for constraint, vocabulary in (("ck_webhook_events_status", EventStatus),
                                   ("ck_webhook_events_source", WebhookSource),
                                   ("ck_conversions_status", ConversionStatus),
                                   ("ck_conversions_source", ORDER_SOURCES),
                                   ("ck_users_role", Role),
                                   ("ck_merchant_integrations_type", IntegrationType)):
        definition = await session.scalar(text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name"),
            {"name": constraint})
        assert re.findall(r"'([^']*)'", definition) == list(vocabulary), definition
