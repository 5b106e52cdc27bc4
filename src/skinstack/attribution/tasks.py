"""The sweep for conversions left waiting: a periodic job that attributes them again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from procrastinate import JobContext

from skinstack.attribution import repository, service
from skinstack.commissions import service as commissions
from skinstack.worker.queue import job

log = structlog.get_logger(__name__)

SWEEP_BATCH = 1000
SWEEP_AFTER = timedelta(minutes=1)
"""A conversion this old and still unattributed is the sweep's: its own job has had its turn."""


@job(name="attribute_waiting", queue="attribution", cron="* * * * *", pass_context=True)
async def attribute_waiting(context: JobContext, timestamp: int) -> None:
    """Every minute: conversions whose sub-id click had not arrived (or whose job failed
    before attribution) are attributed again, a batch at a time."""
    sessionmaker = context.additional_context["sessionmaker"]
    async with sessionmaker() as session:
        waiting = await repository.waiting_conversions(
            session, before=datetime.now(UTC) - SWEEP_AFTER, limit=SWEEP_BATCH)
        if not waiting:
            return
        result = await service.attribute(session, waiting)
        await commissions.settle(session, result.changed)
        await session.commit()
    log.info("attribution_sweep", conversions=len(waiting), attributed=result.attributed,
             unattributed=result.unattributed, waiting=result.waiting,
             scheduled_for=timestamp)
