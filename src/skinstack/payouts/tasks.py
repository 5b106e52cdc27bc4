"""The payouts' schedule: last month's batch on the 1st (when PAYOUT_SCHEDULE_ENABLED), and
PayPal items followed until they are final."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import structlog
from procrastinate import JobContext

from skinstack.config import get_settings
from skinstack.payouts import repository, sender, service
from skinstack.worker.queue import job

log = structlog.get_logger(__name__)


def last_month(today: date) -> tuple[date, date]:
    """The calendar month before `today`'s: its first and last days."""
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


@job(name="make_monthly_payout_batch", queue="payouts", cron="0 3 1 * *", pass_context=True)
async def make_monthly_payout_batch(context: JobContext, timestamp: int) -> None:
    """At 03:00 UTC on the 1st: last month's batch (made and sent), unless the schedule is off
    or that month has a batch already."""
    settings = get_settings()
    if not settings.payout_schedule_enabled:
        return
    start, end = last_month(datetime.fromtimestamp(timestamp, UTC).date())
    sessionmaker = context.additional_context["sessionmaker"]
    async with sessionmaker() as session:
        if await repository.batch_for_period(session, start, end) is not None:
            return
        batch, plan = await service.create_batch(session, period_start=start, period_end=end,
                                                 settings=settings, by=None)
        await session.commit()
    assert batch is not None
    log.info("payout_batch_made", batch_id=str(batch.id), payouts=len(plan.payouts),
             rolled_over=len(plan.rolled_over))
    async with sender.Providers.from_settings(settings) as providers:
        report = await sender.send_batch(sessionmaker, batch.id, providers=providers)
    log.info("payout_batch_sent", batch_id=str(batch.id), results=dict(report.counts))


@job(name="follow_payouts", queue="payouts", cron="*/10 * * * *", pass_context=True)
async def follow_payouts(context: JobContext, timestamp: int) -> None:
    """Every ten minutes: PayPal's word on the items of batches not completed yet (webhooks
    usually arrive first; this catches any that do not)."""
    sessionmaker = context.additional_context["sessionmaker"]
    async with sessionmaker() as session:
        batches = await repository.batches_to_follow(session)
    if not batches:
        return
    async with sender.Providers.from_settings(get_settings()) as providers:
        for batch_id in batches:
            moved = await sender.follow_batch(sessionmaker, batch_id, providers=providers,
                                              now=lambda: datetime.now(UTC))
            if moved:
                log.info("payouts_followed", batch_id=str(batch_id), moved=moved)
