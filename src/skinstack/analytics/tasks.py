"""The analytics refresh: every 20 seconds, so a click or an order shows within a minute."""

from __future__ import annotations

import structlog
from procrastinate import JobContext

from skinstack.analytics import service
from skinstack.worker.queue import job

log = structlog.get_logger(__name__)


@job(name="refresh_analytics", queue="analytics", cron="* * * * * */20", pass_context=True)
async def refresh_analytics(context: JobContext, timestamp: int) -> None:
    """Brings the rollups up to date (idempotent; a second run at once waits for the first)."""
    sessionmaker = context.additional_context["sessionmaker"]
    async with sessionmaker() as session:
        done = await service.refresh(session)
        await session.commit()
    log.info("analytics_refreshed", money_buckets=done.money_buckets,
             clicks_from=done.click_buckets_from.isoformat(), scheduled_for=timestamp)
