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
