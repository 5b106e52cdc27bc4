"""The approval sweep: pending commissions past their program's approval delay are approved."""

from __future__ import annotations

import structlog
from procrastinate import JobContext

from skinstack.commissions import service
from skinstack.worker.queue import job

log = structlog.get_logger(__name__)

SWEEP_BATCH = 1000


@job(name="approve_due_commissions", queue="commissions", cron="*/10 * * * *",
     pass_context=True)
async def approve_due_commissions(context: JobContext, timestamp: int) -> None:
    """Every ten minutes, a batch at a time, each batch committed on its own."""
    sessionmaker = context.additional_context["sessionmaker"]
    total = 0
    while True:
        async with sessionmaker() as session:
            approved = await service.approve_due(session, limit=SWEEP_BATCH)
            await session.commit()
        total += approved
        if approved < SWEEP_BATCH:
            break
    if total:
        log.info("commissions_approved", count=total, scheduled_for=timestamp)
