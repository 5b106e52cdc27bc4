"""Batches: one job handles the events waiting in the queue with its own, finishes their jobs in
the same transaction, and a broken event costs the others nothing."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skinstack.conversions import service as conversions
from skinstack.models import Conversion, ConversionAdjustment, WebhookEvent
from skinstack.webhooks import tasks
from skinstack.worker.queue import connected, run_worker
from tests import factories
from tests.conftest import live_app
from tests.factories import Shop, order, refund, rows_of


async def drain(app: Any, database_url: str, *, concurrency: int = 1) -> None:
    """Runs the real worker until the queue is empty (other tests may have left jobs)."""
    job_app = connected(database_url)
    async with job_app.open_async():
        await run_worker(job_app, wait=False, sessionmaker=app.state.sessionmaker,
                         concurrency=concurrency)


async def job_statuses(session: AsyncSession, events: list[WebhookEvent]) -> dict[uuid.UUID, str]:
    rows = await session.execute(text(
        "SELECT CAST(args->>'event_id' AS uuid) AS event_id, status FROM procrastinate_jobs"
        " WHERE task_name = 'process_webhook_event' AND args->>'event_id' = ANY(:ids)"),
        {"ids": [str(event.id) for event in events]})
    return {row.event_id: row.status for row in rows}


async def test_one_job_handles_the_waiting_events_and_finishes_their_jobs(
        database_url: str) -> None:
    async with live_app(database_url) as (app, client):
        await drain(app, database_url)
        shop = await Shop.connect(client, await factories.merchant(client))
        placed = [order() for _ in range(4)]
        for payload in placed:
            assert (await shop.send(client, "orders/create", payload)).status_code == 200
        await shop.send(client, "refunds/create", refund(placed[0]["id"]))
        await shop.send(client, "orders/create", b'{"id": 12, "total_price": ')
        async with app.state.sessionmaker() as session:
            events = sorted(await rows_of(session, WebhookEvent, shop.account),
                            key=lambda event: event.received_at)
        first, broken = events[0], events[-1]

        outcome = await tasks.run_event(app.state.sessionmaker, first.id,
                                        batch=tasks.BATCH_SIZE)
        assert outcome == "handled"
        async with app.state.sessionmaker() as session:
            stored = {event.id: event for event in await rows_of(session, WebhookEvent,
                                                                  shop.account)}
            assert {stored[e.id].status for e in events[:-1]} == {"handled"}
            assert {stored[e.id].attempts for e in events[:-1]} == {1}
            assert stored[broken.id].status == "failed"
            assert "not valid JSON" in stored[broken.id].last_error
            # The claimed events' jobs were finished in the batch's transaction; the first
            # event's own job is still waiting (this test ran it outside the worker).
            jobs = await job_statuses(session, events)
            assert jobs.pop(first.id) == "todo"
            assert set(jobs.values()) == {"succeeded"}

            made = await rows_of(session, Conversion, shop.account)
            assert sorted(c.order_id for c in made) == sorted(str(p["id"]) for p in placed)
            (taken,) = await rows_of(session, ConversionAdjustment, shop.account)
            assert taken.conversion_id == next(c.id for c in made
                                               if c.order_id == str(placed[0]["id"]))

        await drain(app, database_url)  # the first event's own job: nothing left to do
        async with app.state.sessionmaker() as session:
            assert len(await rows_of(session, Conversion, shop.account)) == 4
            assert set((await job_statuses(session, events)).values()) == {"succeeded"}
            first_again = await session.get(WebhookEvent, first.id)
            assert first_again.attempts == 1


async def test_a_broken_event_leaves_the_batch_and_the_others_are_handled(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with live_app(database_url) as (app, client):
        await drain(app, database_url)
        shop = await Shop.connect(client, await factories.merchant(client))
        for _ in range(4):
            await shop.send(client, "orders/create", order())
        async with app.state.sessionmaker() as session:
            events = sorted(await rows_of(session, WebhookEvent, shop.account),
                            key=lambda event: event.received_at)
        first, broken = events[0], events[2]
        real_apply = conversions.apply_many
        seen: list[set[uuid.UUID | None]] = []

        async def breaks_on_one(session: AsyncSession, reports: list[conversions.Report]):
            seen.append({report.event_id for report in reports})
            if broken.id in seen[-1]:
                raise RuntimeError("this order breaks something")
            return await real_apply(session, reports)

        monkeypatch.setattr(conversions, "apply_many", breaks_on_one)
        assert await tasks.run_event(app.state.sessionmaker, first.id,
                                     batch=tasks.BATCH_SIZE) == "handled"
        # The batch failed as a whole; then each event went on its own.
        assert seen[0] == {event.id for event in events}
        assert seen[1:] == [{events[1].id}, {broken.id}, {events[3].id}, {first.id}]
        async with app.state.sessionmaker() as session:
            stored = {event.id: event for event in await rows_of(session, WebhookEvent,
                                                                  shop.account)}
            assert [stored[e.id].status for e in events] == ["handled", "handled", "pending",
                                                             "handled"]
            assert stored[broken.id].attempts == 1
            assert "this order breaks something" in stored[broken.id].last_error
            assert len(await rows_of(session, Conversion, shop.account)) == 3

        # A later batch leaves the attempted event to its own job.
        await shop.send(client, "orders/create", order())
        async with app.state.sessionmaker() as session:
            latest = max(await rows_of(session, WebhookEvent, shop.account),
                         key=lambda event: event.received_at)
        seen.clear()
        assert await tasks.run_event(app.state.sessionmaker, latest.id,
                                     batch=tasks.BATCH_SIZE) == "handled"
        assert broken.id not in set().union(*seen)

        # The broken event's own job, retried, takes nothing else on: it runs once, alone.
        await shop.send(client, "orders/create", order())
        seen.clear()
        with pytest.raises(RuntimeError):
            await tasks.run_event(app.state.sessionmaker, broken.id, batch=tasks.BATCH_SIZE)
        assert seen == [{broken.id}]
        async with app.state.sessionmaker() as session:
            assert (await session.get(WebhookEvent, broken.id)).attempts == 2
            statuses = [event.status for event in await rows_of(session, WebhookEvent,
                                                                 shop.account)]
            assert statuses.count("pending") == 2  # the broken one and the newest order

        monkeypatch.undo()
        await drain(app, database_url)
        async with app.state.sessionmaker() as session:
            stored = await rows_of(session, WebhookEvent, shop.account)
            assert {event.status for event in stored} == {"handled"}
            assert len(await rows_of(session, Conversion, shop.account)) == 6
            assert set((await job_statuses(session, stored)).values()) == {"succeeded"}


async def test_a_burst_through_the_real_worker_has_one_effect_per_delivery(
        database_url: str) -> None:
    """Orders, their payments and their refunds, sent at once in a random order and each
    twice, through four worker slots that batch them."""
    async with live_app(database_url) as (app, client):
        await drain(app, database_url)
        shop = await Shop.connect(client, await factories.merchant(client))
        placed = [order() for _ in range(40)]
        deliveries = [(topic, payload, str(uuid.uuid4())) for topic, payload in (
            *(("orders/create", p) for p in placed),
            *(("orders/paid", p | {"financial_status": "paid"}) for p in placed),
            *(("refunds/create", refund(p["id"])) for p in placed))]
        random.Random(5).shuffle(deliveries)  # noqa: S311 - a fixed order, not a secret

        async def send(topic: str, payload: dict[str, Any], webhook_id: str) -> None:
            body = json.dumps(payload).encode()
            response = await client.post("/webhooks/shopify", content=body,
                                         headers=shop.headers(topic, body,
                                                              webhook_id=webhook_id))
            assert response.status_code == 200

        await asyncio.gather(*(send(*delivery) for delivery in deliveries * 2))
        await drain(app, database_url, concurrency=4)

        async with app.state.sessionmaker() as session:
            events = await rows_of(session, WebhookEvent, shop.account)
            assert len(events) == len(deliveries)
            assert {(event.status, event.attempts) for event in events} == {("handled", 1)}
            assert set((await job_statuses(session, events)).values()) == {"succeeded"}
            made = await rows_of(session, Conversion, shop.account)
            assert sorted(c.order_id for c in made) == sorted(str(p["id"]) for p in placed)
            taken = await rows_of(session, ConversionAdjustment, shop.account)
            assert len(taken) == len(placed)
            assert {a.conversion_id for a in taken} == {c.id for c in made}
            # Jobs the worker ran count an attempt; jobs finished in another job's batch none.
            batched = await session.scalar(text(
                "SELECT count(*) FROM procrastinate_jobs WHERE attempts = 0"
                " AND status = 'succeeded' AND args->>'event_id' = ANY(:ids)"),
                {"ids": [str(event.id) for event in events]})
            assert 0 < batched < len(events)
