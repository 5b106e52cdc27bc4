"""The worker keeps the figures current: a click through the real redirect shows in the stats
once the periodic refresh has run on a real worker, which runs every 20 seconds."""

from __future__ import annotations

from datetime import UTC, datetime

import croniter

from skinstack.worker.queue import connected, run_worker
from tests.conftest import live_app
from tests.factories import BROWSER, eventually, linked_world


def test_the_refresh_runs_every_20_seconds(database_url: str) -> None:
    (task,) = [t for t in connected(database_url).periodic_registry.periodic_tasks.values()
               if t.task.name == "refresh_analytics"]
    runs = croniter.croniter(task.cron, datetime(2026, 12, 2, 12, 0, 5, tzinfo=UTC))
    assert [runs.get_next(datetime).strftime("%H:%M:%S") for _ in range(4)] == [
        "12:00:20", "12:00:40", "12:01:00", "12:01:20"]


async def test_a_click_shows_after_the_worker_refreshes(database_url: str) -> None:
    job_app = connected(database_url)
    async with live_app(database_url) as (app, client), job_app.open_async():
        world = await linked_world(client)
        creator = world["influencer"]
        answer = await client.get(f"/l/{world['link']['slug']}",
                                  headers={"User-Agent": BROWSER})
        assert answer.status_code == 302

        async def counted() -> bool:
            await job_app.configure_task("refresh_analytics").defer_async(timestamp=0)
            await run_worker(job_app, wait=False, sessionmaker=app.state.sessionmaker)
            figures = (await client.get("/api/v1/stats", headers=creator.headers)).json()
            return (figures["clicks"], figures["unique_clicks"]) == (1, 1)

        await eventually(counted, what="the click in the stats")


async def test_a_transaction_open_across_a_refresh_is_not_missed(database_url: str) -> None:
    """An order written in a transaction that began before a refresh and commits after it
    carries stamps older than that refresh: the next refresh still reads it (the horizon is
    the oldest open transaction's start, not the clock)."""
    import uuid

    import psycopg

    from skinstack.analytics import service
    from skinstack.db import libpq_url

    async with live_app(database_url) as (app, client):
        world = await linked_world(client)
        program_id = uuid.UUID(world["program"]["id"])
        influencer_id = uuid.UUID(world["influencer_id"])
        ordered_at = datetime(2026, 6, 1, 12, tzinfo=UTC)
        with psycopg.connect(libpq_url(database_url)) as late:
            merchant_id = late.execute("SELECT merchant_id FROM programs WHERE id = %s",
                                       (program_id,)).fetchone()[0]
            conversion_id = uuid.uuid4()
            late.execute(
                "INSERT INTO conversions (id, merchant_id, program_id, source, order_id,"
                " occurred_at, currency, subtotal, discounts, tax, shipping, total, line_items,"
                " discount_codes) VALUES (%s, %s, %s, 'shopify', %s, %s, 'USD', 5000, 0, 0, 0,"
                " 5000, '[]', '{}')",
                (conversion_id, merchant_id, program_id, str(conversion_id), ordered_at))
            late.execute(
                "INSERT INTO attributions (conversion_id, influencer_id, program_id, weight,"
                " model, match_type, confidence, reason) VALUES (%s, %s, %s, 1, 'last_click',"
                " 'sub_id', 1, 'test')", (conversion_id, influencer_id, program_id))
            for _ in range(2):  # two refreshes while the order's transaction is still open
                async with app.state.sessionmaker() as session:
                    await service.refresh(session)
                    await session.commit()
            late.commit()
        async with app.state.sessionmaker() as session:
            await service.refresh(session)
            await session.commit()
        figures = (await client.get("/api/v1/stats", headers=world["influencer"].headers,
                                    params={"from_date": "2026-06-01",
                                            "to_date": "2026-06-01"})).json()
        assert (figures["conversions"], figures["total_revenue"]) == (1, "50.00")
